"""Cassettes: recorded model calls, and the transports that write and replay them.

A cassette is readable JSON (indented, keys sorted) holding, per call, the
canonical request, its hash and the HTTP answer (status, a few safe headers, the
JSON body). Request headers are never stored, and response headers only from an
allow-list, so an API key or auth header cannot end up in a file someone commits.

Replay matches on the hash of the canonical request. A request the cassette does
not hold is a loud ``ReplayMiss`` naming the request and showing how it differs
from the nearest recorded one: falling back to anything else would turn a changed
prompt into a silently different run.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._files import write_atomic
from harness.errors import ConfigError, UsageError
from harness.llm._canonical import (
    canonical_from_body,
    hash_canonical,
    last_message_preview,
)
from harness.llm._wire import LATENCY_HEADER, dumps, request_body
from harness.protocols import Clock

CASSETTE_VERSION: Literal[1] = 1

#: Response headers worth keeping: they change how the client reacts (or, for the
#: simulated latency, when the answer arrives). Nothing else is written, so
#: credentials and account identifiers never reach the file.
SAFE_RESPONSE_HEADERS = ("content-type", "retry-after", "retry-after-ms", "x-should-retry",
                         LATENCY_HEADER)


class RecordedResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    """The decoded JSON body (``None`` with ``body_text`` set when it was not JSON)."""
    body_text: str | None = None


class Interaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    request: dict[str, Any]
    response: RecordedResponse


class Cassette(BaseModel):
    """A list of recorded interactions. Field order is the file format."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = CASSETTE_VERSION
    recorded_from: Literal["simulated", "replay", "live"] | None = None
    """What answered the calls when they were recorded: ``simulated`` cassettes hold the
    seeded model simulation's answers (they test the agent's architecture, not a real
    model), ``live`` ones a real model's. Absent in cassettes written before the label."""
    interactions: list[Interaction] = Field(default_factory=list)

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        if data["recorded_from"] is None:
            del data["recorded_from"]
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class ReplayMiss(UsageError):
    """The cassette holds no answer for this request."""

    def __init__(
        self, *, request_hash: str, model: str, last_message: str, source: str,
        nearest_hash: str | None, diff: str,
    ) -> None:
        self.request_hash = request_hash
        self.model = model
        self.last_message = last_message
        self.nearest_hash = nearest_hash
        self.diff = diff
        lines = [
            f"replay miss: cassette {source} has no answer for request {request_hash[:16]} "
            f"(model {model!r})",
            f"  last message: {last_message}",
        ]
        if nearest_hash is None:
            lines.append("  the cassette holds no requests at all")
        else:
            lines.append(f"  nearest recorded request {nearest_hash[:16]}; difference "
                         "(- recorded, + this request):")
            lines.extend("    " + line for line in diff.splitlines())
        lines.append("  re-record the cassette (transport='live', record_to=...) if the change "
                     "is intended")
        super().__init__("\n".join(lines))


# -- reading and writing ----------------------------------------------------------------------


def parse_cassette(text: str, *, origin: str = "<string>") -> Cassette:
    """Validate a cassette's text, including that every stored hash matches its request."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"cassette is not valid JSON: {exc.msg}", file=origin,
                          line=exc.lineno) from None
    try:
        cassette = Cassette.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ConfigError(f"not a cassette: {first['msg']}", file=origin, field=field) from None
    for i, item in enumerate(cassette.interactions):
        if hash_canonical(canonical_from_body(item.request)) != item.hash:
            raise ConfigError(
                "stored hash does not match the stored request (edited by hand, or written "
                "by an incompatible version); re-record it", file=origin,
                field=f"interactions.{i}.hash",
            )
    return cassette


_RECORD_HINT = "record it first (harness run --record, or make_client(record_to=...))"

_cache: dict[str, tuple[tuple[int, int], _Index]] = {}


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read and validate a cassette file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no cassette {p}: {_RECORD_HINT}") from None
    return parse_cassette(text, origin=str(p))


def save_cassette(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write atomically (temporary file in the same folder, fsync, rename)."""
    write_atomic(path, cassette.to_json())


# -- replay -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes


