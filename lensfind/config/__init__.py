"""Experiment files: one TOML file -> one frozen, validated :class:`Experiment`.

The sections' dataclasses live beside it -- ``[train]`` (:mod:`.train`), ``[tune]``
(:mod:`.tune`), ``[sweep]`` (:mod:`.sweep`) -- or with their owners below this layer:
``[simulation]`` in :mod:`lensfind.sim.config` and ``[model]`` in :mod:`lensfind.zoo.config`.
"""
from __future__ import annotations

from lensfind.config.experiment import (SECTIONS, Experiment, ExperimentInfo, experiment_from_dict,
                                        load_experiment, to_plain)

__all__ = ["SECTIONS", "Experiment", "ExperimentInfo", "experiment_from_dict", "load_experiment",
           "to_plain"]
