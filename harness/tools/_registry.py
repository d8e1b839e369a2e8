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
from typing import Any, NamedTuple, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

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


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    fn: None = None, /, *, name: str | None = None, description: str | None = None,
    side_effecting: bool = False, affects_production: bool = False,
    accepts_idempotency_key: bool | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
    description: str | None = None, side_effecting: bool = False,
    affects_production: bool = False, accepts_idempotency_key: bool | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a tool of a plain function, sync or async; ``@tool`` or ``@tool(...)``.

    The function takes either a pydantic model as its first parameter (its input), or
    typed parameters, from which the input model is built (extra keys refused). Besides
    its input it may take a parameter annotated ``ToolContext`` (the run, the call, the
    clock and the idempotency key) or one named ``idempotency_key``.

    ``side_effecting``: it changes something, so its intent is logged before it runs
    and it gets an idempotency key: the same key means the same call, which it must do
    at most once (a resumed run sends the key again). ``affects_production``: a person
    approves each call first (the ``production_action`` escalation rule).
    ``accepts_idempotency_key`` defaults to whether the function can receive the key; a
    side-effecting tool that cannot is escalated rather than rerun after a crash.
    """

    def wrap(fn: Callable[..., Any]) -> Tool:
        shape = _shape(fn)
        accepts = (accepts_idempotency_key if accepts_idempotency_key is not None
                   else shape.takes_key)
        return Tool(
            name=name or fn.__name__, fn=shape.adapt(fn), input_model=shape.model,
            description=description or inspect.getdoc(fn) or "",
            side_effecting=side_effecting, affects_production=affects_production,
            accepts_idempotency_key=accepts,
        )

    return wrap(fn) if fn is not None else wrap


@dataclass(frozen=True)
class _Shape:
    """How a tool function takes its input, found once per function body."""

    model: type[BaseModel]
    model_first: bool
    """The first parameter is the input model (else: typed parameters, one per field)."""
    ctx_param: str | None
    key_param: str | None
    arity: int

    @property
    def takes_key(self) -> bool:
        return self.ctx_param is not None or self.key_param is not None

    def adapt(self, fn: Callable[..., Any]) -> ToolFn:
        """``fn`` as the registry calls tools, ``fn(args, ctx)``: itself when it already
        has that shape (every world tool), else a small adapter."""
        if self.model_first and self.arity == 2 and self.ctx_param is not None:
            return fn
        ctx_param, key_param = self.ctx_param, self.key_param

        def extras(ctx: ToolContext) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if ctx_param is not None:
                out[ctx_param] = ctx
            if key_param is not None:
                out[key_param] = ctx.idempotency_key
            return out

        if self.model_first:
            def call_model(args: Any, ctx: ToolContext) -> Any:
                return fn(args, **extras(ctx))

            return call_model

        def call_fields(args: Any, ctx: ToolContext) -> Any:
            return fn(**dict(args), **extras(ctx))

        return call_fields


_SHAPES: dict[tuple[Any, ...], _Shape] = {}


def _shape(fn: Callable[..., Any]) -> _Shape:
    """The function's input shape.

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
    except TypeError:  # an unhashable annotation: work it out every time
        key = None
    if code is not None and key is not None:
        hit = _SHAPES.get(key)
        if hit is not None:
            return hit
    shape = _find_shape(fn)
    if code is not None and key is not None:
        if len(_SHAPES) > 4096:
            _SHAPES.clear()
        _SHAPES[key] = shape
    return shape


def _find_shape(fn: Callable[..., Any]) -> _Shape:
    label = getattr(fn, "__name__", repr(fn))
    if inspect.isclass(fn) or not callable(fn):
        raise UsageError(f"tool {label!r}: a tool is a function, not {type(fn).__name__}")
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as err:  # an annotation that names nothing
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UsageError(f"tool {label!r}: its annotations cannot be resolved: {detail}"
                         ) from None
    params = list(inspect.signature(fn).parameters.values())
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise UsageError(f"tool {label!r}: *{p.name} cannot be part of an input schema; "
                             "give each input its own typed parameter")
    ctx_param = next((p.name for p in params if hints.get(p.name) is ToolContext), None)
    key_param = next((p.name for p in params if p.name == "idempotency_key"), None)
    inputs = [p for p in params if p.name not in (ctx_param, key_param)]
    first = hints.get(inputs[0].name) if inputs else None
    if isinstance(first, type) and issubclass(first, BaseModel):
        if len(inputs) > 1:
            raise UsageError(f"tool {label!r}: it takes its input model {first.__name__} "
                             f"and other parameters ({', '.join(p.name for p in inputs[1:])}); "
                             "put them in the model")
        # the world tools' own shape, fn(args, ctx), positional, is called as it is
        if ctx_param is None and len(params) == 2 and params[0].name == inputs[0].name:
            ctx_param = params[1].name
        return _Shape(first, True, ctx_param, key_param, len(params))
    fields: dict[str, Any] = {}
    for p in inputs:
        if p.name not in hints:
            raise UsageError(f"tool {label!r}: parameter {p.name!r} has no type annotation, "
                             "so the model cannot be told what to send")
        fields[p.name] = (hints[p.name], ... if p.default is p.empty else p.default)
    try:
        model = create_model(  # type: ignore[call-overload]
            f"{label}_input", __config__=ConfigDict(extra="forbid", frozen=True), **fields)
        model.model_json_schema()
    except Exception as err:  # a type pydantic cannot validate or describe
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UsageError(f"tool {label!r}: its input model cannot be built: {detail}"
                         ) from None
    return _Shape(model, False, ctx_param, key_param, len(params))




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
