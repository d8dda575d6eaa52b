"""The ``[sweep]`` table of an experiment file: one cross-validation run per value of some settings.

Run by :func:`lensfind.train.sweep.run_sweep` (``lensfind sweep FILE``)::

    [sweep]
    name = "dropout"
    keys = ["model.pool_dropout", "model.dense_dropout", "model.conv_dropout"]
    values = [0.02, 0.03, 0.1]
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from lensfind.validation import fail


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The ``[sweep]`` table (empty ``values``: no sweep).

    Attributes:
        name: label of the swept quantity, used in run names (e.g. ``"dropout"``).
        keys: ``SECTION.FIELD`` settings that take each value together.
        values: one cross-validation run per value.
    """

    name: str = "sweep"
    keys: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            fail("sweep.name", self.name, "a non-empty name without '/'")
        if not all(isinstance(k, str) and k.count(".") >= 1 and not k.startswith("sweep.")
                   for k in self.keys):
            fail("sweep.keys", list(self.keys), "SECTION.FIELD names such as "
                 "'model.dense_dropout' (not sweep.*)")
        if bool(self.keys) != bool(self.values):
            fail("sweep.values" if self.keys else "sweep.keys",
                 list(self.values) if self.keys else list(self.keys),
                 "both keys and values (or neither)")
        if any(isinstance(v, (dict, list, tuple)) for v in self.values):
            fail("sweep.values", list(self.values), "a list of plain values (numbers, strings)")
        if len(set(map(repr, self.values))) != len(self.values):
            fail("sweep.values", list(self.values), "values without repeats")

    @property
    def enabled(self) -> bool:
        return bool(self.values)

    def overrides(self, value) -> list[str]:
        return [f"{k}={json.dumps(value)}" for k in self.keys]

    def run_name(self, base: str, value) -> str:
        return f"{base}-{self.name}{value}"
