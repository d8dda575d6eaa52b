"""Fit one model on one split, resumably, with early stopping and per-epoch checkpoints.

:func:`fit_split` is the one training recipe -- cross-validation folds, tuning's hold-out fits and
``benchmarks/bench_train.py`` all call it: seed the initialisation from ``(seed, "init", fold)``,
take the task's targets, build the augmented training sequence and the validation arrays, build
the model (and let the task prepare it), and fit with :func:`fit_fold`.

:func:`fit_fold` starts a fresh model (from ``build()``) or, when the fold folder holds a
``state.json`` from an interrupted run, reloads ``checkpoint.keras`` (weights *and* optimizer
state), the dropout random-generator states, the early-stopping counters and the history, and
continues at the next epoch. With the same seeds and deterministic ops the result equals that of
an uninterrupted fit bit for bit (tested on CPU).

Early stopping watches ``monitor`` on the validation data (patience from ``TrainConfig``;
patience 0 trains all epochs); the final model has the weights of the best epoch.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from lensfind.data.sequence import (AugmentedSequence, EpochSetter, data_on_device,
                                    with_channels)
from lensfind.seeds import derive_seed, set_random_seed
from lensfind.tasks import FoldContext, Task, get_task
from lensfind.train.augmented import for_training, network_of
from lensfind.train.callbacks import (BEST_WEIGHTS, CHECKPOINT, STATE, EpochTimer,
                                      FoldCheckpoint, ProgressLogger, ResumableEarlyStopping,
                                      tensorboard_callback)
from lensfind.train.distribute import training_scope
from lensfind.train.rundir import recover_fold
from lensfind.validation import fail, lookup
from lensfind.zoo.backbones import BACKBONES
from lensfind.zoo.config import REGIMES
from lensfind.zoo.heads import HEADS
from lensfind.zoo.model import (build_model, compile_model, load_model, resolve_input_size,
                                resolve_weights)
from lensfind.zoo.sampling import set_seed_states

HISTORY = "history.csv"
FINAL_MODEL = "model.keras"


@dataclasses.dataclass
class FitResult:
    """What :func:`fit_fold` returns.

    Attributes:
        model: the final model (best epoch's weights when early stopping is on).
        history: one dict per finished epoch (``epoch`` from 0, losses, metrics, ``seconds``,
            ``cpu_seconds``, ``images_per_second``).
        best_epoch: epoch (from 0) whose weights are final.
        resumed_from: epochs already done when this call started (0 for a fresh fit).
        stopped_early: early stopping ended the fit before ``epochs``.
    """

    model: keras.Model
    history: list[dict]
    best_epoch: int
    resumed_from: int
    stopped_early: bool


def load_checkpoint(path: Path) -> keras.Model:
    """Load a ``.keras`` checkpoint with its optimizer (``safe_mode=True``)."""
    return load_model(path, compile=True)


def read_state(folder: Path) -> dict | None:
    """The fold's ``state.json`` after recovering an interrupted commit, or ``None``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    recover_fold(folder)
    path = folder / STATE
    if not path.is_file() or not (folder / CHECKPOINT).is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _truncate_history(path: Path, n_epochs: int) -> None:
    """Keep the header and the first ``n_epochs`` rows (rows of a lost epoch are dropped)."""
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows[:1 + n_epochs])


