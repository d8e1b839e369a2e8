"""The parts a scenario names, found once when it is loaded: world, tools, approver,
model profiles and price table.

Each is a registered name or an import reference (see ``harness._plugins``). They are
resolved here, once per scenario and process (a worker process loads the scenario
file again and so resolves the same parts), and every trial then builds its world and
its approver from what was found: no trial looks anything up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness._plugins import PluginError, first_line, is_reference, resolve
from harness._world import World
from harness.errors import ConfigError
from harness.llm import ModelProfile, PriceTable, load_prices, parse_price_table
from harness.protocols import Human
from harness.scenario._model import EntryAgentSpec, HumanSpec, Scenario
from harness.tools import Tool


class PlugInError(ConfigError):
    """A part named in a scenario that cannot be used; ``loc`` is the field's path."""

    def __init__(self, message: str, loc: tuple[int | str, ...]) -> None:
        self.loc = loc
        super().__init__(message)


@dataclass(frozen=True)
class ScenarioParts:
    """What a scenario's names resolved to."""

    world: Callable[[dict[str, Any]], World]
    """Builds the world from the scenario's initial state (a class or a factory)."""
    tools: tuple[Tool, ...]
    """Tools beside the world's, in the order the scenario lists them."""
    human: Callable[[HumanSpec], Human]
    """Builds the trial's approver from the scenario's ``human`` spec."""
    profiles: Mapping[str, ModelProfile]
    """The scenario's own simulated model profiles, by model id (often empty)."""
    prices: PriceTable
    entry: Callable[..., Any] | None = None
    """The agent function of a scenario whose agent brings its own loop, else ``None``."""

    def make_world(self, state: dict[str, Any]) -> World:
        return self.world(state)

    def make_human(self, spec: HumanSpec) -> Human:
        return self.human(spec)


def _part(kind: str, text: str, loc: tuple[int | str, ...]) -> Any:
    try:
        return resolve(kind, text)
    except PluginError as err:
        raise PlugInError(str(err), loc) from None


def resolve_parts(scenario: Scenario, path: Path) -> ScenarioParts:
    """Resolve and check every part ``scenario`` names; ``PlugInError`` names the field.

    A ``ValidationError`` from building the world is the world state's, for the caller
    to locate under ``world.state``."""
    world_cls = _part("world", scenario.world.kind, ("world", "kind"))
    extra: list[Tool] = [_part("tool", t, ("tools", i)) for i, t in enumerate(scenario.tools)]
    for i, t in enumerate(extra):
        try:
            t.info()
        except Exception as err:  # pydantic cannot make a schema of the input model
            raise PlugInError(f"tool {t.name!r}: its input model {t.input_model.__name__} "
                              f"has no JSON schema: {first_line(err)}", ("tools", i)) from None
    human = _part("human", scenario.human.policy, ("human", "policy"))
    approver = _build(human, scenario.human, ("human", "policy"), "the approver policy")
    if not inspect.iscoroutinefunction(getattr(approver, "decide", None)):
        raise PlugInError(f"{scenario.human.policy!r} made {type(approver).__name__}, which "
                          "has no 'async def decide(request, clock)'", ("human", "policy"))
    profiles: dict[str, ModelProfile] = {}
    for i, name in enumerate(scenario.model_profiles):
        p: ModelProfile = _part("model_profile", name, ("model_profiles", i))
        profiles[p.model] = p
    entry = (_part("agent", scenario.agent.entry, ("agent", "entry"))
             if isinstance(scenario.agent, EntryAgentSpec) else None)
    return ScenarioParts(world=world_cls, tools=tuple(extra), human=human,
                         profiles=profiles, prices=_prices(scenario.prices, path), entry=entry)


def _build(factory: Callable[[Any], Any], arg: Any, loc: tuple[int | str, ...], what: str,
           *, state_errors: bool = False) -> Any:
    """Call a plug-in's factory; with ``state_errors``, a ``ValidationError`` is the
    state's, for the caller to locate in the scenario's ``world.state``."""
    try:
        return factory(arg)
    except ValidationError as err:
        if state_errors:
            raise
        raise PlugInError(f"{what} failed when called: {first_line(err)}", loc) from None
    except Exception as err:  # the plug-in's own code failed: say where, no traceback
        raise PlugInError(f"{what} failed when called: {type(err).__name__}: "
                          f"{first_line(err)}", loc) from None


def build_world(parts: ScenarioParts, scenario: Scenario) -> World:
    """The world once, at load: its tools' schemas, and proof the factory makes a World."""
    world = _build(parts.world, scenario.world.state, ("world", "kind"), "the world factory",
                   state_errors=True)
    if not isinstance(world, World):
        raise PlugInError(f"{scenario.world.kind!r} made {type(world).__name__}, not a "
                          "harness.World", ("world", "kind"))
    return world


def _prices(given: str | None, scenario_path: Path) -> PriceTable:
    if given is None:
        return load_prices()
    if is_reference(given) and not given.endswith(".json"):
        table: PriceTable = _part("prices", given, ("prices",))
        return table
    file = scenario_path.parent / given
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise PlugInError(f"cannot read the price table {file}: {err.strerror}", ("prices",)
                          ) from None
    try:
        return parse_price_table(text, origin=str(file))
    except ConfigError as err:
        raise PlugInError(f"bad price table: {err}", ("prices",)) from None
