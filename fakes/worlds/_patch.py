"""Unified diffs: parse and apply, forgiving the way models write them.

Hunk line counts are not trusted (models often get them wrong): a hunk runs until
the next ``@@``, file header or ``diff`` line. A hunk's old lines (context and
removals) must appear in the file exactly; they are looked for nearest the stated
line number, at or after the previous hunk. ``/dev/null`` creates or deletes a
file. A file keeps whether it ended with a newline; a new file ends with one
unless the patch says ``\\ No newline at end of file``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__test__ = False

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


class PatchError(ValueError):
    """The patch cannot be parsed or does not apply; the message says where."""


@dataclass(frozen=True)
class Hunk:
    header: str
    old_start: int | None
    """1-based line the hunk says it starts at, if the header had numbers."""
    lines: tuple[str, ...]
    """Body lines, each starting with ``' '``, ``'-'`` or ``'+'``."""
    no_newline_at_end: bool = False

    @property
    def old(self) -> list[str]:
        return [ln[1:] for ln in self.lines if ln[0] in " -"]

    @property
    def new(self) -> list[str]:
        return [ln[1:] for ln in self.lines if ln[0] in " +"]


@dataclass(frozen=True)
class FilePatch:
    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        path = self.new_path or self.old_path
        assert path is not None
        return path


def _path(raw: str) -> str | None:
    raw = raw.split("\t", 1)[0].strip()
    if raw == "/dev/null":
        return None
    if raw.startswith(("a/", "b/")):
        raw = raw[2:]
    return raw.lstrip("/")


def _is_header(lines: list[str], i: int) -> bool:
    return (lines[i].startswith("--- ") and i + 1 < len(lines)
            and lines[i + 1].startswith("+++ "))


def parse_patch(text: str) -> list[FilePatch]:
    """Every file a unified diff touches, in order. Raises ``PatchError``."""
    lines = text.splitlines()
    out: list[FilePatch] = []
    i = 0
    while i < len(lines):
        if not _is_header(lines, i):
            i += 1
            continue
        old, new = _path(lines[i][4:]), _path(lines[i + 1][4:])
        if old is None and new is None:
            raise PatchError(f"line {i + 1}: both sides of the file header are /dev/null")
        i += 2
        hunks: list[Hunk] = []
        while i < len(lines) and lines[i].startswith("@@"):
            header = lines[i]
            m = _HUNK.match(header)
            start = int(m.group(1)) if m else None
            i += 1
            body: list[str] = []
            no_newline = False
            while i < len(lines):
                ln = lines[i]
                if ln.startswith(("@@", "diff ")) or _is_header(lines, i):
                    break
                if ln.startswith("\\"):
                    no_newline = bool(body) and body[-1][:1] in " +"
                elif ln == "" or ln[0] in " -+":
                    body.append(ln)
                else:
                    break
                i += 1
            while body and body[-1] == "":
                body.pop()  # blank lines after a hunk separate it; dropping context is safe
            body = [ln or " " for ln in body]  # an editor may strip an empty context line
            if not body:
                raise PatchError(f"hunk {header!r} in {new or old} is empty")
            hunks.append(Hunk(header, start, tuple(body), no_newline))
        if not hunks:
            raise PatchError(f"file header for {new or old} has no hunks")
        out.append(FilePatch(old, new, tuple(hunks)))
    if not out:
        raise PatchError("no file headers ('--- a/path' then '+++ b/path') found in the patch")
    return out


def _find(lines: list[str], block: list[str], hint: int, floor: int) -> int | None:
    if not block:
        return max(floor, min(hint, len(lines)))
    starts = [s for s in range(floor, len(lines) - len(block) + 1)
              if lines[s:s + len(block)] == block]
    return min(starts, key=lambda s: (abs(s - hint), s)) if starts else None


def _apply_file(text: str | None, fp: FilePatch) -> str | None:
    if fp.old_path is None:
        if text is not None:
            raise PatchError(f"{fp.path}: the patch creates it, but it already exists")
        lines: list[str] = []
        newline = True
    elif text is None:
        raise PatchError(f"{fp.old_path}: no such file")
    else:
        lines = text.split("\n") if text else []
        newline = text.endswith("\n") or not text
        if text.endswith("\n"):
            lines.pop()
    floor = shift = 0  # shift: lines earlier hunks added, so old numbers move
    for h in fp.hunks:
        old = h.old
        # "-N,0" inserts after line N; otherwise the hunk starts at line N
        hint = floor if h.old_start is None else h.old_start - (1 if old else 0) + shift
        at = _find(lines, old, hint, floor)
        if at is None:
            first = old[0] if old else ""
            raise PatchError(f"{fp.path}: hunk {h.header!r} does not apply: its context and "
                             f"removed lines (starting {first!r}) are not in the file")
        lines[at:at + len(old)] = h.new
        shift += len(h.new) - len(old)
        floor = at + len(h.new)
        if h is fp.hunks[-1] and h.no_newline_at_end and at + len(h.new) == len(lines):
            newline = False
    if fp.new_path is None:
        return None
    return "\n".join(lines) + ("\n" if newline and lines else "")


def apply_patch(files: Mapping[str, str], patch: str | list[FilePatch]) -> dict[str, str]:
    """``files`` with ``patch`` applied: all of it or, on ``PatchError``, none of it."""
    out = dict(files)
    for fp in parse_patch(patch) if isinstance(patch, str) else patch:
        result = _apply_file(out.get(fp.old_path if fp.old_path is not None else fp.path), fp)
        if fp.old_path is not None and fp.old_path != fp.new_path:
            out.pop(fp.old_path, None)
        if result is None:
            out.pop(fp.path, None)
        else:
            out[fp.path] = result
    return out


def patched_paths(patch: str) -> list[str]:
    return [fp.path for fp in parse_patch(patch)]
