"""Checks that refuse bad settings before any work, with messages that name what was wrong.

Every error says which field (or name) was received, the value, and what is allowed, e.g.
``simulation.lens.theta_e = [-1.0, 2.0] is invalid: expected values > 0``.
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting is invalid; the message names the field, the value and what is allowed."""


def fail(field: str, value: Any, allowed: str) -> typing.NoReturn:
    """Raise :class:`ConfigError` for ``field = value`` with the allowed values spelled out."""
    raise ConfigError(f"{field} = {value!r} is invalid: expected {allowed}")


def check_range(field: str, value: float, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` if it lies in the interval, else raise naming the interval."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    interval = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(field, value, f"a number in {interval}")
    if value != value:  # NaN
        fail(field, value, f"a number in {interval}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        fail(field, value, f"a number in {interval}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        fail(field, value, f"a number in {interval}")
    return value


def check_interval(field: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                   lo_open: bool = False, hi_open: bool = False) -> tuple[float, float]:
    """Return ``(a, b)`` for a two-number prior range with ``a <= b`` inside the allowed interval."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        fail(field, value, "a list of two numbers [low, high]")
    a, b = (check_range(field, v, lo, hi, lo_open=lo_open, hi_open=hi_open) for v in value)
    if a > b:
        fail(field, value, "[low, high] with low <= high")
    return float(a), float(b)


def check_choice(field: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        fail(field, value, "one of " + ", ".join(repr(c) for c in sorted(choices)))
    return value


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """Return ``registry[name]``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(registry))
        raise ValueError(f"unknown {what} {name!r}: expected one of {known}") from None


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, section: str) -> T:
    """Build the frozen dataclass ``cls`` from a TOML table.

    Unknown keys are refused (listing the known ones); nested dataclass fields are built from
    sub-tables; lists become tuples. Value checks live in each class's ``__post_init__``.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        fail(section or "experiment file", data, "a table of settings")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{section}: unknown setting(s) {', '.join(unknown)}; "
                          f"expected some of {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            value = from_mapping(hint, value, f"{section}.{name}" if section else name)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Plain-data view of a config dataclass (tuples become lists), for TOML/JSON snapshots."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(obj)
