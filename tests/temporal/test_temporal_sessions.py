"""A worker's sessions refuse to be used out of step with the trial's history.

A workflow task that times out after some of its local activities ran (their markers
lost) may come back to the same worker: its session has run effects the history does not
know. Used again, that world would be ahead of the trial; the session must be dropped and
rebuilt instead (the workflow reopens it on ``SessionLost``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from harness.temporal._activities import Sessions, _Session


class _Client:
    closed = False

    async def aclose(self) -> None:
        self.closed = True


def _held(done: int) -> tuple[Sessions, _Client]:
    sessions = Sessions("own")
    client = _Client()
    s: Any = _Session.__new__(_Session)
    s.client, s.done = client, done
    sessions._sessions["wf/run/0"] = s
    return sessions, client


def test_a_session_in_step_with_the_history_is_used() -> None:
    sessions, client = _held(3)
    got = asyncio.run(sessions._session({"session": "wf/run/0", "seq": 3}))
    assert got.done == 3 and not client.closed and len(sessions) == 1


@pytest.mark.parametrize("seq", [0, 2, 4])
def test_a_session_out_of_step_is_dropped_and_reported_lost(seq: int) -> None:
    sessions, client = _held(3)
    with pytest.raises(ApplicationError) as err:
        asyncio.run(sessions._session({"session": "wf/run/0", "seq": seq}))
    assert err.value.type == "SessionLost" and err.value.non_retryable
    assert client.closed and len(sessions) == 0


def test_a_session_this_worker_never_held_is_lost() -> None:
    with pytest.raises(ApplicationError) as err:
        asyncio.run(Sessions("own")._session({"session": "elsewhere", "seq": 0}))
    assert err.value.type == "SessionLost"
