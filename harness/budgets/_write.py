"""Set a scenario file's ``agent.limits`` in place, leaving every other byte as it was.

A round-trip YAML library re-emits the whole document, and with it re-decides what a
person chose: it re-indents sequences to one global offset and writes ``null`` as an
empty value, so a file in another house style comes back with lines changed that were
never asked about. This edits the text instead, at positions the YAML parser reports:
each limit's value is replaced where it stands, a missing key is added as a line of its
own under the others (or into a flow mapping before its ``}``), and a missing
``limits:`` block is added after the agent's last line. Comments, key order, quoting,
blank lines and line endings are untouched by construction. The result is parsed again
and must equal the original document with only those limits changed, or nothing is
written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from harness.errors import ConfigError


def _key(node: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The last ``name: value`` pair of a mapping (a later key wins, as when loading)."""
    for k, v in reversed(node.value):
        if isinstance(k, yaml.ScalarNode) and k.value == name:
            return k, v
    return None


def _content_end(node: yaml.Node) -> int:
    """Where the node's own text ends: a block collection's end mark runs on over the
    blank lines and comments that follow it, so follow its last child instead."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _content_end(node.value[-1])
    return int(node.end_mark.index)


def _line_end(text: str, pos: int) -> int:
    """The index just past the line ``pos`` is on (its newline included), or the end."""
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _is_null(node: yaml.Node) -> bool:
    return (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null")


def _edits(text: str, root: yaml.Node, values: Mapping[str, str], file: str
           ) -> list[tuple[int, int, str]]:
    """The replacements ``(start, end, new text)`` that set the limits."""
    nl = "\r\n" if "\r\n" in text else "\n"
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("not a mapping at the top level", file=file)
    agent_key, agent = _key(root, "agent") or (None, None)
    if agent_key is None or not isinstance(agent, yaml.MappingNode):
        raise ConfigError("no agent mapping to set limits in", file=file, field="agent")
    line = agent.start_mark.line + 1
    if agent.flow_style:
        raise ConfigError("agent is a flow mapping ({...}); write it as a block to have "
                          "its limits set", file=file, field="agent", line=line)
    child = agent.value[0][0].start_mark.column
    step = max(1, child - agent_key.start_mark.column)
    at_limits = _key(agent, "limits")
    if at_limits is None or _is_null(at_limits[1]):
        lines = "".join(f"{' ' * (child + step)}{k}: {v}{nl}" for k, v in values.items())
        if at_limits is not None:  # ``limits:`` or ``limits: null``: the block goes under it
            key, node = at_limits
            key_end = int(key.end_mark.index)
            end = _line_end(text, key_end)
            pre = nl if end == len(text) and not text.endswith("\n") else ""
            under = [(end, end, pre + lines)]
            if node.end_mark.index > node.start_mark.index:  # drop the ``null``, keep ``:``
                under.append((key_end, int(node.end_mark.index), ":"))
            return under
        end = _line_end(text, _content_end(agent))
        block = f"{' ' * child}limits:{nl}{lines}"
        return [(end, end, (nl if end == len(text) and not text.endswith("\n") else "")
                 + block)]
    limits = at_limits[1]
    if not isinstance(limits, yaml.MappingNode):
        raise ConfigError("limits is not a mapping", file=file, field="agent.limits",
                          line=limits.start_mark.line + 1)
    edits: list[tuple[int, int, str]] = []
    missing: list[tuple[str, str]] = []
    for name, new in values.items():
        pair = _key(limits, name)
        if pair is None:
            missing.append((name, new))
            continue
        k, v = pair
        if not isinstance(v, yaml.ScalarNode):
            raise ConfigError("not a number", file=file, field=f"agent.limits.{name}",
                              line=v.start_mark.line + 1)
        start, end = int(v.start_mark.index), int(v.end_mark.index)
        if start == end:  # ``llm_calls:`` with no value: one space after the colon
            start = end = int(k.end_mark.index) + 1
            new = " " + new
        edits.append((start, end, new))
    if missing:
        if limits.flow_style:
            close = int(limits.end_mark.index) - 1
            sep = ", " if limits.value else ""
            edits.append((close, close, sep + ", ".join(f"{k}: {v}" for k, v in missing)))
        elif limits.value:
            indent = limits.value[0][0].start_mark.column
            end = _line_end(text, _content_end(limits))
            pre = nl if end == len(text) and not text.endswith("\n") else ""
            edits.append((end, end, pre + "".join(f"{' ' * indent}{k}: {v}{nl}"
                                                  for k, v in missing)))
    return edits


def _data(text: str, file: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML: {' '.join(str(err).split())}", file=file) from None


def set_limits(text: str, values: Mapping[str, str], *, file: str) -> str:
    """``text`` with ``agent.limits`` holding ``values`` (each a YAML number as text).

    Raises ``ConfigError`` (naming the file) when the file cannot be edited in place
    safely: no ``agent`` mapping, limits that are not a mapping, or an edit whose result
    would differ anywhere but in those limits (an anchored limits block shared with
    another part of the file, say)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML: {' '.join(str(err).split())}", file=file) from None
    if root is None:
        raise ConfigError("the file is empty", file=file)
    out = text
    for start, end, new in sorted(_edits(text, root, values, file), reverse=True):
        out = out[:start] + new + out[end:]
    want = _data(text, file)
    limits = dict(want["agent"].get("limits") or {})
    limits.update({k: yaml.safe_load(v) for k, v in values.items()})
    want["agent"]["limits"] = limits
    if _data(out, file) != want:
        raise ConfigError("agent.limits cannot be set in place without changing something "
                          "else (is it an alias, or written in an unusual way?); set it by "
                          "hand", file=file, field="agent.limits")
    return out
