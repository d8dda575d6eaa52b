"""The ``[train]`` table of an experiment file: optimiser, epochs, folds and augmentation."""
from __future__ import annotations

import dataclasses
import math

from lensfind.zoo.config import OPTIMIZERS
from lensfind.validation import check_choice, check_interval, check_range, fail

#: ``train.augment.rotation``: how rotation angles are drawn
ROTATIONS = ("uniform", "right_angles")
#: Keras dtype policies for ``train.mixed_precision`` (heads and losses stay float32)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
#: ``train.distribute``: one device, or the batch split over all devices of one machine
DISTRIBUTIONS = ("none", "data_parallel")
#: ``train.augment_on``: where training images are resampled (the training step, or SciPy on the
#: host; :mod:`lensfind.data.sequence`)
AUGMENT_PLACES = ("device", "host")
#: ``train.checkpoint_every_s = "auto"``: a resume checkpoint is written once the training time
#: since the last one is at least this many times what that write took (<= 2 % of the time)
CHECKPOINT_COST_FACTOR = 50.0
#: ``train.lr_schedule``: name -> factor of ``train.learning_rate`` at epoch ``e`` of ``n``
#: (0-based): constant, or a cosine from 1 down to 0 over the run (Loshchilov & Hutter 2017,
#: SGDR, without restarts), set at the start of each epoch
LR_SCHEDULES = {
    "constant": lambda e, n: 1.0,
    "cosine": lambda e, n: 0.5 * (1.0 + math.cos(math.pi * e / n)),
}


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Random transforms applied to training folds only (thesis section 5.1).

    Attributes:
        rotation: ``"uniform"``: an angle drawn uniformly in [-rotation_deg, rotation_deg]
            degrees and resampled bilinearly, which smooths the noise (white noise after a
            random +-180 deg rotation: pixel sigma x 0.67, neighbour correlation 0.26);
            ``"right_angles"``: 0, 90, 180 or 270 degrees, with the flips the 8 exact moves of
            a square grid, which keep every pixel's noise (``rotation_deg`` is not used).
            Regression targets learn their error bars from the noise: use ``"right_angles"``
            with zoom 1 there.
        rotation_deg: rotation drawn uniformly in [-rotation_deg, rotation_deg] degrees.
        zoom: range of the zoom factor (1.0 = none; 0.9 magnifies the cutout by 1/0.9).
        shear_deg: shear angle drawn in [-shear_deg, shear_deg] degrees.
        flip_horizontal: random left-right flips.
        flip_vertical: random up-down flips.
    """

    enabled: bool = True
    rotation: str = "uniform"
    rotation_deg: float = 45.0
    zoom: tuple[float, float] = (0.9, 1.0)
    shear_deg: float = 15.0
    flip_horizontal: bool = True
    flip_vertical: bool = True

    def __post_init__(self):
        check_choice("train.augment.rotation", self.rotation, ROTATIONS)
        check_range("train.augment.rotation_deg", self.rotation_deg, 0.0, 180.0)
        check_interval("train.augment.zoom", self.zoom, 0.0, 10.0, lo_open=True)
        check_range("train.augment.shear_deg", self.shear_deg, 0.0, 60.0)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How models are fitted and validated.

    Attributes:
        folds: k of the stratified, groups-aware k-fold cross-validation.
        epochs: maximum epochs per fold.
        batch_size: images per step.
        learning_rate: initial learning rate of the optimiser.
        optimizer: one of ``OPTIMIZERS``.
        patience: early-stopping patience in epochs (0 disables early stopping).
        mc_samples: MC-dropout passes at prediction for regression heads.
        augment: the augmentation table.
        mixed_precision: Keras dtype policy while the fold's model is built and trained:
            ``"float32"``, ``"mixed_bfloat16"`` (GPUs from Ampere on, TPUs) or
            ``"mixed_float16"`` (older GPUs; the loss is scaled automatically). Variables,
            the input normalisation, the head outputs and the losses stay float32.
        jit_compile: ``Model.compile(jit_compile=...)``: ``"auto"`` (Keras decides; XLA on JAX
            always), ``true`` or ``false``.
        distribute: ``"none"`` or ``"data_parallel"``: every step's batch is split over all
            devices of the machine (JAX: ``keras.distribution.DataParallel``; TensorFlow:
            ``tf.distribute.MirroredStrategy``). ``batch_size`` is the global batch.
        checkpoint_every_s: least seconds between two resume checkpoints of a fold (0: after
            every epoch), or ``"auto"`` (the default): after the first epoch, then whenever the
            training since the last write took at least ``CHECKPOINT_COST_FACTOR`` (50) times
            that write, so checkpoints cost at most 2 % of the time on any machine. The price:
            a killed fold repeats up to 50 write-times plus one epoch of training (with the
            same result; on a GPU with a 250 MB Xception checkpoint, about 2 minutes).
            The last epoch (or an early stop) always writes one.
        augment_on: one of ``AUGMENT_PLACES``: ``"device"`` resamples the images inside the
            compiled training step (``keras.ops``; the host only draws the transforms and
            slices arrays), ``"host"`` with SciPy in the batch threads.
        data_on_device: keep a fold's training images on the accelerator for the whole fold
            (device augmentation only): ``"auto"`` (the JAX backend on a GPU or TPU, when they
            take at most 8 GiB), ``true`` or ``false``.
        lr_schedule: one of ``LR_SCHEDULES``: the learning rate of each epoch as a factor of
            ``learning_rate`` (``"cosine"`` decays it to near 0 by the last epoch, which
            settles batch norm's validation swings and needs no early stopping).
    """

    folds: int = 7
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-4
    optimizer: str = "adam"
    patience: int = 5
    mc_samples: int = 30
    augment: AugmentConfig = AugmentConfig()
    mixed_precision: str = "float32"
    jit_compile: str | bool = "auto"
    distribute: str = "none"
    checkpoint_every_s: float | str = "auto"
    lr_schedule: str = "constant"
    augment_on: str = "device"
    data_on_device: str | bool = "auto"

    def __post_init__(self):
        for name in ("folds", "epochs", "batch_size", "patience", "mc_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(f"train.{name}", value, "an integer")
        check_range("train.folds", self.folds, 2, 100)
        check_range("train.epochs", self.epochs, 1)
        check_range("train.batch_size", self.batch_size, 1)
        check_range("train.learning_rate", self.learning_rate, 0.0, 1.0, lo_open=True)
        check_choice("train.optimizer", self.optimizer, OPTIMIZERS)
        check_range("train.patience", self.patience, 0)
        check_range("train.mc_samples", self.mc_samples, 1)
        check_choice("train.mixed_precision", self.mixed_precision, PRECISIONS)
        if not isinstance(self.jit_compile, bool) and self.jit_compile != "auto":
            fail("train.jit_compile", self.jit_compile, "true, false or 'auto'")
        check_choice("train.distribute", self.distribute, DISTRIBUTIONS)
        if self.checkpoint_every_s != "auto":
            if isinstance(self.checkpoint_every_s, (str, bool)):
                fail("train.checkpoint_every_s", self.checkpoint_every_s,
                     "'auto' or seconds >= 0")
            check_range("train.checkpoint_every_s", self.checkpoint_every_s, 0.0)
        check_choice("train.augment_on", self.augment_on, AUGMENT_PLACES)
        if not isinstance(self.data_on_device, bool) and self.data_on_device != "auto":
            fail("train.data_on_device", self.data_on_device, "true, false or 'auto'")
        check_choice("train.lr_schedule", self.lr_schedule, tuple(LR_SCHEDULES))

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of (0-based) ``epoch`` under ``lr_schedule``."""
        return self.learning_rate * LR_SCHEDULES[self.lr_schedule](epoch, self.epochs)