def fit_fold(build: Callable[[], keras.Model], train_data, validation_data, folder: Path, *,
             epochs: int, patience: int, monitor: str = "val_loss", mode: str = "min",
             batch_size: int = 32, callbacks: Sequence[keras.callbacks.Callback] = (),
             progress: bool = True, label: str = "", tensorboard: bool = True,
             stream=None, precision: str = "float32", distribute: str = "none",
             checkpoint_every_s: float | str = 0.0,
             training_model: Callable[[keras.Model], keras.Model] | None = None) -> FitResult:
    """Train on ``train_data`` (a :class:`~lensfind.data.sequence.AugmentedSequence`),
    validating on ``validation_data`` (``(x, y)`` arrays), resuming from ``folder``.

    Args:
        build: makes a fresh *compiled* model (called only when there is nothing to resume).
        train_data: the training sequence; its epoch is set by an ``EpochSetter``.
        validation_data: ``(x, y)`` for early stopping and learning curves.
        folder: fold directory (created if needed).
        epochs: maximum number of epochs.
        patience: early-stopping patience (0 disables early stopping).
        monitor, mode: quantity watched by early stopping / best-epoch selection.
        batch_size: validation batch size.
        callbacks: extra callbacks, run after the epoch's checkpoint is on disk.
        progress: print one line per epoch.
        label: prefix of progress lines, e.g. ``"fold 2/7"``.
        tensorboard: write TensorBoard logs when possible.
        stream: where progress goes (default stdout).
        precision, distribute: ``train.mixed_precision`` and ``train.distribute``; the model is
            built (or resumed) and fitted inside
            :func:`~lensfind.train.distribute.training_scope` with them.
        checkpoint_every_s: least seconds between two checkpoints (0: every epoch, or
            ``"auto"``; see :class:`~lensfind.train.callbacks.FoldCheckpoint`).
        training_model: turns the built or resumed model into the one ``Model.fit`` trains
            (e.g. :func:`~lensfind.train.augmented.for_training` for device augmentation;
            default: the model as it is); the result's ``model`` is always the network
            (:func:`network_of`).
    """
    with training_scope(precision, distribute, batch_size=batch_size) as plan:
        return _fit(plan, build, train_data, validation_data, folder, epochs=epochs,
                    patience=patience, monitor=monitor, mode=mode, batch_size=batch_size,
                    callbacks=callbacks, progress=progress, label=label,
                    tensorboard=tensorboard, stream=stream,
                    checkpoint_every_s=checkpoint_every_s, training_model=training_model)


