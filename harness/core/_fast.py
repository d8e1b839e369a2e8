"""Building frozen models without re-validating them, for the core's hot path.

Values the core builds from values it already validated need no second check, and
pydantic's ``model_construct``/``model_copy`` cost ~10 µs each on a model of forty
fields: most of a step's budget. These helpers set ``__dict__`` directly, which is
what those two do once their bookkeeping is done. Everything arriving from outside
(events, configs, logs) is still validated when built.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__
_new = object.__new__
_ALL_FIELDS: dict[type, set[str]] = {}


def from_dict(cls: type[M], values: dict[str, Any]) -> M:
    """A ``cls`` whose fields are exactly ``values`` (all of them must be given)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    fields = _ALL_FIELDS.get(cls)
    if fields is None:
        fields = _ALL_FIELDS[cls] = set(cls.model_fields)
    _set(obj, "__pydantic_fields_set__", fields)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def replace(obj: M, **changes: Any) -> M:
    """A copy of ``obj`` with ``changes``; unchanged fields are shared, not copied."""
    values = dict(obj.__dict__)
    values.update(changes)
    return from_dict(type(obj), values)
