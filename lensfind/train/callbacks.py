"""Keras callbacks of a fold: timing, progress lines, resumable early stopping, checkpoints.

Order used by :func:`lensfind.train.fit.fit_fold` (Keras calls them in list order)::

    EpochSetter -> EpochTimer -> CSVLogger -> TensorBoard -> ResumableEarlyStopping
        -> FoldCheckpoint -> ProgressLogger -> the caller's callbacks

so the checkpoint of an epoch is on disk before any caller callback (an Optuna pruner, a test
that raises) sees the epoch's logs.
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from lensfind.config.train import CHECKPOINT_COST_FACTOR
from lensfind.files import atomic_write_text
from lensfind.train.augmented import network_of
from lensfind.train.rundir import commit_files, pending_name
from lensfind.zoo.sampling import seed_states

STATE = "state.json"
CHECKPOINT = "checkpoint.keras"
BEST_WEIGHTS = "best.weights.h5"


def _float(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class EpochTimer(keras.callbacks.Callback):
    """Adds ``seconds``, ``cpu_seconds`` (process CPU time) and ``images_per_second`` to logs."""

    def __init__(self, n_images: int):
        super().__init__()
        self.n_images = int(n_images)
        self._t0 = self._c0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        wall = time.perf_counter() - self._t0
        logs["seconds"] = wall
        logs["cpu_seconds"] = time.process_time() - self._c0
        logs["images_per_second"] = self.n_images / wall if wall > 0 else float("nan")


class ProgressLogger(keras.callbacks.Callback):
    """One line per epoch, e.g. ``[exp fold 1/3] epoch 3/30  loss 0.412  val_loss 0.388 ...
    12.1 s (10.3 CPU s)  41.0 img/s *best*``."""

    KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "auc", "val_auc")

    def __init__(self, label: str, epochs: int, *, stream=None, keys=None):
        super().__init__()
        self.label = label
        self.epochs = epochs
        self.stream = stream
        self.keys = tuple(keys) if keys else self.KEYS

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"{self.label} epoch {epoch + 1}/{self.epochs}"]
        for key in self.keys:
            if key in logs:
                parts.append(f"{key} {float(logs[key]):.4f}")
        if "seconds" in logs:
            parts.append(f"{logs['seconds']:.1f} s ({logs.get('cpu_seconds', 0):.1f} CPU s)")
            parts.append(f"{logs.get('images_per_second', 0):.1f} img/s")
        if logs.get("improved"):
            parts.append("*best*")
        self._print("  ".join(parts))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras ``EarlyStopping`` whose counters survive a restart (:meth:`get_state` /
    ``initial_state``). Best weights are kept on disk by :class:`FoldCheckpoint`, not in memory.
    """

    def __init__(self, *, initial_state: dict | None = None, **kwargs):
        kwargs.setdefault("restore_best_weights", False)
        super().__init__(**kwargs)
        self.initial_state = initial_state or {}
        self.improved = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        s = self.initial_state
        if s:
            self.wait = int(s.get("wait", 0))
            self.best = s.get("best")
            self.best_epoch = int(s.get("best_epoch", 0))
            self.stopped_epoch = int(s.get("stopped_epoch", 0))

    def on_epoch_end(self, epoch, logs=None):
        before = self.best
        super().on_epoch_end(epoch, logs)
        self.improved = self.best is not None and (before is None or self.best != before)
        if logs is not None:
            logs["improved"] = float(self.improved)

    def get_state(self) -> dict[str, Any]:
        return {"wait": int(self.wait), "best": _float(self.best) if self.best is not None
                else None, "best_epoch": int(self.best_epoch),
                "stopped_epoch": int(self.stopped_epoch)}


