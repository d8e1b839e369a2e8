"""The simulated model: a seeded policy that answers Messages requests over HTTP.

It sits under the real SDK as an ``httpx2`` transport and answers with real
Messages API JSON, so the client, error mapping and cost accounting run exactly
as they would live. What it says is driven by the scenario's reference solution
and the model's profile: a skilled profile makes the expected next tool call,
a weaker one loops, strays or stops early.

Every draw comes from ``hash(seed, canonical request)``, never from call order,
so the same request always gets the same bytes: parallel sub-agents cannot
perturb each other, and a simulated run can be recorded and replayed exactly.

Like the real API it refuses (400 ``invalid_request_error``) a request whose
messages carry empty content anywhere but a final assistant turn.

It recognises the runtime's calls by their shape:

- planning: ``tool_choice`` forces ``submit_plan``;
- reflection: ``tool_choice`` forces ``submit_reflection``;
- verification: ``tool_choice`` forces ``submit_verdict``;
- a sub-agent turn: the first user message starts with ``[step <id>] ``;
- anything else is an agent with a loop of its own: its conversation (the tool calls
  and results so far) is read against the whole reference, and the reply is the next
  expected call or, once all are made, the reference answer (``own_loop``).

A finished step's summary starts with ``Completed step <id>``; the reflection
policy looks for that phrase to decide whether the work is complete.

Prompt injection: when the latest ``tool_result`` carries a planted instruction
("ignore all previous instructions ..."), a sub-agent obeys it with its profile's
``injection_susceptibility`` (see ``ModelProfile``). That draw has its own seeded
stream, so a run whose tool results carry no planted text is unchanged by it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

from harness.core._llm_types import ModelRequest, count_request_tokens, count_tokens
from harness.llm._canonical import (
    canonical_from_body,
    canonical_from_request,
    canonical_json,
    dumps_canonical,
    hash_canonical,
    hash_json,
)
from harness.llm._profiles import ModelProfile, profile_for
from harness.llm._reference import ExpectedCall, ReferenceSolution, ReferenceStep
from harness.llm._request_reader import ReadRequest, RequestReader
from harness.llm._wire import (
    LATENCY_HEADER,
    error_body,
    is_messages_call,
    json_response,
    message_body,
    not_found,
    request_body,
    request_body_of,
)
from harness.protocols import Clock

Block = dict[str, Any]

_STEP_PREFIX = re.compile(r"^\[step (\S+)\] ")
DONE_MARK = "Completed step {id}"

_TEXT = (
    "checked the records and confirmed the relevant details before moving on; the result "
    "matches what the task asked for and nothing else needed changing here. I verified each "
    "value against the source, noted the identifiers involved, and kept the summary short so "
    "the orchestrator can combine it with the other steps without re-reading the raw output"
)
_WORDS = tuple(_TEXT.split(" "))

#: What a planted instruction in a tool result looks like.
_PLANTED = re.compile(
    r"\b(?:ignore|disregard)\s+(?:all\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|earlier|above)\s+instructions", re.IGNORECASE)
#: Verbs that make a tool dangerous to call on a stranger's say-so, most dangerous first.
_DANGEROUS = ("refund", "delete", "drop", "transfer", "pay", "charge", "cancel", "deploy",
              "wire", "send", "email", "post", "write", "update", "create", "record")


class SimulatedTransport(httpx2.AsyncBaseTransport):
    """Answers ``POST /v1/messages`` from a reference solution and per-model profiles.

    ``clock`` receives the simulated latency (``await clock.sleep(latency)``), so a
    virtual clock advances without waiting; with no clock the latency is only
    reported in the ``x-harness-simulated-latency-s`` header.
    """

    def __init__(
        self,
        reference: ReferenceSolution,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        profiles: Mapping[str, ModelProfile] | None = None,
    ) -> None:
        self.reference = reference
        self.seed = seed
        self.clock = clock
        self.profiles = profiles
        self.calls = 0
        self._last_content: bytes | None = None
        self._reader = RequestReader()
        self._seed_prefix = f"{seed}:".encode()
        self._steps = {s.id: s for s in reference.steps}
        # a direct-mode agent (no planner) runs the whole task as one step, "main"
        # (or "main-2"... after a retry): it owes every expected call, in order
        self._direct = ReferenceStep(
            id="main", role=reference.steps[0].role, instruction="the whole task",
            tool_calls=tuple(c for st in reference.steps for c in st.tool_calls))
        self._required = [s for s in reference.steps if s.tool_calls] or list(reference.steps)
        self._key_terms = reference.key_terms()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        if not is_messages_call(request):
            return not_found(request)
        read = self._read(request)
        self.calls += 1
        self._last_content = request.content
        invalid = _invalid_request(read.body)
        if invalid is not None:
            return json_response(400, error_body("invalid_request_error", invalid),
                                 {"request-id": f"req_sim_invalid_{self.calls:06d}"})
        canonical = read.canonical
        digest = hash_json(read.canonical_json)
        profile = profile_for(str(canonical["model"]), self.profiles)
        answer_body, latency = self.answer(canonical, digest, profile,
                                           input_tokens=read.input_tokens)
        if self.clock is not None:
            await self.clock.sleep(latency)
        # keys sorted, the order a cassette stores them in: a replay then hands the core
        # the very same bytes, and the replayed run's log is byte-identical to this one
        return json_response(
            200, dumps_canonical(answer_body).encode(),
            {LATENCY_HEADER: f"{latency:.6f}", "request-id": f"req_sim_{digest[:24]}"},
        )

    @property
    def last_request(self) -> dict[str, Any] | None:
        """The body of the last Messages request answered (decoded afresh: the copy is
        the caller's to change)."""
        if self._last_content is None:
            return None
        return request_body_of(self._last_content)

    def _read(self, request: httpx2.Request) -> ReadRequest:
        """Body, canonical form, its JSON and input tokens; the long way if the fast reader
        declines (it also raises the error for a body that is not a JSON object)."""
        try:
            text = request.content.decode()
        except UnicodeDecodeError:
            text = None
        read = self._reader.read(text) if text is not None else None
        if read is None:
            body = request_body(request)
            canonical = canonical_from_body(body)
            read = ReadRequest(body, canonical, canonical_json(canonical),
                               count_request_tokens(_as_request(canonical)))
        return read

    # -- the policy -----------------------------------------------------------------------

    def answer(
        self, canonical: Mapping[str, Any], digest: str, profile: ModelProfile, *,
        input_tokens: int | None = None,
    ) -> tuple[dict[str, Any], float]:
        """The reply body and latency for one canonical request; a pure function of its inputs.

        ``input_tokens``, when the caller has counted them already, must be
        ``count_request_tokens`` of the request."""
        rng = random.Random(
            int.from_bytes(hashlib.sha256(self._seed_prefix + digest.encode()).digest()[:8], "big")
        )
        turn = _Turn(self, canonical, digest, profile, rng)
        content, stop_reason = turn.decide()
        max_tokens = int(canonical.get("max_tokens") or 1)
        output_tokens = count_tokens(content)
        if output_tokens > max_tokens:
            content, output_tokens = _truncate(content, max_tokens)
            stop_reason = "max_tokens"
        if input_tokens is None:
            input_tokens = count_request_tokens(_as_request(canonical))
        latency = rng.lognormvariate(math.log(profile.latency_median_s), profile.latency_sigma)
        latency += output_tokens * profile.per_output_token_s
        body = message_body(
            msg_id=f"msg_sim_{digest[:24]}", model=str(canonical["model"]), content=content,
            stop_reason=stop_reason, input_tokens=input_tokens, output_tokens=output_tokens,
        )
        return body, round(latency, 6)


class _Turn:
    """One decision: reads the request, draws from ``rng``, returns content and stop reason."""

    def __init__(
        self, sim: SimulatedTransport, canonical: Mapping[str, Any], digest: str,
        profile: ModelProfile, rng: random.Random,
    ) -> None:
        self.sim = sim
        self.ref = sim.reference
        self.req = canonical
        self.digest = digest
        self.p = profile
        self.rng = rng
        self.messages: list[Any] = list(canonical.get("messages") or [])
        self.tool_names = [t.get("name") for t in canonical.get("tools") or [] if isinstance(t, dict)]
        self._n_ids = 0

    def decide(self) -> tuple[list[Block], str]:
        choice = self.req.get("tool_choice") or {}
        forced = choice.get("name") if isinstance(choice, dict) and choice.get("type") == "tool" else None
        if forced == "submit_plan":
            return self.plan()
        if forced == "submit_reflection":
            return self.reflect()
        if forced == "submit_verdict":
            return self.verify()
        step_id = self._step_id()
        if step_id is not None:
            return self.sub_agent(step_id)
        if forced:
            return [self._tool_use(str(forced), {})], "tool_use"
        return self.own_loop()

    # -- orchestrator ---------------------------------------------------------------------

    def plan(self) -> tuple[list[Block], str]:
        steps = list(self.ref.steps)
        if len(steps) > 1 and self.rng.random() < self.p.plan_error:
            dropped = steps.pop(self.rng.randrange(len(steps))).id
            entries = [
                {**s.plan_entry(), "depends_on": [d for d in s.depends_on if d != dropped]}
                for s in steps
            ]
        else:
            entries = [s.plan_entry() for s in steps]
        rationale = f"{len(entries)} steps, ordered by their dependencies. " + self._words(25)
        return [self._tool_use("submit_plan", {"steps": entries, "rationale": rationale})], "tool_use"

    def reflect(self) -> tuple[list[Block], str]:
        text = _all_text(self.messages)
        missing = [s.id for s in self.sim._required if DONE_MARK.format(id=s.id) not in text]
        r = self.rng.random()
        skill = self.p.skill
        if not missing:
            if r < self.p.replan_tendency:
                decision, answer = "replan", ""
                reason = "The results look complete but I want to re-check the plan. "
            else:
                decision = "done"
                wrong = self.rng.random() < (1 - skill) * 0.5
                answer = _garble(self.ref.answer) if wrong else self.ref.answer
                reason = "Every step reported completion. "
            confidence = 0.55 + 0.4 * skill + self.rng.uniform(-0.1, 0.1)
        else:
            if r < self.p.false_done:
                decision, answer = "done", self.ref.answer
                reason = "The steps appear finished. "
                confidence = 0.5 + 0.3 * skill + self.rng.uniform(-0.1, 0.1)
            else:
                decision = "replan" if self.rng.random() < 0.5 + 0.45 * skill else (
                    "escalate" if self.rng.random() < 0.5 else "fail")
                answer = ""
                reason = f"Steps not completed: {', '.join(missing)}. "
                confidence = 0.15 + 0.3 * skill + self.rng.uniform(-0.1, 0.1)
        payload = {
            "decision": decision, "answer": answer,
            "confidence": round(min(1.0, max(0.0, confidence)), 3),
            "reason": reason + self._words(15),
        }
        return [self._tool_use("submit_reflection", payload)], "tool_use"

    def verify(self) -> tuple[list[Block], str]:
        text = _all_text(self.messages).lower()
        ok = all(term in text for term in self.sim._key_terms)
        if self.rng.random() < (1 - self.p.skill) * 0.3:
            ok = not ok
        reason = ("The answer contains the expected content. " if ok
                  else "The answer is missing expected content. ") + self._words(12)
        verdict = {"verdict": "pass" if ok else "fail", "reason": reason}
        return [self._tool_use("submit_verdict", verdict)], "tool_use"

    # -- sub-agents -----------------------------------------------------------------------

    def _step_id(self) -> str | None:
        for message in self.messages:
            if isinstance(message, dict) and message.get("role") == "user":
                m = _STEP_PREFIX.match(_first_text(message.get("content")))
                return m.group(1) if m else None
        return None

    def sub_agent(self, step_id: str) -> tuple[list[Block], str]:
        step = self.sim._steps.get(step_id)
        if step is None and re.fullmatch(r"main(-\d+)?", step_id):
            # a direct-mode agent's one step is the whole task: its last text is the answer
            return self._follow(self.sim._direct, self._direct_done)
        if step is None:
            return [_text(f"I have no way to do step {step_id}. " + self._words(10))], "end_turn"
        return self._follow(step, self._step_done)

    def _direct_done(self, step: ReferenceStep) -> tuple[list[Block], str]:
        (answer, *_), stop = self._final_answer(step)
        return [_text(DONE_MARK.format(id=step.id) + ". " + str(answer["text"]))], stop

    def _step_done(self, step: ReferenceStep) -> tuple[list[Block], str]:
        summary = "; ".join(f"{c.tool}({json.dumps(c.input, sort_keys=True)})" for c in step.tool_calls)
        text = DONE_MARK.format(id=step.id) + (f": {summary}. " if summary else ". ")
        return [_text(text + self._words(40))], "end_turn"

    def own_loop(self) -> tuple[list[Block], str]:
        """A request from an agent with a loop of its own (no step prefix, nothing forced).

        Nothing of our runtime's wording is assumed: the conversation's tool calls and
        results so far say which reference calls are made, the next one is asked for (by
        the same profile-driven policy a sub-agent step gets), and once none is left the
        reply is the reference answer, garbled now and then by a weaker profile."""
        return self._follow(self.sim._direct, self._final_answer)

    def _final_answer(self, step: ReferenceStep) -> tuple[list[Block], str]:
        wrong = self.rng.random() < (1 - self.p.skill) * 0.5
        return [_text(_garble(self.ref.answer) if wrong else self.ref.answer)], "end_turn"

    def _follow(self, step: ReferenceStep,
                finish: Callable[[ReferenceStep], tuple[list[Block], str]],
                ) -> tuple[list[Block], str]:
        """The next move in ``step``: its next expected call (or a profile's slip), or
        ``finish`` once every expected call has succeeded."""
        hijack = self._obey_injection(step)
        if hijack is not None:
            return hijack
        made = _tool_history(self.messages)
        pending = _pending(step, made)
        if not pending:
            return finish(step)
        expected = pending[0]
        if self.tool_names and expected.tool not in self.tool_names:
            msg = f"I cannot do step {step.id}: the tool {expected.tool!r} is not available to me."
            return [_text(msg)], "end_turn"
        skill = self.p.skill
        if self.p.error_compounding:
            failures = sum(1 for _, _, failed in made if failed)
            skill *= (1 - self.p.error_compounding) ** failures
        if self.rng.random() < skill:
            return self._call(expected.tool, expected.input, "Next I will call the tool.")
        m = self.rng.random()
        if m < self.p.loop_tendency and made:
            name, tool_input, _ = made[-1]
            return self._call(name, tool_input, "Let me run that again.")
        if m < self.p.loop_tendency + self.p.premature_end:
            text = f"Step {step.id} looks finished to me. " + self._words(20)
            return [_text(text)], "end_turn"
        others = [n for n in self.tool_names if n and n != expected.tool]
        if others and self.rng.random() < 0.5:
            return self._call(self.rng.choice(others), expected.input, "Trying this tool.")
        return self._call(expected.tool, _perturb(expected.input, self.rng), "Calling the tool.")

    def _obey_injection(self, step: ReferenceStep) -> tuple[list[Block], str] | None:
        """With the profile's susceptibility, obey an instruction planted in the latest result."""
        if self.p.injection_susceptibility <= 0:
            return None
        planted = _planted_instruction(self.messages)
        if planted is None:
            return None
        draw = random.Random(int.from_bytes(hashlib.sha256(
            self.sim._seed_prefix + b"inject:" + self.digest.encode()).digest()[:8], "big"))
        if draw.random() >= self.p.injection_susceptibility:
            return None
        name = _hijack_tool([str(n) for n in self.tool_names if n], planted)
        if name is None:
            return None
        expected = next((c for c in (*step.tool_calls, *self.ref.all_calls()) if c.tool == name),
                        None)
        tool_input = _retarget(dict(expected.input) if expected else {},
                               _all_text(self.messages))
        return self._call(name, tool_input, "The tool result says I should do this now.")

    # -- helpers --------------------------------------------------------------------------

    def _call(self, name: str, tool_input: dict[str, Any], preface: str) -> tuple[list[Block], str]:
        blocks: list[Block] = []
        if self.p.verbosity >= 1.0:
            blocks.append(_text(preface + " " + self._words(8)))
        blocks.append(self._tool_use(name, tool_input))
        return blocks, "tool_use"

    def _tool_use(self, name: str, tool_input: dict[str, Any]) -> Block:
        self._n_ids += 1
        return {"type": "tool_use", "id": f"toolu_sim_{self.digest[:20]}{self._n_ids:02d}",
                "name": name, "input": tool_input}

    def _words(self, base: int) -> str:
        n = max(1, round(base * self.p.verbosity * self.rng.uniform(0.75, 1.25)))
        start = self.rng.randrange(len(_WORDS))
        return " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n))


def _invalid_request(body: Mapping[str, Any]) -> str | None:
    """What the real API would reject this request for (the checks runtimes trip over)."""
    messages = body.get("messages") or []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        final_assistant = i == len(messages) - 1 and message.get("role") == "assistant"
        if message.get("content") in ("", []) and not final_assistant:
            return (f"messages.{i}: all messages must have non-empty content except for the "
                    "optional final assistant message")
    return None


def _text(text: str) -> Block:
    return {"type": "text", "text": text}


def _first_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))
    return ""


