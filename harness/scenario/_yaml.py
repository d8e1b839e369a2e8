"""YAML in, errors out that point at a line: the loader keeps every node's position.

PyYAML's composed node tree still knows where each key and value started; a
pydantic error's location (``agent.roles.1.tools.0``) is walked down that tree to
the nearest node, so the message names the file, the field and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed document and its node tree. Bad YAML is a ``ConfigError`` with a line."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", file=str(path)) from None
    if "\x00" in text:
        raise ConfigError("not a text file (contains NUL bytes)", file=str(path))
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {err.problem or err}", file=str(path),
                          line=line) from None
    except yaml.reader.ReaderError as err:  # a control character: binary junk, most likely
        raise ConfigError(f"not a text file: character {err.character!r} is not allowed in "
                          "YAML", file=str(path), line=text.count("\n", 0, err.position) + 1
                          ) from None
    except yaml.YAMLError as err:
        one_line = " ".join(str(err).split())
        raise ConfigError(f"invalid YAML: {one_line}", file=str(path)) from None
    _no_duplicate_keys(path, node, (), set())
    return data, node


def _no_duplicate_keys(path: Path, node: yaml.Node | None, loc: tuple[int | str, ...],
                       done: set[int]) -> None:
    """A key given twice would silently override the first: name it as an error."""
    if node is None or id(node) in done:  # an alias is checked where its anchor is
        return
    done.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if key.value in seen:
                    raise ConfigError(f"duplicate key {key.value!r} (first given on line "
                                      f"{seen[key.value]})", file=str(path),
                                      field=dotted((*loc, key.value)), line=line)
                seen[key.value] = line
                _no_duplicate_keys(path, value, (*loc, key.value), done)
            else:
                _no_duplicate_keys(path, value, loc, done)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _no_duplicate_keys(path, item, (*loc, i), done)


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest node on ``loc`` (1-based); keys point at their key line."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    best = key.start_mark.line + 1
                    node = value
                    break
            else:
                return best
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
                best = node.start_mark.line + 1
            else:
                return best
        else:
            return best
    return best


def dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
