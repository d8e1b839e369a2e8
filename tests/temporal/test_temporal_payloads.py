"""Large payloads kept out of Temporal's history by reference: the codec on its own (round
trip, the threshold's boundary, a missing or damaged file), then a trial whose payloads
are over the threshold on a real server, with the local backend's line."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bulky_world import scenario
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporal_support import Server, harness_cmd, start_worker, stop, wait_ready
from temporalio.api.common.v1 import Payload

from harness.errors import PayloadStoreError
from harness.temporal._payloads import ENCODING, THRESHOLD, BlobCodec, converter, default_store


def _payload(n: int, encoding: bytes = b"binary/plain") -> Payload:
    return Payload(metadata={"encoding": encoding}, data=bytes(i % 251 for i in range(n)))


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _blobs(store: Path) -> list[Path]:
    return sorted(store.iterdir()) if store.exists() else []


def test_a_payload_at_the_threshold_passes_one_byte_over_goes_to_the_store(
        tmp_path: Path) -> None:
    p = _payload(1000)
    size = p.ByteSize()
    (same,) = _run(BlobCodec(tmp_path, threshold=size).encode([p]))
    assert same == p and _blobs(tmp_path) == []
    (ref,) = _run(BlobCodec(tmp_path, threshold=size - 1).encode([p]))
    assert ref.metadata["encoding"] == ENCODING and ref.ByteSize() < 200
    (blob,) = _blobs(tmp_path)
    # the file is named by the SHA-256 of its bytes, and the reference names both
    assert blob.name == hashlib.sha256(blob.read_bytes()).hexdigest()
    assert json.loads(ref.data) == {"sha256": blob.name, "size": blob.stat().st_size}
    assert _run(BlobCodec(tmp_path, threshold=size - 1).decode([ref])) == [p]


def test_small_payloads_are_untouched_and_write_nothing(tmp_path: Path) -> None:
    small = [_payload(n) for n in (0, 10, 4000)]
    encoded = _run(BlobCodec(tmp_path / "store").encode(small))
    assert [e.SerializeToString() for e in encoded] == [p.SerializeToString() for p in small]
    assert not (tmp_path / "store").exists()


def test_the_same_payload_twice_is_one_file_and_the_same_reference(tmp_path: Path) -> None:
    p = _payload(THRESHOLD + 1)
    a = _run(BlobCodec(tmp_path).encode([p]))
    b = _run(BlobCodec(tmp_path).encode([p]))
    assert a == b and len(_blobs(tmp_path)) == 1


def test_a_missing_file_is_an_error_naming_the_store_and_the_digest(tmp_path: Path) -> None:
    codec = BlobCodec(tmp_path)
    (ref,) = _run(codec.encode([_payload(THRESHOLD + 1)]))
    (blob,) = _blobs(tmp_path)
    blob.unlink()
    with pytest.raises(PayloadStoreError, match="missing") as err:
        _run(codec.decode([ref]))
    assert str(tmp_path) in str(err.value) and blob.name in str(err.value)


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_a_damaged_file_is_an_error_never_a_wrong_value(tmp_path: Path, damage: str) -> None:
    codec = BlobCodec(tmp_path)
    (ref,) = _run(codec.encode([_payload(THRESHOLD + 1)]))
    (blob,) = _blobs(tmp_path)
    raw = bytearray(blob.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 1
    blob.write_bytes({"flip": bytes(raw), "truncate": bytes(raw[:-1]),
                      "extend": bytes(raw) + b"\0"}[damage])
    with pytest.raises(PayloadStoreError, match=blob.name) as err:
        _run(codec.decode([ref]))
    assert str(tmp_path) in str(err.value)


def test_a_reference_that_names_no_payload_is_an_error(tmp_path: Path) -> None:
    bad = Payload(metadata={"encoding": ENCODING}, data=b'{"sha256": "../../etc/passwd"}')
    with pytest.raises(PayloadStoreError, match="names no payload"):
        _run(BlobCodec(tmp_path).decode([bad]))


def test_the_data_converter_round_trips_a_large_value_through_the_store(tmp_path: Path) -> None:
    value = {"records": [["tool_result", "x" * 1000]] * 200}
    dc = converter(tmp_path)
    (encoded,) = _run(dc.encode([value]))
    assert encoded.metadata["encoding"] == ENCODING and len(_blobs(tmp_path)) == 1
    assert _run(dc.decode([encoded], [dict])) == [value]


def test_the_default_store_is_the_per_user_cache(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_store() == tmp_path / "harness" / "temporal-payloads"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the spec wants absolute
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store() == tmp_path / "home" / ".cache" / "harness" / "temporal-payloads"


_payloads = st.lists(st.builds(
    lambda meta, data: Payload(metadata=meta, data=data),
    st.dictionaries(st.text(max_size=8), st.binary(max_size=16), max_size=3),
    st.binary(max_size=300)), max_size=5)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=_payloads, threshold=st.integers(0, 320))
def test_encode_then_decode_gives_back_every_payload(tmp_path: Path, payloads: list[Payload],
                                                     threshold: int) -> None:
    codec = BlobCodec(tmp_path, threshold)
    encoded = _run(codec.encode(payloads))
    assert _run(codec.decode(encoded)) == payloads
    for p, e in zip(payloads, encoded, strict=True):
        stored = e.metadata.get("encoding") == ENCODING
        assert stored == (p.ByteSize() > threshold)
        assert e == p or stored


# -- on a real server ---------------------------------------------------------------------


def _payloads_in(msg: Message) -> Iterator[Payload]:
    """Every ``Payload`` anywhere in a history (inputs, results, markers, headers, memos)."""
    if isinstance(msg, Payload):
        yield msg
        return
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [v for v in value.values() if isinstance(v, Message)]
        else:
            items = [value] if isinstance(value, Message) else list(value)
        for item in items:
            yield from _payloads_in(item)


@pytest.mark.slow
def test_a_trial_with_large_payloads_keeps_them_in_the_store_and_its_line(
        tmp_path: Path, temporal_server: Server) -> None:
    """One trial whose tool returns 240 KB, continuing as new on the way (every few effects): the history
    holds references only, the store their files, and the line is the local backend's."""
    path = scenario(tmp_path / "scenario")
    store, queue, log = tmp_path / "store", f"payloads-{uuid.uuid4().hex[:8]}", tmp_path / "w.log"
    worker = start_worker(temporal_server.address, queue, log, "--payload-store", store)
    try:
        wait_ready(worker, log)
        assert f"payload store {store}" in log.read_text()
        local = harness_cmd("run", path, "--workers", "1", "--out", tmp_path / "local")
        run = harness_cmd("run", path, "--out", tmp_path / "temporal", "--backend", "temporal",
                          "--temporal-address", temporal_server.address, "--task-queue", queue,
                          "--payload-store", store, "--history-limit", "5")
    finally:
        stop(worker)
    assert local.returncode == 0, local.stderr
    assert run.returncode == 0, run.stderr
    line = (tmp_path / "local" / "trials.jsonl").read_bytes()
    assert b'"goal_met":true' in line
    assert (tmp_path / "temporal" / "trials.jsonl").read_bytes() == line
    histories, result_ref = asyncio.run(_history(temporal_server.address,
                                                 tmp_path / "temporal", store))
    payloads = [p for h in histories for event in h.events for p in _payloads_in(event)]
    refs = [json.loads(p.data) for p in payloads if p.metadata.get("encoding") == ENCODING]
    # over the chain of runs: the tool's result, the log carried into each new run and the
    # trial's result went by reference
    assert len(histories) >= 2 and len(refs) >= 3
    assert max(p.ByteSize() for p in payloads) <= THRESHOLD
    for ref in refs:
        blob = store / ref["sha256"]
        assert blob.stat().st_size == ref["size"] > THRESHOLD
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == ref["sha256"]
    # a store that lost the result's file: the client says which, it never gets a value
    (store / result_ref).unlink()
    with pytest.raises(PayloadStoreError, match=result_ref):
        asyncio.run(_result(temporal_server.address, tmp_path / "temporal", store))


