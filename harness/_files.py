"""Files in and out: read only what is safe to read; write so that a reader sees the old
version or the new one, never half of one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from harness.errors import ConfigError

#: What ``os.stat`` calls each kind of file that is not a regular one.
_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str | None:
    """``None`` for a regular file, else what it is instead."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")


def read_regular(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, or ``ConfigError``.

    A FIFO or a device would block the reader or never end, and a huge file would be read
    whole into memory: both are refused before a byte is read. The file is opened without
    blocking and checked again through its descriptor, so a path swapped for a FIFO between
    the two looks cannot hang the reader either; a file that grows past ``limit`` while it
    is read is cut off at ``limit + 1`` bytes and refused.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=name) from None
    _check(st, name, limit, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=name) from None
    try:
        _check(os.fstat(fd), name, limit, what)
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=name) from None
    finally:
        os.close(fd)
    if got > limit:
        raise ConfigError(f"more than {limit:,} bytes, the most {what} may hold", file=name)
    return b"".join(chunks)


def _check(st: os.stat_result, name: str, limit: int, what: str) -> None:
    kind = _kind(st.st_mode)
    if kind is not None:
        raise ConfigError(f"{kind}, not a regular file: {what} must be a regular file",
                          file=name)
    if st.st_size > limit:
        raise ConfigError(f"{st.st_size:,} bytes, over the {limit:,} bytes {what} may hold",
                          file=name)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write to a temporary file in the same folder, fsync it, then rename it into place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp makes the file private (0600); results are for whoever reads the folder
            os.fchmod(fh.fileno(), 0o644)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