class _Index:
    """A cassette compiled for serving: answers pre-encoded, keyed by hash."""

    def __init__(self, cassette: Cassette) -> None:
        self.answers: dict[str, list[_Answer]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        for item in cassette.interactions:
            r = item.response
            content = r.body_text.encode() if r.body_text is not None else dumps(r.body)
            headers = dict(r.headers)
            headers.setdefault("content-type", "application/json")
            self.answers.setdefault(item.hash, []).append(
                _Answer(r.status, tuple(headers.items()), content)
            )
            self.requests.setdefault(item.hash, item.request)
        self.size = len(cassette.interactions)


def _compiled(path: Path) -> _Index:
    """Parsed cassettes are cached per file version, so each trial's replay is cheap."""
    key = str(path.resolve())
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no cassette {path}: {_RECORD_HINT}") from None
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    index = _Index(load_cassette(path))
    _cache[key] = (stamp, index)
    return index


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers from a cassette; repeated identical requests get the recorded answers in
    order (then the last one again), so a recorded retry replays as a retry.

    With a ``clock``, an answer recorded with a simulated latency spends that latency
    again, so a replayed run keeps the recorded run's virtual times (and with them the
    order in which parallel answers arrive, hence the very same requests).
    """

    def __init__(
        self, cassette: Cassette | str | os.PathLike[str], *, clock: Clock | None = None
    ) -> None:
        self.clock = clock
        if isinstance(cassette, Cassette):
            self._index = _Index(cassette)
            self.source = "<memory>"
        else:
            self._index = _compiled(Path(cassette))
            self.source = str(cassette)
        self._served: dict[str, int] = {}
        self.calls = 0
        self.last_request: dict[str, Any] | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        body = request_body(request)
        self.calls += 1
        self.last_request = body
        canonical = canonical_from_body(body)
        digest = hash_canonical(canonical)
        answers = self._index.answers.get(digest)
        if answers is None:
            raise self._miss(canonical, digest)
        n = self._served.get(digest, 0)
        self._served[digest] = n + 1
        answer = answers[min(n, len(answers) - 1)]
        if self.clock is not None:
            await self.clock.sleep(_latency(answer.headers))
        return httpx2.Response(answer.status, headers=list(answer.headers), content=answer.content)

    def _miss(self, canonical: Mapping[str, Any], digest: str) -> ReplayMiss:
        nearest, diff = _nearest(canonical, self._index.requests)
        return ReplayMiss(
            request_hash=digest, model=str(canonical.get("model")),
            last_message=last_message_preview(canonical), source=self.source,
            nearest_hash=nearest, diff=diff,
        )


def _latency(headers: tuple[tuple[str, str], ...]) -> float:
    for name, value in headers:
        if name.lower() == LATENCY_HEADER:
            try:
                return max(0.0, float(value))
            except ValueError:
                return 0.0
    return 0.0


def _pretty(canonical: Mapping[str, Any]) -> list[str]:
    return json.dumps(canonical, indent=1, sort_keys=True, ensure_ascii=False).splitlines()


def _nearest(
    canonical: Mapping[str, Any], recorded: Mapping[str, dict[str, Any]], max_lines: int = 60
) -> tuple[str | None, str]:
    """The recorded request most like this one, and a unified diff against it."""
    if not recorded:
        return None, ""
    mine = _pretty(canonical)
    n_messages = len(canonical.get("messages") or ())

    def closeness(item: tuple[str, dict[str, Any]]) -> tuple[int, int]:
        req = item[1]
        return (0 if req.get("model") == canonical.get("model") else 1,
                abs(len(req.get("messages") or ()) - n_messages))

    candidates = sorted(recorded.items(), key=closeness)[:50]
    best_hash, best_lines = candidates[0][0], _pretty(candidates[0][1])
    best_score = (-1.0, -1.0)
    for digest, req in candidates:
        lines = _pretty(req)
        matcher = difflib.SequenceMatcher(None, lines, mine, autojunk=False)
        # Whole lines first; among equally close requests, the one whose changed lines
        # differ least character by character.
        old_text, new_text = [], []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                old_text.extend(lines[i1:i2])
                new_text.extend(mine[j1:j2])
        chars = difflib.SequenceMatcher(None, "\n".join(old_text), "\n".join(new_text)).ratio()
        score = (matcher.ratio(), chars)
        if score > best_score:
            best_hash, best_lines, best_score = digest, lines, score
    diff = list(difflib.unified_diff(best_lines, mine, "recorded", "request", n=2, lineterm=""))
    if len(diff) > max_lines:
        diff = [*diff[:max_lines], f"... ({len(diff) - max_lines} more diff lines)"]
    return best_hash, "\n".join(diff)


# -- recording --------------------------------------------------------------------------------


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes requests to ``inner`` and writes each answered call to a cassette.

    The file is rewritten atomically after every call (``autosave``), so a run that
    crashes keeps what it recorded. Transport exceptions (timeouts, refused
    connections) are not recorded: they carry no answer to replay.
    """

    def __init__(
        self, inner: httpx2.AsyncBaseTransport, path: str | os.PathLike[str], *,
        append: bool = False, autosave: bool = True,
        source: Literal["simulated", "replay", "live"] | None = None,
    ) -> None:
        self.inner = inner
        self.path = Path(path)
        self.autosave = autosave
        self.cassette = (load_cassette(self.path) if append and self.path.exists()
                         else Cassette(recorded_from=source))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        canonical = canonical_from_body(request_body(request))
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        headers = {k: response.headers[k] for k in SAFE_RESPONSE_HEADERS if k in response.headers}
        try:
            recorded = RecordedResponse(status=response.status_code, headers=headers,
                                        body=json.loads(content))
        except (json.JSONDecodeError, UnicodeDecodeError):
            recorded = RecordedResponse(status=response.status_code, headers=headers,
                                        body_text=content.decode(errors="replace"))
        self.cassette.interactions.append(
            Interaction(hash=hash_canonical(canonical), request=dict(canonical), response=recorded)
        )
        if self.autosave:
            self.save()
        return response

    def save(self) -> None:
        save_cassette(self.cassette, self.path)

    async def aclose(self) -> None:
        self.save()
        await self.inner.aclose()
