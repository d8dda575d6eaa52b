"""Models that score cutouts: every fold of every run directory, sampled with MC dropout.

Each ``--model RUN_DIR`` is a lensfind run (``runs/<experiment>/<run>/``); all of its folds'
``model.keras`` files form that run's committee (loaded by
:meth:`lensfind.train.rundir.RunDir.load_models` with Keras ``safe_mode=True``; nothing is
unpickled). A run is a *member* of the scoring committee, named by its experiment (the run id
is appended when two members share a name).

Per image, with ``T = mc_samples`` passes of each of the ``F`` fold models (Monte-Carlo dropout
through :class:`lensfind.zoo.sampling.DropoutSampler`; a single deterministic pass when
``T = 1``), a member has ``S = F * T`` samples. What they become is the member's task's business
(:meth:`lensfind.tasks.base.Task.score_values`): a classifier's ``p_lens_<member>`` and its
spread, pooled over all classifier members into ``p_lens`` / ``p_lens_std``; a regression run's
mixture moments ``<member>_<param>``, ``<member>_<param>_sigma`` and covariances.

MC dropout is made reproducible: before each chunk the dropout masks of fold model ``j`` of
member ``i`` are fixed by ``(seed, chunk, i, j)``, so a resumed run gives the same numbers as an
uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.tasks import TASKS, Task, get_task
from lensfind.train.rundir import RunDir
from lensfind.zoo.sampling import DropoutSampler



class ModelDirError(ValueError):
    """A ``--model`` directory cannot be used; the message names it and what was expected."""


@dataclasses.dataclass
class Member:
    """One run directory's models.

    Attributes:
        label: column-name prefix, e.g. ``"cv-xception"``.
        run_dir: the run directory.
        task: the run's :class:`~lensfind.tasks.base.Task`.
        head: the head name of the run's ``[model]`` table.
        targets: regression parameter names (empty for classifiers).
        models: one Keras model per fold.
        files: ``[(relative path, size, mtime_ns)]`` of the model files (resume fingerprint).
        bands: the band names of the model's input channels, in order (``simulation.bands``;
            ``()``: one band).
    """

    label: str
    run_dir: Path
    task: Task
    head: str
    targets: tuple[str, ...]
    models: list[Any]
    files: list[tuple[str, int, int]]
    bands: tuple[str, ...] = ()


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "model"


def load_member(run_dir: str | Path) -> Member:
    """Load one run directory; refuses anything that is not a finished lensfind run.

    Raises:
        ModelDirError: missing directory, not a lensfind run, no fold models, or a model whose
            input or output does not fit its task.
    """
    run_dir = Path(run_dir)
    expected = ("expected a lensfind run directory (runs/<experiment>/<run>/ with experiment."
                "toml, run.json and fold_<k>/model.keras), as written by `lensfind cv`")
    if not run_dir.is_dir():
        raise ModelDirError(f"--model {run_dir}: no such directory; {expected}")
    try:
        rd = RunDir(run_dir)
        exp = rd.experiment()
        models = rd.load_models()
    except ModelDirError:
        raise
    except Exception as err:  # RunDir's own clear message, whatever its type
        inside = sorted(str(p.parent) for p in list(run_dir.glob("*/run.json"))
                        + list(run_dir.glob("*/*/run.json")))[:5]
        hint = f" (runs found inside: {', '.join(inside)})" if inside else ""
        raise ModelDirError(f"--model {run_dir}: {err}{hint}") from None
    if not models:
        raise ModelDirError(f"--model {run_dir}: no fold has a model.keras yet; {expected}")
    task = get_task(exp.experiment.task)
    head = exp.model.head
    try:
        targets = tuple(task.member_targets(exp, models))
    except ValueError as err:
        raise ModelDirError(f"--model {run_dir}: {err}") from None
    files = []
    for path in sorted(run_dir.glob("fold_*/model.keras")):
        st = path.stat()
        files.append((str(path.relative_to(run_dir)), st.st_size, st.st_mtime_ns))
    bands = tuple(exp.simulation.band_names)
    channels = max(len(bands), 1)
    for k, model in enumerate(models):
        shape = tuple(model.input_shape)
        if len(shape) != 4 or shape[-1] != channels:
            raise ModelDirError(f"--model {run_dir}: fold model {k} takes input {shape}; "
                                f"expected (None, H, W, {channels}) for the run's bands "
                                f"{list(bands)}")
    return Member(label=_label(exp.experiment.name), run_dir=run_dir, task=task, head=head,
                  targets=targets, models=models, files=files, bands=bands)


def run_bands(run_dir: str | Path) -> tuple[str, ...] | None:
    """The bands a run's models take (``()``: one band), read from its experiment file only,
    so a list can be checked against them before any model is loaded; None for a directory
    that is not a readable run (:func:`load_member` refuses it, after the list's checks)."""
    try:
        return tuple(RunDir(Path(run_dir)).experiment().simulation.band_names)
    except Exception:
        return None


def common_bands(bands: Sequence[tuple[str, ...]], run_dirs: Sequence[Path]) -> tuple[str, ...]:
    """The one band list of all members; refuses runs that take different bands."""
    if len(set(bands)) > 1:
        listing = "; ".join(f"{d}: {list(b)}" for d, b in zip(run_dirs, bands))
        raise ModelDirError(f"the models take different bands ({listing}); expected the same "
                            "bands, in the same order, for all --model runs")
    return bands[0] if bands else ()


class Committee:
    """All members of a scoring run, their compiled forward passes and the output columns.

    Args:
        members: loaded run directories (:func:`load_member`).
        mc_samples: MC-dropout passes per model (1 = a deterministic pass).
        batch_size: images per forward pass; the last batch of a chunk is padded to this size
            (by repeating its last image) so every pass has the same shape.
        seed: base of the per-chunk dropout seeds.
        recalibrate: apply each member's :meth:`~lensfind.tasks.base.Task.member_scales`
            (regression: per-parameter sigma factors fitted on its folds' validation splits).
    """

    def __init__(self, members: Sequence[Member], *, mc_samples: int = 1, batch_size: int = 32,
                 seed: int = 0, recalibrate: bool = False):
        if not members:
            raise ModelDirError("no --model given; expected at least one run directory")
        self.members = list(members)
        self.scales = []
        for m in self.members:
            try:
                self.scales.append(m.task.member_scales(m.run_dir) if recalibrate else None)
            except ValueError as err:
                raise ModelDirError(f"--model {m.run_dir} with --recalibrate: {err}") from None
        self._setting: tuple[int, int, int] | None = None
        self._samplers: list[list[DropoutSampler]] = []
        seen: dict[str, int] = {}
        for m in self.members:
            if m.label in seen:
                m.label = _label(f"{m.label}_{m.run_dir.name}")
            while m.label in seen:
                m.label = f"{m.label}_{len(seen)}"
            seen[m.label] = 1
        shapes = {(m.run_dir, tuple(model.input_shape[1:3])) for m in self.members
                  for model in m.models}
        sizes = {s for _, s in shapes}
        if len(sizes) != 1:
            listing = "; ".join(f"{d}: {s[0]}x{s[1]}" for d, s in sorted(shapes, key=str))
            raise ModelDirError(f"the models take different cutout sizes ({listing}); "
                                "expected one size for all --model runs")
        size = sizes.pop()
        if None in size:
            raise ModelDirError(f"the models take cutouts of any size {size}; expected a fixed "
                                "input size")
        self.shape: tuple[int, int] = (int(size[0]), int(size[1]))
        self.bands = common_bands([m.bands for m in self.members],
                                  [m.run_dir for m in self.members])
        self.configure(mc_samples=mc_samples, batch_size=batch_size, seed=seed)

    def configure(self, *, mc_samples: int, batch_size: int, seed: int) -> None:
        """Set the MC passes, batch size and seed (MC dropout is switched on for ``T > 1``)."""
        for name, value in (("--mc-samples", mc_samples), ("--batch-size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} = {value!r} is invalid: expected an integer >= 1")
        setting = (int(mc_samples), int(batch_size), int(seed))
        if setting == self._setting:
            return
        self.mc_samples, self.batch_size, self.seed = setting
        for samplers in self._samplers:
            for sampler in samplers:
                sampler.close()
        self._samplers = [[DropoutSampler(model, passes=self.mc_samples,
                                          batch_size=self.batch_size, seed=self.seed)
                           for model in m.models] for m in self.members]
        self._setting = setting

    @property
    def classifiers(self) -> list[Member]:
        """Members whose samples are pooled into the committee's ranking score (``p_lens``)."""
        return [m for m in self.members if m.task.committee_columns]

    def _tasks(self) -> list[Task]:
        """The members' tasks, in registry order."""
        present = {m.task.name for m in self.members}
        return [task for name, task in TASKS.items() if name in present]

    def columns(self) -> list[str]:
        """Score columns written per row, in order (``rank`` is added by the final pass)."""
        cols = [c for task in self._tasks() for c in task.committee_columns]
        for m in self.members:
            cols += m.task.score_columns(m.label, m.targets)
        return cols

    def fingerprint(self) -> list[dict[str, Any]]:
        return [{"run_dir": str(m.run_dir.resolve()), "label": m.label,
                 "files": [list(f) for f in m.files],
                 "scales": None if sc is None else [float(v) for v in sc]}
                for m, sc in zip(self.members, self.scales)]

    def predict(self, images: np.ndarray, *, chunk: int = 0) -> dict[str, np.ndarray]:
        """Score columns (see :meth:`columns`) for ``images`` float32 ``(n, H, W)``, or
        ``(n, H, W, C)`` for models of C bands."""
        result: dict[str, np.ndarray] = {}
        by_task: dict[str, list[np.ndarray]] = {}
        for i, (m, samplers) in enumerate(zip(self.members, self._samplers)):
            samples = np.concatenate([s.sample(images, key=(chunk, i, j))
                                      for j, s in enumerate(samplers)])  # (S, n, k)
            by_task.setdefault(m.task.name, []).append(samples)
            values = m.task.score_values(m.label, m.targets, m.head, samples)
            if self.scales[i] is not None:
                m.task.recalibrate(m.label, m.targets, values, self.scales[i])
            result.update(values)
        for task in self._tasks():
            result.update(task.committee_values(by_task[task.name]))
        return result