async def _history(address: str, out: Path, store: Path) -> tuple[list[Any], str]:
    """The histories of the trial's chain of runs, the last one last; and the digest of
    the trial's result."""
    from harness.temporal._connect import connect

    client = await connect(address, "default", payload_store=store)
    uid = json.loads((out / "temporal.json").read_text())["run_uid"]
    wid = f"{uid}/bulky-report/configured/none/0"
    last = client.get_workflow_handle(wid)
    latest = (await last.describe()).run_id
    runs = [wf.run_id async for wf in client.list_workflows(f'WorkflowId = "{wid}"')]
    earlier = [await client.get_workflow_handle(wid, run_id=r).fetch_history()
               for r in runs if r != latest]
    history = await last.fetch_history()
    # the trial continued as new (the limit is 5 events): this run began with the log so
    # far, carried over through the store
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id
    assert started.input.payloads[0].metadata["encoding"] == ENCODING
    done = history.events[-1].workflow_execution_completed_event_attributes
    (result,) = done.result.payloads
    assert result.metadata["encoding"] == ENCODING
    return [*earlier, history], str(json.loads(result.data)["sha256"])


async def _result(address: str, out: Path, store: Path) -> Any:
    from harness.temporal._connect import connect

    client = await connect(address, "default", payload_store=store)
    uid = json.loads((out / "temporal.json").read_text())["run_uid"]
    return await client.get_workflow_handle(f"{uid}/bulky-report/configured/none/0").result()


@pytest.mark.slow
def test_a_payload_store_that_is_a_file_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    r = harness_cmd("worker", "--temporal-address", "127.0.0.1:1", "--payload-store",
                    tmp_path / "file")
    assert r.returncode == 2 and "--payload-store" in r.stderr and "Traceback" not in r.stderr
    r = harness_cmd("run", "scenarios", "--payload-store", tmp_path / "store")
    assert r.returncode == 2 and "is for --backend temporal" in r.stderr