def _fit(plan, build, train_data, validation_data, folder, *, epochs, patience, monitor, mode,
         batch_size, callbacks, progress, label, tensorboard, stream,
         checkpoint_every_s, training_model) -> FitResult:
    """The body of :func:`fit_fold`, inside its training scope ``plan``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = read_state(folder)
    if state is not None:
        model = load_checkpoint(folder / CHECKPOINT)
        set_seed_states(model, state.get("rng_states", []))
        start = int(state["epoch"])
        history = list(state.get("history", []))
        es_state = state.get("early_stopping") or {}
        finished = bool(state.get("stopped"))
        _truncate_history(folder / HISTORY, start)
        if progress:
            print(f"{label} resuming after epoch {start}" if not finished else
                  f"{label} training had finished at epoch {start}; writing results",
                  file=stream or sys.stdout, flush=True)
    else:
        for stale in (HISTORY, BEST_WEIGHTS):
            (folder / stale).unlink(missing_ok=True)
        model = build()
        start, history, es_state, finished = 0, [], {}, False
    if training_model is not None:
        model = training_model(model)

    es = None
    if patience > 0:
        es = ResumableEarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                    initial_state=es_state)
    cbs: list[keras.callbacks.Callback] = [EpochSetter(train_data), EpochTimer(
        len(train_data.indices) if hasattr(train_data, "indices") else 0),
        keras.callbacks.CSVLogger(str(folder / HISTORY), append=start > 0)]
    if tensorboard:
        tb, note = tensorboard_callback(folder / "tensorboard")
        if tb is not None:
            cbs.append(tb)
        elif progress and start == 0:
            print(f"{label} {note}", file=stream or sys.stdout, flush=True)
    if es is not None:
        cbs.append(es)
    cbs.append(FoldCheckpoint(folder, epochs=epochs, early_stopping=es, history=history,
                              extra={"monitor": monitor, "mode": mode},
                              every_s=checkpoint_every_s))
    if progress:
        cbs.append(ProgressLogger(label, epochs, stream=stream))
    cbs.extend(callbacks)

    if not finished and start < epochs:
        fit_data, fit_validation = plan.adapt(train_data, validation_data)
        model.fit(fit_data, validation_data=fit_validation, epochs=epochs,
                  initial_epoch=start, shuffle=False, verbose=0, callbacks=cbs,
                  validation_batch_size=plan.validation_batch_size(batch_size))
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        es_state = state.get("early_stopping") or {}

    best_epoch = len(history) - 1
    if es is not None and (folder / BEST_WEIGHTS).is_file():
        network_of(model).load_weights(folder / BEST_WEIGHTS)
        best_epoch = int(es_state.get("best_epoch", best_epoch))
    stopped_early = len(history) < epochs
    return FitResult(model=network_of(model), history=history, best_epoch=best_epoch,
                     resumed_from=start, stopped_early=stopped_early)


# ------------------------------------------------------------------------------ the recipe

def check_experiment(exp) -> Task:
    """Refuse settings that cannot run, before loading data or building anything."""
    task = get_task(exp.experiment.task)
    lookup(BACKBONES, exp.model.backbone, "model.backbone")
    if exp.model.regime not in REGIMES:
        fail("model.regime", exp.model.regime, "one of " + ", ".join(map(repr, REGIMES)))
    lookup(HEADS, exp.model.head, "model.head")
    task.check_config(exp)
    resolve_input_size(exp.model)
    resolve_weights(exp.model)
    return task


def default_build(exp, input_shape, n_targets) -> keras.Model:
    """The zoo's model for ``exp``, compiled with its head's loss and the ``[train]`` optimiser."""
    model = build_model(config=exp.model, input_shape=input_shape, n_targets=n_targets)
    return compile_model(model, config=exp.model, train=exp.train, n_targets=n_targets)


def _schedule(train) -> list[keras.callbacks.Callback]:
    """The ``train.lr_schedule`` callback (none for a constant rate: the optimiser's own)."""
    if train.lr_schedule == "constant":
        return []
    return [keras.callbacks.LearningRateScheduler(lambda epoch, lr: train.learning_rate_at(epoch))]


def fit_split(exp, task: Task, ctx: FoldContext, *, build: Callable = default_build,
              callbacks: Sequence[keras.callbacks.Callback] = (), progress: bool = True,
              label: str = "", tensorboard: bool = True, stream=None,
              sequence_options: Mapping = {}) -> FitResult:
    """Train ``exp``'s network on ``ctx.train``, validating on ``ctx.val``, in ``ctx.folder``.

    Args:
        exp: the experiment (``[model]``, ``[train]``, seed).
        task: its task (targets, model preparation, early-stopping monitor).
        ctx: the split; ``ctx.fold`` keys the initialisation, shuffling and augmentation seeds.
        build: ``build(exp, input_shape, n_targets) -> compiled keras.Model``.
        callbacks, progress, label, tensorboard, stream: as :func:`fit_fold`.
        sequence_options: extra arguments of
            :class:`~lensfind.data.sequence.AugmentedSequence` (e.g. ``workers``).
    """
    keras.backend.clear_session()
    set_random_seed(derive_seed(exp.seed, "init", ctx.fold))  # no TensorFlow import under JAX
    targets, label_fn = task.train_targets(ctx)
    images = ctx.dataset.images
    device = exp.train.augment_on == "device"
    sequence = AugmentedSequence(
        images, targets, ctx.train, batch_size=exp.train.batch_size, seed=exp.seed,
        fold=ctx.fold, augment=exp.train.augment, shuffle=True, label_fn=label_fn,
        device_augment=device,
        resident=device and data_on_device(exp.train.data_on_device,
                                           len(ctx.train) * images[0].nbytes),
        **sequence_options)
    labels = list(label_fn.names) if sequence.device_augment and label_fn is not None else None
    x_val = with_channels(np.asarray(images[ctx.val], dtype=np.float32))
    y_val = task.validation_targets(ctx)
    input_shape = with_channels(images[:1]).shape[1:]
    n_targets = task.n_targets(exp)
    return fit_fold(lambda: task.prepare_model(ctx, build(exp, input_shape, n_targets)),
                    sequence, (x_val, y_val), ctx.folder, epochs=exp.train.epochs,
                    patience=exp.train.patience, monitor=task.monitor, mode=task.mode,
                    batch_size=exp.train.batch_size, callbacks=[*_schedule(exp.train), *callbacks],
                    progress=progress,
                    label=label, tensorboard=tensorboard, stream=stream,
                    precision=exp.train.mixed_precision, distribute=exp.train.distribute,
                    checkpoint_every_s=exp.train.checkpoint_every_s,
                    training_model=lambda m: for_training(m, device=sequence.device_augment,
                                                          labels=labels))
