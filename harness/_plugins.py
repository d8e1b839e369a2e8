"""Plug-ins: every part a scenario names is found one way, by registered name or by import.

    world:  {kind: support}                  a name a package registered
    world:  {kind: "my_pkg.worlds:Queue"}    an import reference, package.module:attribute

Names are registered through entry points, one group per kind of part::

    [project.entry-points."harness.worlds"]
    queue = "my_pkg.worlds:Queue"

The bundled worlds and the scripted person register the same way (see this
project's ``pyproject.toml``), so the harness itself names no world or approver.
Entry points are read once per process; a reference is imported once and kept.
Whatever a name or reference gives is checked for its kind before anything runs: a
reference that does not import, names a missing attribute or the wrong kind of
object is a ``PluginError``, which scenario loading turns into a ``ConfigError``
naming the file, field and line.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from harness.errors import UsageError

_REFERENCE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PluginError(UsageError):
    """A name or reference that gives no usable part (said without file or field: the
    caller knows where the text came from)."""


@dataclass(frozen=True)
class Kind:
    """One kind of part: where its names are registered and what an object of it must be."""

    group: str
    noun: str
    check: Callable[[Any], str | None]
    """Why an object is not of this kind, or ``None`` if it is."""


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return f"the function {obj.__name__}"
    if inspect.ismodule(obj):
        return f"the module {obj.__name__}"
    return f"a {type(obj).__name__}"


def _check_world(obj: Any) -> str | None:
    from harness._world import World

    if inspect.isclass(obj):
        return None if issubclass(obj, World) else "not a subclass of harness.World"
    return None if callable(obj) else "neither a harness.World subclass nor a function making one"


def _check_tool(obj: Any) -> str | None:
    from harness.tools import Tool

    if isinstance(obj, Tool):
        return None
    if inspect.isclass(obj):
        return "a class where a tool is expected: decorate a function with @harness.tool"
    if callable(obj):
        return ("a plain function, not a tool: decorate it with @harness.tool (which declares "
                "whether it is side-effecting or affects production)")
    return "not a tool: decorate a function with @harness.tool"


def _check_human(obj: Any) -> str | None:
    if callable(obj):
        return None
    return "not callable: an approver policy is a function or class called with the human spec"


def _check_fault_profile(obj: Any) -> str | None:
    if isinstance(obj, Mapping) and all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in obj.items()):
        return None
    return "not a fault profile: a mapping of fault names to rates, e.g. {'tool_error': 0.1}"


def _check_model_profile(obj: Any) -> str | None:
    from harness.llm import ModelProfile

    return None if isinstance(obj, ModelProfile) else "not a harness.llm.ModelProfile"


def _check_prices(obj: Any) -> str | None:
    from harness.llm import PriceTable

    return None if isinstance(obj, PriceTable) else "not a price table (harness.llm.PriceTable)"


def _check_agent(obj: Any) -> str | None:
    if inspect.isclass(obj):
        return ("a class where an agent is expected: an async function "
                "run(task, client, tools, model) -> str")
    if inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
            getattr(obj, "__call__", None)):  # noqa: B004 (an object with an async __call__)
        try:
            inspect.signature(obj).bind("task", "client", "tools", "model")
        except TypeError as err:
            return f"cannot be called as run(task, client, tools, model): {err}"
        except ValueError:  # no signature to read (a builtin): let the call say
            return None
        return None
    if callable(obj):
        return "not an async function: write 'async def run(task, client, tools, model)'"
    return "not an agent: an async function run(task, client, tools, model) -> str"


KINDS: dict[str, Kind] = {
    "world": Kind("harness.worlds", "world", _check_world),
    "tool": Kind("harness.tools", "tool", _check_tool),
    "human": Kind("harness.humans", "approver policy", _check_human),
    "fault_profile": Kind("harness.fault_profiles", "fault profile", _check_fault_profile),
    "model_profile": Kind("harness.model_profiles", "model profile", _check_model_profile),
    "prices": Kind("harness.prices", "price table", _check_prices),
    "agent": Kind("harness.agents", "agent", _check_agent),
}


def is_reference(text: str) -> bool:
    """Whether ``text`` is an import reference rather than a registered name."""
    return ":" in text


@cache
def registered(kind: str) -> Mapping[str, EntryPoint]:
    """The names registered for ``kind`` by installed packages (read once per process)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=KINDS[kind].group):
        found.setdefault(ep.name, ep)  # the first installed package to claim a name keeps it
    return found


def resolve(kind: str, text: str) -> Any:
    """The part ``text`` names (a registered name or ``package.module:attribute``), checked."""
    return _resolve(kind, text)


@cache
def _resolve(kind: str, text: str) -> Any:
    k = KINDS[kind]
    if is_reference(text):
        obj = _import(text)
        where = f"{text!r}"
    else:
        ep = registered(kind).get(text)
        if ep is None:
            names = ", ".join(sorted(registered(kind))) or "none (is the package installed?)"
            raise PluginError(f"unknown {k.noun} {text!r}; registered: {names}; or give an "
                              "import reference, package.module:attribute")
        target = f"{ep.module}:{ep.attr}" if ep.attr else ep.module  # extras dropped
        obj = _import(target)
        where = f"{text!r} (registered as {target!r})"
    problem = k.check(obj)
    if problem is not None:
        raise PluginError(f"{where} is {_describe(obj)}: {problem}")
    return obj


def _import(reference: str) -> Any:
    if not _REFERENCE.match(reference):
        raise PluginError(f"{reference!r} is not an import reference: write "
                          "package.module:attribute")
    module_name, _, attr_path = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and (module_name + ".").startswith(err.name + "."):
            raise PluginError(f"cannot import {reference!r}: no module named {err.name!r}"
                              ) from None
        raise PluginError(f"cannot import {reference!r}: importing {module_name!r} failed: "
                          f"{first_line(err)}") from None
    except Exception as err:  # the plug-in's own module is broken: say so, no traceback
        raise PluginError(f"cannot import {reference!r}: importing {module_name!r} failed: "
                          f"{type(err).__name__}: {first_line(err)}") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"cannot import {reference!r}: {_describe(obj)} has no "
                              f"attribute {part!r}") from None
    return obj


def first_line(err: BaseException) -> str:
    """An error's first line: messages here are one line (pydantic's run to several)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def clear_caches() -> None:
    """Forget what was read and imported (tests that install plug-ins at run time)."""
    registered.cache_clear()
    _resolve.cache_clear()
