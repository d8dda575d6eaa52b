"""Keras ``PyDataset`` feeding cutouts to ``model.fit``: shuffled, augmented, reproducible.

Two places for the augmentation (``train.augment_on``): ``"device"`` (the default) sends each
batch's images untouched with their packed transforms
(:func:`~lensfind.data.device_augment.packed_inputs`), and the training step resamples them on
the accelerator; the host then only draws 7 numbers per image and slices arrays -- one gather
of the in-memory set per batch, or, with ``resident``, a gather on the device from the fold's
training images copied there once. ``"host"`` resamples every image here with SciPy
(:func:`~lensfind.data.augment.apply_transforms`).

Every batch is a pure function of ``(seed, fold, epoch, batch index)``: the image order of an
epoch comes from ``rng_for(seed, "shuffle", fold, epoch)`` and the transforms of a batch from
``rng_for(seed, "augment", fold, epoch, batch)``. Nothing depends on Python's global RNG, on
Keras' own shuffling (call ``fit(..., shuffle=False)``) or on how many batches were drawn before,
so a run resumed at epoch ``e`` sees exactly the batches an uninterrupted run sees.

The current epoch is set by :class:`EpochSetter` (a callback) at the start of every epoch.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import keras
import numpy as np

from lensfind.data.augment import Transform, apply_transforms, random_transforms
from lensfind.data.device_augment import packed_inputs
from lensfind.seeds import rng_for

LabelFn = Callable[[np.ndarray, Transform], np.ndarray]

#: environment variable overriding :func:`default_workers`
WORKERS_ENV = "LENSFIND_DATA_WORKERS"


def with_channels(images: np.ndarray) -> np.ndarray:
    """Model input ``(N, H, W, C)``: single-band ``(N, H, W)`` images get a channel axis of 1,
    multi-band ones are already ``(N, H, W, C)``."""
    return images[..., None] if images.ndim == 3 else images


def default_workers() -> int:
    """Threads preparing training batches ahead of the model (:class:`AugmentedSequence`).

    ``$LENSFIND_DATA_WORKERS`` if set, else half the CPU cores, at most 8 (1 on a 2-core
    machine: batches are then made when Keras asks for them). The resampling of
    :func:`~lensfind.data.augment.apply_transforms` releases the GIL, so threads scale; batches
    are pure functions of ``(seed, fold, epoch, batch)``, so the number of threads never
    changes what is trained.
    """
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{WORKERS_ENV} = {value!r} is invalid: expected an integer >= 1") \
                from None
        if n < 1:
            raise ValueError(f"{WORKERS_ENV} = {value!r} is invalid: expected an integer >= 1")
        return n
    return max(1, min(8, (os.cpu_count() or 2) // 2))


#: most bytes of training images ``train.data_on_device = "auto"`` keeps on an accelerator
RESIDENT_MAX_BYTES = 8 * 2**30


def data_on_device(setting: str | bool, nbytes: int) -> bool:
    """Resolve ``train.data_on_device`` for a fold whose training images take ``nbytes``:
    ``"auto"`` is true on the JAX backend with a GPU or TPU and at most
    :data:`RESIDENT_MAX_BYTES` (TensorFlow copies every batch through ``tf.data`` anyway)."""
    if setting != "auto":
        return bool(setting)
    if keras.backend.backend() != "jax" or nbytes > RESIDENT_MAX_BYTES:
        return False
    import jax
    return jax.default_backend() != "cpu"


class AugmentedSequence(keras.utils.PyDataset):
    """Batches ``(images[idx][..., None], y)`` over ``indices`` of a data set.

    Args:
        images: (N, H, W) or (N, H, W, C) float array (the whole set; only ``indices`` are used).
        targets: (N, ...) array of targets (label-preserving augmentation), or ``None`` when
            ``label_fn`` makes them.
        indices: which images this sequence serves (e.g. a fold's training indices).
        batch_size: images per batch (the last batch may be smaller).
        seed, fold: derive the random streams (see the module doc).
        augment: an ``AugmentConfig`` (``None`` or ``enabled = false`` for none).
        shuffle: reshuffle the order every epoch.
        label_fn: ``label_fn(batch_indices, transform) -> targets`` for label-aware augmentation
            (regression: see :func:`lensfind.data.augment.transform_params`); shear is then off.
        fill_mode: edge handling of the resampling (``"mirror"`` or ``"nearest"``).
        threads: threads making the next batches of the epoch while the model trains on this
            one (default :func:`default_workers`; 1: none). Keras' own ``workers`` option is
            not used for this: its queue carries batches over from one epoch to the next,
            which breaks the epoch of :class:`EpochSetter`.
        device_augment: leave the resampling to the training step: batches are
            ``(packed_inputs(images, transforms), y)`` with ``y`` the targets, or
            ``label_fn.raw`` columns (a :class:`~lensfind.data.augment.LabelTransform`).
        resident: keep the served images on the backend's default device (copied once) and
            gather batches there (with ``device_augment``).
        **kwargs: other ``keras.utils.PyDataset`` options.
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray | None, indices=None, *,
                 batch_size: int = 32, seed: int = 0, fold: int = 0, augment=None,
                 shuffle: bool = True, label_fn: LabelFn | None = None,
                 fill_mode: str = "mirror", threads: int | None = None,
                 device_augment: bool = False, resident: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.threads = default_workers() if threads is None else max(1, int(threads))
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[tuple[int, int], Future] = {}
        self._lock = threading.Lock()
        if targets is None and label_fn is None:
            raise ValueError("AugmentedSequence needs targets or a label_fn")
        self.images = images
        self.targets = targets
        self.indices = np.arange(len(images)) if indices is None else np.asarray(indices, np.int64)
        if self.indices.size == 0:
            raise ValueError("AugmentedSequence: no images to serve (empty indices)")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.fold = int(fold)
        enabled = augment is not None and getattr(augment, "enabled", True)
        self.augment = augment if enabled else None
        self.shuffle = bool(shuffle)
        self.label_fn = label_fn
        self.fill_mode = fill_mode
        self.device_augment = bool(device_augment) and self.augment is not None
        if self.device_augment and label_fn is not None and not hasattr(label_fn, "raw"):
            raise ValueError("device augmentation needs a label_fn with raw columns "
                             "(lensfind.data.augment.LabelTransform)")
        self.resident = None
        if resident and self.device_augment:
            from keras import ops
            self.resident = ops.convert_to_tensor(
                with_channels(np.asarray(images[self.indices], np.float32)))
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def positions(self, epoch: int | None = None) -> np.ndarray:
        """Positions in ``indices`` in the order served in ``epoch`` (default: the current)."""
        epoch = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return np.arange(len(self.indices))
        return rng_for(self.seed, "shuffle", self.fold, epoch).permutation(len(self.indices))

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The indices in the order served in ``epoch`` (default: the current one)."""
        return self.indices[self.positions(epoch)]

    def batch(self, i: int, epoch: int | None = None):
        """Batch ``i`` of ``epoch``: ``(x, y)`` with ``x`` of shape (b, H, W, C) float32 (or
        :func:`~lensfind.data.device_augment.packed_inputs` with ``device_augment``)."""
        epoch = self.epoch if epoch is None else epoch
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range (0..{len(self) - 1})")
        pos = self.positions(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        idx = self.indices[pos]
        if self.device_augment:
            t = random_transforms(rng_for(self.seed, "augment", self.fold, epoch, i), len(idx),
                                  self.augment, allow_shear=self.label_fn is None)
            if self.resident is not None:
                from keras import ops
                x = ops.take(self.resident, ops.convert_to_tensor(pos), axis=0)
            else:
                x = with_channels(np.asarray(self.images[idx], dtype=np.float32))
            y = self.label_fn.raw(idx) if self.label_fn is not None else self.targets[idx]
            return packed_inputs(x, t.packed()), np.asarray(y)
        x = np.asarray(self.images[idx], dtype=np.float32)
        if self.augment is not None:
            rng = rng_for(self.seed, "augment", self.fold, epoch, i)
            t = random_transforms(rng, len(idx), self.augment,
                                  allow_shear=self.label_fn is None)
            x = apply_transforms(x, t, fill_mode=self.fill_mode)
        else:
            t = Transform.identity(len(idx))
        y = self.label_fn(idx, t) if self.label_fn is not None else self.targets[idx]
        return with_channels(x), np.asarray(y)

    def __getitem__(self, i: int):
        i = int(i)
        if self.threads <= 1:
            return self.batch(i)
        epoch = self.epoch
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads,
                                                thread_name_prefix="lensfind-batches")
            future = self._ahead.pop((epoch, i), None)
            # forget what this epoch no longer needs (another epoch, batches before i)
            for key in [k for k in self._ahead if k[0] != epoch or k[1] < i]:
                self._ahead.pop(key).cancel()
            for j in range(i + 1, min(len(self), i + 1 + 2 * self.threads)):
                if (epoch, j) not in self._ahead:
                    self._ahead[(epoch, j)] = self._pool.submit(self.batch, j, epoch)
        return future.result() if future is not None else self.batch(i, epoch)

    def __getstate__(self):  # e.g. Keras multiprocessing workers: no pool, no futures
        state = dict(self.__dict__)
        state.update(_pool=None, _ahead={}, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class EpochSetter(keras.callbacks.Callback):
    """Tell sequences which epoch starts (Keras' absolute epoch index, resume included)."""

    def __init__(self, *sequences: AugmentedSequence):
        super().__init__()
        self.sequences = sequences

    def on_epoch_begin(self, epoch, logs=None):
        for seq in self.sequences:
            seq.set_epoch(epoch)