class FoldCheckpoint(keras.callbacks.Callback):
    """After every epoch: best weights (if improved), ``checkpoint.keras`` and ``state.json``.

    With ``every_s > 0`` (``train.checkpoint_every_s``) the files are written only when at
    least ``every_s`` seconds have passed since the last write, and always after the last
    epoch (also an early stop): for short epochs on a fast GPU, where writing a large model
    every epoch would cost much of the time. With ``every_s = "auto"`` the wait is
    ``CHECKPOINT_COST_FACTOR`` times the duration of the last write (the first epoch
    writes), so writing costs at most 1/50 of the time whatever the machine and model.
    Best weights of skipped epochs are kept in host memory (``get_weights``; copies on the
    device compiled one copy op per shape on JAX, 0.6 s for LensFlow on an H200) until the
    next write.
    A killed fold then resumes from the last write and repeats the
    epochs after it -- with the same result, batches and dropout masks being pure functions
    of seed, fold, epoch and batch.

    Written as a journal (``new.*`` files, ``new.state.json`` last, then renamed; see
    :func:`lensfind.train.rundir.recover_fold`), so a kill at any instant resumes from the last
    complete epoch.

    Args:
        folder: the fold directory.
        epochs: the fold's maximum number of epochs.
        early_stopping: the :class:`ResumableEarlyStopping` in use, or ``None`` (then the last
            epoch's weights are final and no best weights are kept).
        history: per-epoch logs so far (resumed from ``state.json``); appended to.
        extra: more JSON-able state saved with every epoch (e.g. the monitor name).
        every_s: least seconds between two writes (0: after every epoch), or ``"auto"``.
    """

    def __init__(self, folder: Path, *, epochs: int, early_stopping: ResumableEarlyStopping | None,
                 history: list[dict], extra: dict | None = None,
                 on_saved: Callable[[int], None] | None = None, every_s: float | str = 0.0):
        super().__init__()
        self.folder = Path(folder)
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.history = history
        self.extra = extra or {}
        self.on_saved = on_saved
        self.auto = every_s == "auto"
        self.every_s = 0.0 if self.auto else float(every_s)
        self._last_write = time.monotonic()
        self._write_seconds = 0.0  # how long the last write took
        self._pending_best: list | None = None  # best weights of an epoch not yet written

    def _wait_s(self) -> float:
        """Least seconds between the last write and the next."""
        return CHECKPOINT_COST_FACTOR * self._write_seconds if self.auto else self.every_s

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        entry = {"epoch": epoch}
        entry.update({k: _float(v) for k, v in logs.items()})
        self.history.append(entry)
        names = []
        es = self.early_stopping
        final = bool(self.model.stop_training) or epoch + 1 >= self.epochs
        if not final and time.monotonic() - self._last_write < self._wait_s():
            if es is not None and es.improved:
                self._pending_best = self.model.get_weights()
            return
        started = time.monotonic()
        if es is not None and es.improved:
            network_of(self.model).save_weights(self.folder / pending_name(BEST_WEIGHTS))
            names.append(BEST_WEIGHTS)
        elif self._pending_best is not None:  # an earlier skipped epoch was the best
            current = self.model.get_weights()
            self.model.set_weights(self._pending_best)
            try:
                network_of(self.model).save_weights(self.folder / pending_name(BEST_WEIGHTS))
            finally:
                self.model.set_weights(current)
            names.append(BEST_WEIGHTS)
        self._pending_best = None
        self.model.save(self.folder / pending_name(CHECKPOINT))
        names.append(CHECKPOINT)
        state = {
            "epoch": epoch + 1,  # epochs finished
            "epochs": self.epochs,
            "stopped": bool(self.model.stop_training) or epoch + 1 >= self.epochs,
            "early_stopping": es.get_state() if es is not None else None,
            "rng_states": seed_states(self.model),
            "history": self.history,
            **self.extra,
        }
        atomic_write_text(self.folder / pending_name(STATE), json.dumps(state, indent=1) + "\n")
        names.append(STATE)
        commit_files(self.folder, names)
        self._last_write = time.monotonic()
        self._write_seconds = self._last_write - started
        if self.on_saved is not None:
            self.on_saved(epoch)


def tensorboard_callback(log_dir: Path) -> tuple[keras.callbacks.Callback | None, str]:
    """Keras' TensorBoard callback, or ``(None, reason)`` where it cannot work.

    It needs the TensorFlow backend and the ``tensorboard`` package (``tf.summary`` raises
    without it).
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return None, f"TensorBoard logs skipped: keras backend is {backend!r}, not tensorflow"
    if importlib.util.find_spec("tensorboard") is None:
        return None, "TensorBoard logs skipped: the tensorboard package is not installed"
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False,
                                       profile_batch=0), ""
