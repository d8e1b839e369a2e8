"""The suite_throughput task written as an agent that brings its own loop: the plain
``anthropic`` SDK tool-use loop a team writes, named by the bench's scenario as
``_own_loop_agent:run`` (this folder is on ``sys.path`` when the bench runs)."""

from __future__ import annotations

from typing import Any

import anthropic


async def run(task: str, client: anthropic.AsyncAnthropic, tools: Any, model: str) -> str:
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    schemas = tools.schemas()
    while True:
        reply = await client.messages.create(model=model, max_tokens=1024, messages=messages,
                                             tools=schemas)
        messages.append({"role": "assistant", "content": [b.to_dict() for b in reply.content]})
        uses = [b for b in reply.content if b.type == "tool_use"]
        if not uses:
            return "".join(b.text for b in reply.content if b.type == "text")
        results = [(await tools.call(u.name, dict(u.input))).block(u.id) for u in uses]
        messages.append({"role": "user", "content": results})
