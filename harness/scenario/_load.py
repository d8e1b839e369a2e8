"""Loading and validating scenario files, with errors that name file, field and line.

Validation runs in two passes: the schema (types, unknown keys, ranges), then the
cross-references a schema cannot see (a role's tool must exist in the world, a
model must have a price, a reference step must name a role). Both report through
``ConfigError``; the CLI turns that into exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.core import AgentConfig, ModelPrice, ToolInfo
from harness.errors import ConfigError, UsageError
from harness.faults import schedule_for
from harness.scenario._model import EntryAgentSpec, Scenario
from harness.scenario._plugins import PlugInError, ScenarioParts, build_world, resolve_parts
from harness.scenario._yaml import dotted, line_of, read_yaml

SCENARIO_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    tools: tuple[ToolInfo, ...]
    """The tool schemas (the world's, then the scenario's own), as the agent will see them."""
    parts: ScenarioParts
    """What the scenario's world, tools, approver, model profiles and prices resolved to."""


def _error(path: Path, node: yaml.Node | None, loc: tuple[int | str, ...], msg: str) -> ConfigError:
    return ConfigError(msg, file=str(path), field=dotted(loc) or None, line=line_of(node, loc))


def _from_validation(path: Path, node: yaml.Node | None, err: ValidationError,
                     prefix: tuple[int | str, ...] = ()) -> ConfigError:
    errors = err.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = prefix + tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    if loc[:1] == ("agent",) and loc[1:2] in (("runtime",), ("entry",)):
        loc = loc[:1] + loc[2:]  # the agent kind's tag is pydantic's word, not a field
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling)"
    elif first["type"] == "missing":
        msg = "required field is missing"
    elif first["type"] in ("model_type", "dict_type"):
        msg = f"should be a mapping of fields, not {_yaml_kind(first.get('input'))}"
    elif first["type"] in ("tuple_type", "list_type"):
        msg = f"should be a list, not {_yaml_kind(first.get('input'))}"
    elif first["type"] == "finite_number":
        msg = "should be a finite number, not .inf or .nan"
        if "limits" in loc:
            msg += " (a limit left out is no limit)"
    elif first["type"] == "less_than_equal":
        msg = f"should be at most {_number(first.get('ctx', {}).get('le'))}"
    return _error(path, node, loc, msg)


def _check_priced(path: Path, node: yaml.Node | None,
                  models: list[tuple[tuple[int | str, ...], str]],
                  price_of: Callable[[str], ModelPrice]) -> None:
    """Every model a scenario names has a price: a run never costs an unknown amount."""
    for loc, model in models:
        try:
            price_of(model)
        except (UsageError, KeyError) as err:
            detail = str(err).removeprefix("field 'model': ")
            raise _error(path, node, loc, f"unknown model {model!r}: {detail}") from None


def _check_entry(path: Path, node: yaml.Node | None, scenario: Scenario, a: EntryAgentSpec,
                 tool_names: set[str], price_of: Callable[[str], ModelPrice]) -> None:
    """What can be checked of a scenario whose agent brings its own loop: the tools its
    reference and goals name, and that its models are priced."""
    for i, step in enumerate(scenario.reference.steps):
        for j, call in enumerate(step.tool_calls):
            if call.tool not in tool_names:
                raise _error(path, node, ("reference", "steps", i, "tool_calls", j, "tool"),
                             f"unknown tool {call.tool!r}")
    for field in ("required_actions", "forbidden_actions"):
        for i, check in enumerate(getattr(scenario.goals, field)):
            if check.tool not in tool_names:
                raise _error(path, node, ("goals", field, i, "tool"),
                             f"unknown tool {check.tool!r}")
    models: list[tuple[tuple[int | str, ...], str]] = [
        (("agent", "model"), a.model), *((("models", i), m) for i, m in enumerate(scenario.models))]
    _check_priced(path, node, models, price_of)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    return "a number" if isinstance(value, int | float) else "text"


