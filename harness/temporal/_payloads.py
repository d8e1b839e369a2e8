"""Large payloads kept out of Temporal's history, by reference (the claim-check pattern).

A Temporal server refuses a payload over 2 MB (and warns at 512 KB), and a workflow's
whole history has a size limit too. A trial's payloads grow with the trial: the
workflow's result carries its whole event log, a continue-as-new carries the log so far,
a model call's activity carries the conversation so far and a tool may return a large
result. ``BlobCodec`` is the data converter's codec in every process that talks to the
server (``harness run``, ``harness worker``, ``harness approve``): it writes each payload
over ``THRESHOLD`` bytes to a store all those processes share, a folder of files named
by the SHA-256 of their bytes, and puts in its place a reference of about a hundred
bytes: its own encoding, the digest and the size. Decoding reads the file back and
checks its digest, so a missing or damaged file is an error naming the store and the
digest, never a wrong value.

Content addressing is what makes the store safe to share: two workers writing the same
payload write the same bytes under the same name (each atomically, so a reader sees a
whole file or none), a reference never goes stale while its file exists, and files no
run in flight refers to may be deleted at any time (a finished trial's log lives in its
run folder, not on the server).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from harness._files import read_regular, write_atomic
from harness.errors import ConfigError, PayloadStoreError, UsageError

THRESHOLD = 128 * 1024
"""Bytes of a serialized payload above which it goes to the store. A quarter of the
512 KB at which the server starts warning, so that a workflow task that completes
several effects at once (sub-agents side by side), each just under it, stays far below
the 2 MB a payload may hold and the 4 MB of a gRPC message; and some thirty times an
ordinary effect (a model reply or a tool result of a few kilobytes), so that ordinary
trials never touch the store and their histories are what they were without it."""

ENCODING = b"harness/payload-ref"
"""The ``encoding`` metadata of a reference: no other converter claims it, so a process
without this codec fails on it loudly instead of handing on the reference as data."""

_DIGEST = re.compile(r"[0-9a-f]{64}")


def default_store() -> Path:
    """The store of a process given no ``--payload-store``: a per-user cache folder, so
    the processes of one machine share it with no flag (``$XDG_CACHE_HOME/harness/
    temporal-payloads``, ``~/.cache/harness/temporal-payloads`` without it)."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "harness" / "temporal-payloads"


def check_store(store: Path) -> Path:
    """``store`` made absolute (the form the worker's start line names), or a
    ``UsageError`` if it names something that is not a folder. A missing folder is made
    on the first write, so a process that only reads never creates one."""
    store = store.expanduser().absolute()
    if store.exists() and not store.is_dir():
        raise UsageError(f"--payload-store {store}: not a folder")
    return store


def converter(store: Path | None = None, threshold: int = THRESHOLD) -> DataConverter:
    """The SDK's default converter, with large payloads kept in ``store`` by reference."""
    return DataConverter(payload_codec=BlobCodec(store or default_store(), threshold))


class BlobCodec(PayloadCodec):
    """Payloads over ``threshold`` serialized bytes to and from the folder ``store``."""

    def __init__(self, store: Path, threshold: int = THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [p if p.ByteSize() <= self.threshold else await asyncio.to_thread(self.put, p)
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await asyncio.to_thread(self.get, p) if p.metadata.get("encoding") == ENCODING
                else p for p in payloads]

    def put(self, payload: Payload) -> Payload:
        """Store ``payload`` (once: a file of its name and size is already it) and answer
        its reference."""
        raw = payload.SerializeToString(deterministic=True)
        digest = hashlib.sha256(raw).hexdigest()
        path = self.store / digest
        try:
            if not (path.is_file() and path.stat().st_size == len(raw)):
                write_atomic(path, raw)
        except OSError as err:
            raise PayloadStoreError(f"payload store {self.store}: cannot write payload "
                                    f"{digest}: {err.strerror or err}") from None
        ref = json.dumps({"sha256": digest, "size": len(raw)}, sort_keys=True,
                         separators=(",", ":"))
        return Payload(metadata={"encoding": ENCODING}, data=ref.encode())

    def get(self, ref: Payload) -> Payload:
        """The payload ``ref`` stands for, read from the store and checked against its
        digest."""
        try:
            fields = json.loads(ref.data)
            digest, size = fields["sha256"], fields["size"]
            if not (isinstance(digest, str) and _DIGEST.fullmatch(digest)
                    and isinstance(size, int) and size >= 0):
                raise ValueError(fields)
        except (ValueError, KeyError, TypeError):
            raise PayloadStoreError(f"payload store {self.store}: a reference that names "
                                    f"no payload: {ref.data[:200]!r}") from None
        where = f"payload store {self.store}: payload {digest}"
        path = self.store / digest
        if not path.exists():
            raise PayloadStoreError(
                f"{where} is missing (was the store cleaned while a run was in flight, or "
                "do the run and its workers not share one --payload-store?)")
        try:
            raw = read_regular(path, limit=size, what="a stored payload")
        except ConfigError as err:
            raise PayloadStoreError(f"{where} is unreadable: {err}") from None
        if len(raw) != size or hashlib.sha256(raw).hexdigest() != digest:
            raise PayloadStoreError(f"{where} is corrupt: its bytes do not hash to its name")
        payload = Payload()
        payload.ParseFromString(raw)
        return payload
