"""A tool is a typed function plus what the runtime must know before calling it.

The pydantic input model gives the JSON schema the model sees *and* validates what
the model sends back, so a malformed call becomes an error result the model can
read and correct, never an exception inside the runtime. Whether a tool changes
the world or touches production is declared here, next to the code that does it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, get_type_hints

from pydantic import BaseModel, ValidationError

from harness.core import RunTool, ToolInfo
from harness.errors import ToolError, UsageError
from harness.protocols import Clock


class ToolContext(NamedTuple):
    """What a tool may know about the call: the key that makes a retry safe, and the clock.

    A named tuple: immutable like a frozen dataclass, and built once per tool call at a
    fraction of the cost.
    """

    run_id: str
    call_id: str
    idempotency_key: str | None
    clock: Clock


ToolFn = Callable[[Any, ToolContext], Awaitable[Any] | Any]


@dataclass(frozen=True)
class Tool:
    name: str
    fn: ToolFn
    input_model: type[BaseModel]
    description: str = ""
    side_effecting: bool = False
    affects_production: bool = False
    accepts_idempotency_key: bool = True
    _schema: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def info(self) -> ToolInfo:
        schema = self._schema or _clean_schema(self.input_model.model_json_schema())
        return ToolInfo(
            name=self.name, description=self.description, input_schema=schema,
            side_effecting=self.side_effecting, affects_production=self.affects_production,
            accepts_idempotency_key=self.accepts_idempotency_key,
        )


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    schema.pop("title", None)
    return schema


def tool(
    *, name: str | None = None, description: str | None = None, side_effecting: bool = False,
    affects_production: bool = False, accepts_idempotency_key: bool = True,
) -> Callable[[ToolFn], Tool]:
    """Declare a tool from a function ``fn(args: SomeModel, ctx: ToolContext)``."""

    def wrap(fn: ToolFn) -> Tool:
        model = _input_model(fn)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise UsageError(f"tool {fn.__name__!r}: first parameter must be a pydantic model")
        return Tool(
            name=name or fn.__name__, fn=fn, input_model=model,
            description=description or inspect.getdoc(fn) or "",
            side_effecting=side_effecting, affects_production=affects_production,
            accepts_idempotency_key=accepts_idempotency_key,
        )

    return wrap


_INPUT_MODELS: dict[tuple[Any, ...], Any] = {}


def _input_model(fn: ToolFn) -> Any:
    """The annotation of ``fn``'s first parameter, resolved.

    Worlds declare their tools as closures, built again for every world (every trial),
    and resolving annotations is the slow part of declaring one; so the answer is kept
    per function body, globals and annotations, which together decide it.
    """
    code = getattr(fn, "__code__", None)
    try:
        key: tuple[Any, ...] | None = (
            code, id(getattr(fn, "__globals__", None)),
            tuple(getattr(fn, "__annotations__", {}).items()))
        hash(key)
    except TypeError:  # an unhashable annotation: resolve it every time
        key = None
    if code is not None and key is not None:
        hit = _INPUT_MODELS.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
    hints = get_type_hints(fn)
    params = list(inspect.signature(fn).parameters)
    model = hints.get(params[0]) if params else None
    if code is not None and key is not None:
        if len(_INPUT_MODELS) > 4096:
            _INPUT_MODELS.clear()
        _INPUT_MODELS[key] = model
    return model


_MISSING = object()


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add(t)

    def add(self, t: Tool) -> None:
        if t.name in self._tools:
            raise UsageError(f"tool {t.name!r} is registered twice")
        self._tools[t.name] = t

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UsageError(f"no tool named {name!r}; registered: {sorted(self._tools)}") from None

    def infos(self) -> tuple[ToolInfo, ...]:
        return tuple(t.info() for t in self._tools.values())

    async def run(
        self, effect: RunTool, *, run_id: str, clock: Clock
    ) -> tuple[Any, bool, str | None]:
        """Run one call; return ``(output, is_error, error_kind)``. World faults never raise."""
        t = self._tools.get(effect.tool)
        if t is None:
            return {"error": f"unknown tool {effect.tool!r}"}, True, "unknown_tool"
        try:
            args = t.input_model.model_validate(effect.input)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "input"
            return {"error": f"invalid input: {where}: {first['msg']}"}, True, "invalid_input"
        ctx = ToolContext(run_id=run_id, call_id=effect.call_id,
                          idempotency_key=effect.idempotency_key, clock=clock)
        started = clock.now()
        try:
            result = t.fn(args, ctx)
            # most tools answer a plain dict: skip the (slow) awaitable check for those
            if type(result) is not dict and inspect.isawaitable(result):
                if effect.timeout_s is not None and not getattr(clock, "virtual", False):
                    result = await asyncio.wait_for(result, effect.timeout_s)
                else:
                    result = await result
        except TimeoutError:
            return {"error": f"{effect.tool} timed out"}, True, "timeout"
        except ToolError as err:
            return {"error": str(err)}, True, err.kind
        except Exception as err:  # a tool's own bug is a world fault the agent must survive
            return {"error": f"{type(err).__name__}: {err}"}, True, "tool_error"
        if effect.timeout_s is not None and clock.now() - started > effect.timeout_s:
            return {"error": f"{effect.tool} timed out"}, True, "timeout"
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return result, False, None
