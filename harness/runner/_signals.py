"""SIGTERM stops a run exactly as Ctrl-C does.

CI ends a job with SIGTERM. Left to its default, the signal kills the process where it
stands: no ``finally`` runs, so workers are not ended and ``trials.jsonl`` is not
synced. Instead, while a run is going, SIGTERM calls whatever SIGINT would call (the
event loop's handler, which cancels the trials; or Python's, which raises
``KeyboardInterrupt``), so the same cleanup runs; the interruption then surfaces as
``Terminated``, which the command line turns into exit status 143 (128 + SIGTERM, what
a shell reports for a process SIGTERM ended). What the run leaves is what Ctrl-C
leaves: whole lines, and a run that ``--resume`` continues.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The run was stopped by SIGTERM."""

    exit_code = 128 + int(signal.SIGTERM)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM interrupts as SIGINT does and surfaces as ``Terminated``.

    Signal handlers belong to the main thread: elsewhere this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job) or not Python's: interrupt all the same
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        if received:
            raise Terminated from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
