"""Run directories: the unit of output and of resume of a cross-validation run.

Layout (``runs/<experiment>/<run_id>/``)::

    experiment.toml      resolved experiment (what ran; reloadable with load_experiment)
    run.json             format marker, run id, task, seed, created, versions, git hash, host
    folds.json           per-fold train/test indices into the data set (+ validation indices)
    fold_<k>/            one per fold:
        checkpoint.keras     last finished epoch: model + optimizer state (resume; deleted
                             when the fold is DONE)
        state.json           epochs done, early-stopping state, RNG states, history
        best.weights.h5      weights of the best epoch so far (early stopping; deleted at DONE)
        history.csv          per-epoch losses and metrics (keras CSVLogger)
        tensorboard/         TensorBoard logs (when the tensorboard package is installed)
        model.keras          final model (best epoch), written when the fold ends
        metrics.json         test-fold metrics
        oof.csv              out-of-fold predictions: index, system_id, label, kind, score...
        DONE                 marker written last: the fold is finished and never redone
    summary.{csv,md,json}    the results table over the finished folds
    plots/                   roc.png, learning_curves.png

Files are written atomically (temporary name + rename), so a run killed at any moment leaves
either the old or the new version of each file. The per-epoch checkpoint is a small journal:
new files are written as ``new.<name>`` and ``new.state.json`` last; :func:`recover_fold` rolls
an interrupted commit forward (if ``new.state.json`` is there) or back.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from lensfind.config import load_experiment, to_plain
from lensfind.data.folds import load_folds
from lensfind.data.store import package_versions, to_toml
from lensfind.files import atomic_write_text, read_json, write_json
from lensfind.validation import ConfigError
from lensfind.zoo.model import load_model

FORMAT = "lensfind-run"
DEFAULT_RUNS_ROOT = "runs"
RUN_FILE = "run.json"
EXPERIMENT_FILE = "experiment.toml"
FOLDS_FILE = "folds.json"
DONE = "DONE"
VERSION_PACKAGES = ("lensfind", "numpy", "scipy", "scikit-learn", "keras", "tensorflow", "jax",
                    "jaxlib", "h5py", "matplotlib")


class RunError(ValueError):
    """A folder is not a (usable) lensfind run directory; the message says what is wrong."""


PENDING = "new."


def pending_name(name: str) -> str:
    """Name under which the next version of ``name`` is written before the commit
    (``new.checkpoint.keras``: Keras insists on the ``.keras`` / ``.weights.h5`` endings)."""
    return PENDING + name


def commit_files(folder: Path, names: Sequence[str]) -> None:
    """Rename ``new.<name>`` to ``<name>`` for each name; ``state.json`` must be the last name."""
    for name in names:
        new = folder / pending_name(name)
        if new.exists():
            os.replace(new, folder / name)


def recover_fold(folder: Path) -> None:
    """Finish or undo an epoch commit that was interrupted (see the module doc)."""
    pending = sorted(p.name[len(PENDING):] for p in folder.glob(PENDING + "*"))
    if not pending:
        return
    if "state.json" in pending:  # everything was written: roll forward
        commit_files(folder, [n for n in pending if n != "state.json"] + ["state.json"])
    else:  # the epoch's files were not all written: roll back
        for name in pending:
            (folder / pending_name(name)).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- metadata

def git_revision(path: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding ``path``."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=cwd, capture_output=True, text=True, timeout=10)
        return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def versions() -> dict[str, str]:
    out = package_versions(VERSION_PACKAGES)
    out["keras_backend"] = keras.backend.backend()
    return out


def new_run_id(root: Path) -> str:
    """``YYYYmmdd-HHMMSS`` (UTC), with ``-2``, ``-3``... if that folder exists already."""
    base = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id, n = base, 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


# ----------------------------------------------------------------------------------- RunDir

class RunDir:
    """A run directory (see the module doc). ``RunDir(path)`` opens an existing one.

    Raises:
        RunError: ``path`` is not a lensfind run directory.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        run_file = self.path / RUN_FILE
        if not run_file.is_file():
            why = "no such folder" if not self.path.exists() else f"no {RUN_FILE} in it"
            raise RunError(f"{self.path} is not a lensfind run directory ({why}): expected a "
                           "folder made by `lensfind cv`, e.g. runs/<experiment>/<run_id>")
        try:
            info = read_json(run_file)
        except (OSError, ValueError) as err:
            raise RunError(f"{run_file} is unreadable: {err}") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise RunError(f"{self.path} is not a lensfind run directory ({RUN_FILE} has no "
                           f"format = {FORMAT!r})")
        self.info: dict[str, Any] = info

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- creation and lookup
    @classmethod
    def create(cls, path: str | Path, exp, *, extra: dict | None = None) -> "RunDir":
        """Make a new run directory for experiment ``exp`` at ``path`` (must not be a run)."""

        path = Path(path)
        if (path / RUN_FILE).exists():
            raise RunError(f"{path} is already a run directory")
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / EXPERIMENT_FILE,
                          f"# resolved experiment of run {path.name} (written by lensfind cv)\n"
                          + to_toml(to_plain(exp)))
        info = {
            "format": FORMAT, "format_version": 1, "run_id": path.name,
            "experiment": exp.name, "task": exp.experiment.task, "seed": exp.seed,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), "git": git_revision(),
            "host": {"node": platform.node(), "machine": platform.machine(),
                     "cpus": os.cpu_count()},
            **(extra or {}),
        }
        write_json(path / RUN_FILE, info)
        return cls(path)

    @staticmethod
    def experiment_root(runs_root: str | Path, name: str) -> Path:
        return Path(runs_root) / name

    @classmethod
    def runs_of(cls, runs_root: str | Path, name: str) -> list["RunDir"]:
        """Runs of experiment ``name`` under ``runs_root``, oldest first."""
        root = cls.experiment_root(runs_root, name)
        runs = []
        for p in sorted(root.iterdir()) if root.is_dir() else []:
            if (p / RUN_FILE).is_file():
                try:
                    runs.append(cls(p))
                except RunError:
                    continue
        return sorted(runs, key=lambda r: (r.info.get("created", ""), r.path.name))

    # -- contents
    def experiment(self):
        """The resolved :class:`~lensfind.config.Experiment` this run was made with (settings
        retired since are dropped: the run still scores)."""
        return load_experiment(self.path / EXPERIMENT_FILE, retired="drop")

    def same_settings(self, exp) -> bool:
        try:
            return to_plain(self.experiment()) == to_plain(exp)
        except (ConfigError, OSError):
            return False

    @property
    def task(self) -> str:
        return self.info.get("task", "classify")

    @property
    def folds_path(self) -> Path:
        return self.path / FOLDS_FILE

    def folds(self):
        """The saved :class:`~lensfind.data.folds.Fold` list."""
        if not self.folds_path.is_file():
            raise RunError(f"{self.path} has no {FOLDS_FILE} yet (the run never started a fold)")
        return load_folds(self.folds_path)

    def n_folds(self) -> int:
        if self.folds_path.is_file():
            return int(read_json(self.folds_path)["k"])
        return int(self.experiment().train.folds)

    def fold_dir(self, k: int) -> Path:
        return self.path / f"fold_{k}"

    def fold_dirs(self) -> list[Path]:
        """Existing ``fold_<k>`` folders, in fold order."""
        dirs = [p for p in self.path.glob("fold_*") if re.fullmatch(r"fold_\d+", p.name)]
        return sorted(dirs, key=lambda p: int(p.name.split("_")[1]))

    def finished_folds(self) -> list[int]:
        return [int(p.name.split("_")[1]) for p in self.fold_dirs() if (p / DONE).is_file()]

    def is_complete(self) -> bool:
        return len(self.finished_folds()) == self.n_folds()

    def load_models(self, *, compile: bool = False) -> list:  # noqa: A002
        """Final models of the finished folds, in fold order (``safe_mode=True``)."""
        return [load_model(self.fold_dir(k) / "model.keras", compile=compile)
                for k in self.finished_folds()]

    def summary(self) -> dict[str, Any]:
        path = self.path / "summary.json"
        if not path.is_file():
            raise RunError(f"{self.path} has no summary.json yet: run `lensfind aggregate "
                           f"{self.path}` once at least one fold is finished")
        return read_json(path)


def find_resumable(runs_root: str | Path, exp) -> RunDir | None:
    """The latest run of ``exp`` (same name and identical settings), or ``None``."""
    for run in reversed(RunDir.runs_of(runs_root, exp.name)):
        if run.same_settings(exp):
            return run
    return None