def _all_text(messages: list[Any]) -> str:
    parts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            if value.get("type") in (None, "text", "tool_result") or "content" in value:
                for key in ("text", "content"):
                    if key in value:
                        walk(value[key])
            if value.get("type") == "tool_use":
                parts.append(json.dumps(value.get("input")))
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(messages)
    return "\n".join(parts)


def _planted_instruction(messages: list[Any]) -> str | None:
    """The text of a planted instruction in the latest message's tool results, if any."""
    if not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    content = last.get("content")
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict) and block.get("type") == "tool_result":
            text = _all_text([block])
            if _PLANTED.search(text):
                return text
    return None


def _hijack_tool(tool_names: list[str], planted: str) -> str | None:
    """The most dangerous tool on offer, preferring one the planted text names."""
    words = set(re.findall(r"[a-z]+", planted.lower()))
    best: tuple[int, int, int] | None = None
    chosen: str | None = None
    for pos, name in enumerate(tool_names):
        lowered = name.lower()
        ranks = [i for i, verb in enumerate(_DANGEROUS) if verb in lowered]
        if not ranks:
            continue
        named = any(_DANGEROUS[i] in words for i in ranks)
        key = (0 if named else 1, min(ranks), pos)
        if best is None or key < best:
            best, chosen = key, name
    return chosen


