"""Durable event logs: SQLite (WAL) by default, in-memory for tests."""

from harness.protocols import Recorder
from harness.store._codec import decode, encode, encode_intent
from harness.store._memory import MemoryRecorder
from harness.store._recorder import INTENT, SCHEMA_VERSION, Record
from harness.store._sqlite import SQLiteRecorder

__all__ = [
    "INTENT",
    "SCHEMA_VERSION",
    "MemoryRecorder",
    "Record",
    "Recorder",
    "SQLiteRecorder",
    "decode",
    "encode",
    "encode_intent",
]