def load_scenario(path: str | Path, *, prices: Callable[[str], ModelPrice] | None = None
                  ) -> LoadedScenario:
    """Read, validate and cross-check one scenario file."""
    path = Path(path)
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError("the file is empty", file=str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of fields, not {type(data).__name__}",
                          file=str(path), line=1)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise _from_validation(path, node, err) from None
    bool_at = _bool_for_number(data, scenario, ())
    if bool_at is not None:
        raise _error(path, node, bool_at, "a true/false value where a number belongs")
    try:
        schedule_for(scenario.faults.profile, 0, scenario.faults.rates)
    except ConfigError as err:
        field = err.field or "faults"
        msg = str(err).removeprefix(f"field {err.field!r}: ")
        raise ConfigError(msg, file=str(path), field=field,
                          line=line_of(node, tuple(field.split(".")))) from None

    try:
        parts = resolve_parts(scenario, path)
        world_tools = build_world(parts, scenario).tools()
    except ValidationError as err:
        raise _from_validation(path, node, err, ("world", "state")) from None
    except PlugInError as err:
        raise _error(path, node, err.loc, str(err)) from None
    tools = [t.info() for t in world_tools]
    world_names = {t.name for t in tools}
    for i, extra in enumerate(parts.tools):
        if extra.name in world_names or extra.name in {t.name for t in parts.tools[:i]}:
            raise _error(path, node, ("tools", i),
                         f"tool {extra.name!r} is already one of the world's or the "
                         "scenario's tools")
        tools.append(extra.info())
    tool_names = {t.name for t in tools}

    a = scenario.agent
    if isinstance(a, EntryAgentSpec):
        _check_entry(path, node, scenario, a, tool_names, prices or parts.prices.price)
        return LoadedScenario(scenario, path, tuple(tools), parts)
    role_names = [r.name for r in a.roles]
    for i, name in enumerate(role_names):
        if name in role_names[:i]:
            raise _error(path, node, ("agent", "roles", i, "name"),
                         f"duplicate role name {name!r}")
    for i, role in enumerate(a.roles):
        for j, t in enumerate(role.tools):
            if t not in tool_names:
                raise _error(path, node, ("agent", "roles", i, "tools", j),
                             f"unknown tool {t!r}; the {scenario.world.kind} world "
                             + ("and the scenario's tools are " if parts.tools else "has ")
                             + ", ".join(sorted(tool_names)))
    if a.verification_role is not None and a.verification_role not in role_names:
        raise _error(path, node, ("agent", "verification_role"),
                     f"{a.verification_role!r} is not one of the roles {role_names}")
    for i, step in enumerate(scenario.reference.steps):
        if step.role not in role_names:
            raise _error(path, node, ("reference", "steps", i, "role"),
                         f"unknown role {step.role!r}; roles are {role_names}")
        role_tools = next(r.tools for r in a.roles if r.name == step.role)
        for j, call in enumerate(step.tool_calls):
            if call.tool not in tool_names:
                raise _error(path, node, ("reference", "steps", i, "tool_calls", j, "tool"),
                             f"unknown tool {call.tool!r}")
            if a.orchestrator.mode == "plan" and call.tool not in role_tools:
                raise _error(path, node, ("reference", "steps", i, "tool_calls", j, "tool"),
                             f"role {step.role!r} has no tool {call.tool!r} (its tools: "
                             f"{', '.join(role_tools) or 'none'}), so no agent can follow "
                             "this reference step")
    for field in ("required_actions", "forbidden_actions"):
        for i, check in enumerate(getattr(scenario.goals, field)):
            if check.tool not in tool_names:
                raise _error(path, node, ("goals", field, i, "tool"),
                             f"unknown tool {check.tool!r}")

    price_of = prices or parts.prices.price
    models: list[tuple[tuple[int | str, ...], str]] = [
        (("agent", "orchestrator", "model"), a.orchestrator.model),
        *((("agent", "roles", i, "model"), r.model) for i, r in enumerate(a.roles)),
        *((("models", i), m) for i, m in enumerate(scenario.models)),
    ]
    _check_priced(path, node, models, price_of)
    try:
        build_agent_config(scenario, tools, None, price_of)
    except ValidationError as err:
        raise ConfigError(f"inconsistent agent: {err.errors()[0]['msg']}", file=str(path),
                          field="agent", line=line_of(node, ("agent",))) from None
    except ValueError as err:
        raise ConfigError(f"inconsistent agent: {err}", file=str(path), field="agent",
                          line=line_of(node, ("agent",))) from None
    return LoadedScenario(scenario, path, tuple(tools), parts)


