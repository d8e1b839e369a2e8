"""YAML in, errors out that point at a line: the loader keeps every node's position.

PyYAML's composed node tree still knows where each key and value started; a
pydantic error's location (``agent.roles.1.tools.0``) is walked down that tree to
the nearest node, so the message names the file, the field and the line.

A scenario file may come from anywhere, so reading one is bounded before any of it
is trusted: a regular file of at most ``MAX_FILE_BYTES`` (a FIFO or a device is
refused, never waited on), nesting at most ``MAX_DEPTH`` levels (checked while
composing, before Python's recursion limit can be reached), and at most
``MAX_VALUES`` values with every alias counted as the copy it stands for (a
"billion laughs" alias bomb is a few hundred bytes that every later walk of the
document would expand). The bundled scenarios are a few kilobytes, a dozen levels
deep and a few hundred values: the limits are far from anything a scenario needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from harness._files import read_regular
from harness.errors import ConfigError

MAX_FILE_BYTES = 1 << 20
"""1 MiB."""
MAX_DEPTH = 64
"""Levels of nesting, the top-level mapping being level 1 and a scalar a level of its own."""
MAX_VALUES = 250_000
"""Keys, items and scalars, an alias counting as every value of what it names."""


class _Limit(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _Bounds:
    """A composer mix-in that counts while it composes and stops at the first limit passed.

    Every value composed adds one; an alias adds every value of the node it names (known,
    since that node is finished), so the count is the document's size with its aliases
    expanded, and an alias bomb stops at the alias that crosses ``MAX_VALUES``, long before
    anything walks it. Nesting is checked on the way down, before Python's recursion gets
    deep; an alias's own depth counts where it is used.
    """

    def _init_bounds(self) -> None:
        self._level = 0
        self._values = 0
        self._sizes: dict[int, tuple[int, int]] = {}
        """Finished node -> (values, levels below and including it)."""
        self._heights: list[int] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            node: yaml.Node | None = super().compose_node(parent, index)  # type: ignore[misc]
            size = self._sizes.get(id(node))
            if size is None:
                raise _Limit(f"alias *{event.anchor} is used inside the value it names (a "
                             "structure that contains itself)", line)
            values, height = size
            self._count(values, self._level + height, line, f" once alias *{event.anchor} is "
                        "expanded")
            if self._heights:
                self._heights[-1] = max(self._heights[-1], height)
            return node
        self._level += 1
        self._count(1, self._level, line, "")
        before = self._values
        self._heights.append(0)
        try:
            node = super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._level -= 1
            height = self._heights.pop() + 1
        if self._heights:
            self._heights[-1] = max(self._heights[-1], height)
        self._sizes[id(node)] = (self._values - before + 1, height)
        return node

    def _count(self, values: int, level: int, line: int, how: str) -> None:
        if level > MAX_DEPTH:
            raise _Limit(f"nested more than {MAX_DEPTH} levels deep{how} (a scenario may nest "
                         f"at most {MAX_DEPTH})", line)
        self._values += values
        if self._values > MAX_VALUES:
            raise _Limit(f"more than {MAX_VALUES:,} values{how} (a scenario may hold at most "
                         f"{MAX_VALUES:,})", line)


class _PyBoundedLoader(_Bounds, yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._init_bounds()


_LOADER: type[Any] = _PyBoundedLoader
if yaml.__with_libyaml__:  # libyaml's parser: the same events in a third of the time
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _CBoundedLoader(_Bounds, Composer, CParser, SafeConstructor,  # type: ignore[misc]
                          Resolver):
        """libyaml parses; PyYAML's own composer (so the counting above runs), constructor
        and resolver build the document, exactly as ``SafeLoader`` would."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._init_bounds()

    _LOADER = _CBoundedLoader


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The parsed document and its node tree. Bad YAML is a ``ConfigError`` with a line."""
    raw = read_regular(path, limit=MAX_FILE_BYTES, what="a scenario file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", file=str(path)) from None
    if "\x00" in text:
        raise ConfigError("not a text file (contains NUL bytes)", file=str(path))
    try:
        return _parse(path, text, _LOADER)
    except yaml.YAMLError:
        if _LOADER is _PyBoundedLoader:
            raise
    # libyaml words its errors more tersely ("found character that cannot start any
    # token"): PyYAML's own parser says which character, so a bad file is read again by it
    return _parse(path, text, _PyBoundedLoader)


def _parse(path: Path, text: str, loader_class: type[Any]) -> tuple[Any, yaml.Node | None]:
    loader = None
    try:
        loader = loader_class(text)
        node = loader.get_single_node()
        if node is not None:  # before construction, which folds ``<<`` merges into the tree
            _no_duplicate_keys(path, node, (), set())
        data = loader.construct_document(node) if node is not None else None
    except _Limit as err:
        raise ConfigError(str(err), file=str(path), line=err.line) from None
    except yaml.YAMLError as err:
        if loader_class is not _PyBoundedLoader:
            raise
        raise _config_error(path, text, err) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def _config_error(path: Path, text: str, err: yaml.YAMLError) -> ConfigError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        return ConfigError(f"invalid YAML: {err.problem or err}", file=str(path), line=line)
    if isinstance(err, yaml.reader.ReaderError):  # a control character: binary junk, likely
        return ConfigError(f"not a text file: character {err.character!r} is not allowed in "
                           "YAML", file=str(path), line=text.count("\n", 0, err.position) + 1)
    one_line = " ".join(str(err).split())
    return ConfigError(f"invalid YAML: {one_line}", file=str(path))


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
            # the last match: a key written beside a ``<<`` merge overrides the merged one
            for key, value in reversed(node.value):
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
