"""The search space: an Optuna trial + a base experiment -> the experiment that trial runs."""
from __future__ import annotations

import dataclasses
from typing import Any

from lensfind.config import Experiment
from lensfind.config.tune import TuneConfig
from lensfind.validation import ConfigError


def dropout_fields(exp: Experiment) -> tuple[str, ...]:
    """Names of the ``[model]`` fields that are dropout rates (head and MC-dropout layers)."""
    return tuple(f.name for f in dataclasses.fields(exp.model)
                 if "dropout" in f.name and f.type in ("float", float))


# dropout fields that only some networks use: field -> does this experiment's network use it?
_USED_WHEN = {
    "conv_dropout": lambda model, space: model.backbone == "alexnet_bn",
    "dense_dropout": lambda model, space: model.dense_units > 0 or bool(space.dense_units),
}


def tuned_params(exp: Experiment, space: TuneConfig | None = None) -> tuple[str, ...]:
    """The dropout fields searched: ``[tune] params`` if given (checked), else every dropout
    rate the experiment's network has (``conv_dropout`` only for ``alexnet_bn``,
    ``dense_dropout`` only with a dense block)."""
    space = exp.tune if space is None else space
    known = dropout_fields(exp)
    if not space.params:
        used = tuple(f for f in known
                     if _USED_WHEN.get(f, lambda model, space: True)(exp.model, space))
        if not used:
            raise ConfigError("tune: the [model] table has no dropout rate to tune")
        return used
    unknown = [p for p in space.params if p not in known]
    if unknown:
        raise ConfigError(f"tune.params = {list(space.params)!r} is invalid: "
                          f"{', '.join(unknown)} not a dropout rate of [model]; "
                          f"expected some of {', '.join(known)}")
    return tuple(space.params)


def suggest_config(trial: Any, exp: Experiment, space: TuneConfig | None = None) -> Experiment:
    """Ask ``trial`` for every searched value and return ``exp`` with them set.

    Parameter names in the study are the experiment keys they set, e.g. ``model.pool_dropout``,
    ``model.dense_units``, ``train.learning_rate``, so a best trial maps straight back to an
    experiment file.

    Args:
        trial: an ``optuna.trial.Trial`` (or ``FixedTrial`` with those names).
        exp: the base experiment.
        space: the search space; default ``exp.tune``.
    """
    space = exp.tune if space is None else space
    low, high = space.dropout
    model: dict[str, Any] = {}
    train: dict[str, Any] = {}
    for name in tuned_params(exp, space):
        model[name] = float(trial.suggest_float(f"model.{name}", low, high))
    if space.dense_units:
        model["dense_units"] = int(trial.suggest_categorical("model.dense_units",
                                                             list(space.dense_units)))
    if space.learning_rate:
        lo, hi = space.learning_rate
        train["learning_rate"] = float(trial.suggest_float("train.learning_rate", lo, hi,
                                                           log=True))
    sections: dict[str, Any] = {"model": model}
    if train:
        sections["train"] = train
    return exp.replace(**sections)


def params_to_sections(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"model.pool_dropout": 0.2}`` -> ``{"model": {"pool_dropout": 0.2}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        section, _, field = key.partition(".")
        if not field:
            raise ConfigError(f"tune: parameter {key!r} is not SECTION.FIELD")
        out.setdefault(section, {})[field] = value
    return out