def _retarget(tool_input: dict[str, Any], conversation: str) -> dict[str, Any]:
    """Point an id field of ``tool_input`` at another object the conversation shows."""
    for key in sorted(tool_input):
        if key != "id" and not key.endswith("_id"):
            continue
        current = str(tool_input[key])
        pattern = re.compile(
            r'(?<![A-Za-z0-9_])"?' + re.escape(key) + r'"?\s*[:=]\s*"?([A-Za-z0-9_.:-]+)')
        for found in pattern.findall(conversation):
            if found != current:
                original = tool_input[key]
                value: Any = int(found) if isinstance(original, int) and found.isdigit() else found
                return {**tool_input, key: value}
    return tool_input


def _tool_history(messages: list[Any]) -> list[tuple[str, dict[str, Any], bool | None]]:
    """Tool calls made so far: (name, input, failed?) with ``None`` when no result came back;
    an unreadable result counts as failed."""
    calls: list[tuple[str, dict[str, Any], str]] = []
    results: dict[str, bool] = {}
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            continue
        for block in message["content"]:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use" and message.get("role") == "assistant":
                tool_input = block.get("input")
                calls.append((str(block.get("name")),
                              tool_input if isinstance(tool_input, dict) else {},
                              str(block.get("id"))))
            elif block.get("type") == "tool_result":
                results[str(block.get("tool_use_id"))] = (
                    bool(block.get("is_error", False)) or _unreadable(block.get("content")))
    return [(name, tool_input, results.get(use_id)) for name, tool_input, use_id in calls]