def _bool_for_number(given: Any, parsed: Any, loc: tuple[int | str, ...]
                     ) -> tuple[int | str, ...] | None:
    """Where YAML's ``yes``/``true`` went into a number field (pydantic would take it as 1)."""
    if isinstance(given, bool):
        return loc if isinstance(parsed, int | float) and not isinstance(parsed, bool) else None
    if isinstance(given, dict):
        if isinstance(parsed, BaseModel):
            fields = type(parsed).model_fields
            pairs = [(k, getattr(parsed, k)) for k in given if isinstance(k, str) and k in fields]
        elif isinstance(parsed, dict):
            pairs = [(k, parsed[k]) for k in given if k in parsed]
        else:
            return None
        for k, sub in pairs:
            found = _bool_for_number(given[k], sub, (*loc, k))
            if found is not None:
                return found
    elif isinstance(given, list) and isinstance(parsed, list | tuple):
        for i, (g, sub) in enumerate(zip(given, parsed, strict=False)):
            found = _bool_for_number(g, sub, (*loc, i))
            if found is not None:
                return found
    return None


def build_agent_config(scenario: Scenario, tools: Iterable[ToolInfo], model: str | None,
                       price_of: Callable[[str], ModelPrice]) -> AgentConfig:
    """The runtime's configuration for one trial; ``model`` replaces every role's model."""
    a = scenario.agent
    if isinstance(a, EntryAgentSpec):
        raise UsageError(f"scenario {scenario.name!r}: its agent brings its own loop")
    orch = a.orchestrator if model is None else a.orchestrator.model_copy(update={"model": model})
    roles = tuple(r if model is None else r.model_copy(update={"model": model}) for r in a.roles)
    models = sorted({orch.model, *(r.model for r in roles)})
    return AgentConfig(
        name=scenario.name, orchestrator=orch, roles=roles, tools=tuple(tools), limits=a.limits,
        escalation=a.escalation, retry=a.retry, verification_role=a.verification_role,
        prices=tuple(price_of(m).model_copy(update={"model": m}) for m in models),
    )


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files under the given files and folders, sorted, each once."""
    found: dict[Path, None] = {}
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.suffix in SCENARIO_SUFFIXES and f.is_file():
                    found[f] = None
        elif path.exists():
            found[path] = None
        else:
            raise UsageError(f"{path}: no such file or folder")
    return list(found)


def load_all(paths: Iterable[str | Path]) -> list[LoadedScenario]:
    files = discover(paths)
    if not files:
        raise UsageError("no scenario files (*.yaml, *.yml) found")
    loaded = [load_scenario(f) for f in files]
    seen: dict[str, Path] = {}
    for ls in loaded:
        other = seen.get(ls.scenario.name)
        if other is not None:
            raise ConfigError(f"scenario name {ls.scenario.name!r} is also used by {other}",
                              file=str(ls.path), field="name",
                              line=line_of(read_yaml(ls.path)[1], ("name",)))
        seen[ls.scenario.name] = ls.path
    return loaded


def describe(ls: LoadedScenario) -> dict[str, Any]:
    s = ls.scenario
    return {"name": s.name, "suite": s.suite, "file": str(ls.path), "trials": s.trials,
            "world": s.world.kind, "faults": s.faults.profile,
            "roles": ([f"{r.name}:{r.model}" for r in s.agent.roles]
                      if not isinstance(s.agent, EntryAgentSpec)
                      else [f"entry {s.agent.entry}:{s.agent.model}"])}
