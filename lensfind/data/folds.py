"""Stratified, groups-aware k-fold splits for cross-validation.

Copies of one simulated system (same ``system_id``, e.g. a lens and the same scene without the
arc) always land in the same fold, so a test fold never holds a twin of a training image
(``sklearn.model_selection.StratifiedGroupKFold`` on ``system_id``). The split depends only on
the labels, the groups, k and the seed, and is saved in the run directory (``folds.json``) so a
resumed or a ``--fold k`` run uses exactly the same indices.

Bad input is refused before anything runs: missing labels, a single class, or k larger than the
number of groups of the smallest class.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensfind.files import atomic_write_text
from lensfind.validation import ConfigError


@dataclasses.dataclass(frozen=True)
class Fold:
    """One split: indices into the data set (sorted, int64)."""

    index: int
    train: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict:
        return {"fold": self.index, "train": self.train.tolist(), "test": self.test.tolist()}


def _as_groups(labels: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    if groups is None:
        return np.arange(len(labels), dtype=np.int64)
    groups = np.asarray(groups)
    if groups.shape != labels.shape:
        raise ConfigError(f"system_id has shape {groups.shape} but labels have shape "
                          f"{labels.shape}: expected one group id per image")
    return groups


def check_stratifiable(labels, groups=None, k: int = 7, *, what: str = "data set") -> None:
    """Refuse data that cannot be split into ``k`` stratified, groups-aware folds.

    Raises :class:`ConfigError` naming what was received and what is allowed.
    """
    if labels is None:
        raise ConfigError(f"the {what} has no labels: cross-validation needs labels "
                          "(1 = lens, 0 = non-lens) for every image")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ConfigError(f"the {what} has labels of shape {labels.shape}: expected a non-empty "
                          "1-d array with one label per image")
    if not np.issubdtype(labels.dtype, np.number) or np.any(~np.isfinite(labels.astype(float))):
        raise ConfigError(f"the {what} has labels that are not all finite numbers")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ConfigError(f"train.folds = {k!r} is invalid: expected an integer >= 2")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ConfigError(f"the {what} has one class only (label {classes[0].item()!r} for all "
                          f"{labels.size} images): expected both lenses (1) and non-lenses (0)")
    groups = _as_groups(labels, groups)
    n_groups = len(np.unique(groups))
    if k > n_groups:
        raise ConfigError(f"train.folds = {k} is invalid for this {what}: it has only "
                          f"{n_groups} distinct systems (system_id); expected folds <= {n_groups}")
    per_class = {int(c) if float(c).is_integer() else c: len(np.unique(groups[labels == c]))
                 for c in classes}
    smallest = min(per_class.values())
    if k > smallest:
        detail = ", ".join(f"label {c}: {n}" for c, n in per_class.items())
        raise ConfigError(f"train.folds = {k} is invalid for this {what}: the smallest class has "
                          f"only {smallest} systems ({detail}); expected folds <= {smallest}")


def make_folds(labels, groups=None, k: int = 7, *, seed: int = 0) -> list[Fold]:
    """Split into ``k`` stratified folds keeping each group (``system_id``) in one fold.

    Args:
        labels: class label per image (stratification).
        groups: group id per image (``system_id``); ``None`` treats every image as its own group.
        k: number of folds.
        seed: shuffling seed (a 32-bit integer).

    Returns:
        ``k`` :class:`Fold` objects whose test sets partition ``range(len(labels))``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    check_stratifiable(labels, groups, k)
    labels = np.asarray(labels)
    groups = _as_groups(labels, groups)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=int(seed) % 2**32)
    folds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" is checked above
        for i, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
            folds.append(Fold(i, np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)))
    for fold in folds:
        if len(np.unique(labels[fold.test])) < 2:
            raise ConfigError(f"train.folds = {k} is too many for this data set: fold "
                              f"{fold.index} would hold one class only; use fewer folds")
    return folds


def validation_split(labels, groups, indices: np.ndarray, *, fraction: float = 0.1,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split training ``indices`` into (fit, validation) parts, stratified and groups-aware.

    The validation part (about ``fraction`` of the images) drives early stopping and the
    learning curves, so the test fold stays untouched until the final prediction.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels)[indices]
    groups = _as_groups(np.asarray(labels), None if groups is None else np.asarray(groups)[indices])
    classes = np.unique(labels)
    smallest = min(len(np.unique(groups[labels == c])) for c in classes) if len(classes) else 0
    n_splits = min(max(2, int(round(1.0 / fraction))), smallest)
    if len(classes) < 2 or n_splits < 2:
        raise ConfigError("the training folds are too small for a validation split: need at "
                          "least 2 systems of each class; use fewer folds or more images")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=int(seed) % 2**32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit, val = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return np.sort(indices[fit]), np.sort(indices[val])


def save_folds(path: str | Path, folds: Sequence[Fold], *, meta: dict | None = None) -> None:
    """Write ``folds.json`` atomically (indices into the data set, plus ``meta``)."""
    path = Path(path)
    data = {"k": len(folds), **(meta or {}), "folds": [f.to_dict() for f in folds]}
    atomic_write_text(path, json.dumps(data))


def load_folds(path: str | Path) -> list[Fold]:
    """Read folds written by :func:`save_folds`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Fold(int(f["fold"]), np.asarray(f["train"], dtype=np.int64),
                 np.asarray(f["test"], dtype=np.int64)) for f in data["folds"]]