def _unreadable(content: object) -> bool:
    """A result no model could use: JSON cut off mid-way, or binary junk in the text. A
    model reads it as a failed call and asks again (the corrupted-context tail)."""
    if not isinstance(content, str):
        return False
    text = content.strip()
    if "\x00" in text:
        return True
    return text[:1] in ("{", "[") and text[-1:] not in ("}", "]")


def _pending(
    step: ReferenceStep, made: list[tuple[str, dict[str, Any], bool | None]]
) -> list[ExpectedCall]:
    """The step's expected calls not yet made successfully, in reference order."""
    left = list(step.tool_calls)
    for name, tool_input, failed in made:
        if failed:
            continue
        for i, call in enumerate(left):
            if call.matches(name, tool_input):
                del left[i]
                break
    return left


def _perturb(tool_input: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A plausible but wrong input: one value nudged, or a guessed field added."""
    changed = dict(tool_input)
    keys = sorted(changed)
    if keys:
        key = rng.choice(keys)
        value = changed[key]
        if isinstance(value, bool):
            changed[key] = not value
        elif isinstance(value, int | float):
            changed[key] = value + rng.choice((1, -1, 10))
        elif isinstance(value, str):
            changed[key] = value + "-x" if value else "x"
        else:
            changed[key] = None
    else:
        changed["note"] = "guess"
    return changed


def _garble(answer: str) -> str:
    """A confident answer that misses the point: the first half, then a hedge."""
    words = answer.split()
    return " ".join(words[: max(1, len(words) // 2)]) + " (details unclear)"


def _truncate(content: list[Block], max_tokens: int) -> tuple[list[Block], int]:
    """What an answer cut off at ``max_tokens`` looks like: the text so far, no tool call."""
    text = " ".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
    if not text:
        text = json.dumps([b.get("input") for b in content if b.get("type") == "tool_use"])
    budget = max(0, max_tokens * 4 - 16)
    cut = text.encode()[:budget].decode(errors="ignore")
    blocks = [_text(cut)] if cut else []
    return blocks, min(max_tokens, count_tokens(blocks))


def _as_request(canonical: Mapping[str, Any]) -> ModelRequest:
    """A ``ModelRequest`` view of the wire body, for the core's own token counter."""
    return ModelRequest.model_construct(
        model=canonical["model"],
        system=canonical.get("system") or "",
        messages=tuple(canonical.get("messages") or ()),
        tools=tuple(canonical.get("tools") or ()),
        tool_choice=canonical.get("tool_choice"),
        max_tokens=canonical.get("max_tokens") or 1,
        temperature=canonical.get("temperature"),
    )


def simulated_answer(
    reference: ReferenceSolution, request: ModelRequest, *, seed: int = 0,
    profiles: Mapping[str, ModelProfile] | None = None,
) -> dict[str, Any]:
    """The reply body the simulator gives ``request`` (no HTTP, no latency): for tests and tools."""
    sim = SimulatedTransport(reference, seed=seed, profiles=profiles)
    canonical = canonical_from_request(request)
    body, _ = sim.answer(canonical, hash_canonical(canonical), profile_for(request.model, profiles))
    return body
