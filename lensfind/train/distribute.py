"""Where and in which precision a fold trains: mixed precision and data parallelism, per run.

:func:`training_scope` is the one entry point of the fit path
(:func:`lensfind.train.fit.fit_fold` enters it around building or resuming the model and
``Model.fit``)::

    with training_scope(precision="mixed_bfloat16", distribute="data_parallel") as plan:
        model = build()                       # layers get the mixed policy; variables placed
        train_data, validation_data = plan.adapt(train_data, validation_data)
        model.fit(train_data, validation_data=validation_data, ...)

* **Mixed precision** -- the Keras dtype policy (``keras.config.set_dtype_policy``) is set on
  entry and restored on exit, so it only affects the models built inside. Layers keep the policy
  they were built with (also after loading a ``.keras`` file), variables stay float32, and the
  zoo pins the input normalisation, the head outputs (and so the losses) to float32.
  ``mixed_float16`` gets Keras' automatic loss scaling (``Model.compile`` wraps the optimiser).
* **Data parallel on one machine** -- selected by the Keras backend:

  - JAX: ``keras.distribution.DataParallel`` over ``keras.distribution.list_devices()``
    (variables replicated, every batch split along its first axis; batch-norm statistics are
    those of the whole global batch, so the numbers equal one-device training).
  - TensorFlow: ``tf.distribute.MirroredStrategy`` over all visible GPUs (without GPUs: all
    logical CPU devices, e.g. made by ``tf.config.set_logical_device_configuration``);
    the model is created, loaded and fitted inside ``strategy.scope()``. Batch norm uses
    per-device statistics (Keras' default ``synchronized=False``).

  On both, every batch must divide evenly over the devices (JAX refuses anything else,
  TensorFlow fails on a device left with an empty batch): ``train.batch_size`` must be a
  multiple of the device count, the training sequence's last (partial) batch is cut to a
  multiple of it (at most ``devices - 1`` images of an epoch skipped; the order is reshuffled
  every epoch) and the validation set used for early stopping is cut to a multiple of it (at
  most ``devices - 1`` images left out; see :meth:`Plan.adapt`). Predictions after training
  need no such care: the distribution ends with the scope and ``predict`` takes any batch.

``distribute = "none"`` (the default) changes nothing. Nothing here imports TensorFlow unless the
Keras backend is TensorFlow.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import keras

from lensfind.config.train import DISTRIBUTIONS, PRECISIONS
from lensfind.validation import ConfigError, check_choice, fail


def backend() -> str:
    """The Keras backend name (``"tensorflow"``, ``"jax"``, ``"torch"`` or ``"numpy"``)."""
    return keras.backend.backend()


@contextlib.contextmanager
def precision_scope(policy: str = "float32") -> Iterator[str]:
    """Use the Keras dtype ``policy`` for layers created inside; restore the previous one."""
    check_choice("train.mixed_precision", policy, PRECISIONS)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


def device_count(kind: str | None = None) -> int:
    """Number of devices data parallelism would use on this backend (at least 1)."""
    b = backend()
    if b == "jax":
        return len(keras.distribution.list_devices(kind))
    if b == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_logical_devices("GPU")
        return max(1, len(gpus) or len(tf.config.list_logical_devices("CPU")))
    return 1


class _EvenBatches(keras.utils.PyDataset):
    """A batched sequence whose batches are cut to a multiple of ``multiple`` images.

    Only the last batch of an epoch can be ragged (``batch_size`` is a multiple); a batch with
    fewer than ``multiple`` images is left out. Everything else (``set_epoch``, ``indices``,
    ``batch_size``, ...) is forwarded to the wrapped sequence, so epoch setters and timers work.
    """

    def __init__(self, inner, multiple: int):
        super().__init__(workers=inner.workers, use_multiprocessing=inner.use_multiprocessing,
                         max_queue_size=inner.max_queue_size)
        self.inner = inner
        self.multiple = int(multiple)
        n = len(inner)
        indices, batch_size = getattr(inner, "indices", None), getattr(inner, "batch_size", None)
        if indices is not None and batch_size is not None:
            last = len(indices) - (n - 1) * int(batch_size)
        else:
            last = len(self._first(inner[n - 1]))
        self._n = n - 1 if last < self.multiple else n

    @staticmethod
    def _first(batch):
        return batch[0] if isinstance(batch, tuple) else batch

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        batch = self.inner[i]
        if not isinstance(batch, tuple):
            batch = (batch,)
        b = len(batch[0])
        keep = b - b % self.multiple
        if keep == b:
            return batch if len(batch) > 1 else batch[0]
        return tuple(part[:keep] for part in batch)

    def __getattr__(self, name):
        if name == "inner":  # not yet set (during __init__ / unpickling)
            raise AttributeError(name)
        return getattr(self.inner, name)


@dataclasses.dataclass
class Plan:
    """What :func:`training_scope` set up.

    Attributes:
        precision: the dtype policy in force.
        distribute: ``"none"`` or ``"data_parallel"``.
        backend: the Keras backend.
        replicas: devices a batch is split over (1 without data parallelism).
        strategy: the ``tf.distribute`` strategy (TensorFlow) or the Keras distribution (JAX),
            else ``None``.
    """

    precision: str = "float32"
    distribute: str = "none"
    backend: str = "tensorflow"
    replicas: int = 1
    strategy: Any = None

    @property
    def even_batches(self) -> bool:
        """Every batch must split evenly over the replicas (data parallelism on 2+ devices)."""
        return self.distribute == "data_parallel" and self.replicas > 1

    def adapt(self, train_data, validation_data=None):
        """``(train_data, validation_data)`` ready for ``Model.fit`` under this plan.

        Unchanged unless batches must split evenly (:attr:`even_batches`): then the training
        sequence's batches are cut to a multiple of :attr:`replicas` and the validation arrays
        ``(x, y[, w])`` to a multiple of it (the few images left out are the last ones).
        """
        if not self.even_batches:
            return train_data, validation_data
        batch = getattr(train_data, "batch_size", None)
        if batch is not None and int(batch) % self.replicas:
            fail("train.batch_size", batch,
                 f"a multiple of the {self.replicas} devices for train.distribute = "
                 "'data_parallel' (every batch is split evenly over them)")
        train_data = _EvenBatches(train_data, self.replicas)
        if validation_data is not None:
            parts = tuple(validation_data)
            n = len(parts[0])
            keep = n - n % self.replicas
            if keep == 0:
                raise ConfigError(f"{n} validation image(s) cannot be split over "
                                  f"{self.replicas} devices (train.distribute = "
                                  "'data_parallel'); use more data or distribute = 'none'")
            validation_data = tuple(p[:keep] for p in parts)
        return train_data, validation_data

    def validation_batch_size(self, batch_size: int) -> int:
        """A validation batch size whose batches split evenly (a multiple of the replicas)."""
        if not self.even_batches:
            return batch_size
        return max(self.replicas, batch_size - batch_size % self.replicas)

    def describe(self) -> str:
        """One line for logs."""
        where = (f"data parallel over {self.replicas} device(s) ({self.backend})"
                 if self.distribute == "data_parallel" else f"one device ({self.backend})")
        return f"{self.precision}, {where}"


_MIRRORED: dict[tuple[str, ...], Any] = {}


@contextlib.contextmanager
def _distribution(distribute: str, batch_size: int | None) -> Iterator[Plan]:
    b = backend()
    if distribute == "none":
        yield Plan(distribute="none", backend=b)
        return
    if b == "jax":
        devices = keras.distribution.list_devices()
        n = len(devices)
        if batch_size is not None and batch_size % n:
            fail("train.batch_size", batch_size,
                 f"a multiple of the {n} devices for train.distribute = 'data_parallel' on "
                 "JAX (every batch is split evenly over them)")
        dist = keras.distribution.DataParallel(devices=devices)
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(dist)
        try:
            yield Plan(distribute=distribute, backend=b, replicas=n, strategy=dist)
        finally:
            keras.distribution.set_distribution(previous)
    elif b == "tensorflow":
        import tensorflow as tf
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        # without GPUs MirroredStrategy() takes CPU:0 only; name the logical CPUs instead
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        # one strategy per device set and process: two MirroredStrategy objects reuse the same
        # collective instance keys and abort each other ("Shape mismatch in the collective")
        key = tuple(devices)
        strategy = _MIRRORED.get(key)
        if strategy is None:
            strategy = _MIRRORED[key] = tf.distribute.MirroredStrategy(devices=devices)
        with strategy.scope():
            yield Plan(distribute=distribute, backend=b,
                       replicas=int(strategy.num_replicas_in_sync), strategy=strategy)
    else:
        fail("train.distribute", distribute,
             f"'none' on the {b!r} Keras backend (data parallelism is implemented for "
             "'jax' and 'tensorflow')")


@contextlib.contextmanager
def training_scope(precision: str = "float32", distribute: str = "none", *,
                   batch_size: int | None = None) -> Iterator[Plan]:
    """Mixed precision and data parallelism for the models built, loaded and fitted inside.

    Args:
        precision: ``train.mixed_precision`` (a :data:`~lensfind.config.train.PRECISIONS` name).
        distribute: ``train.distribute`` (a :data:`~lensfind.config.train.DISTRIBUTIONS` name).
        batch_size: the global batch, checked against the device count on JAX.

    Yields:
        a :class:`Plan`; use :meth:`Plan.adapt` on the data before ``Model.fit``.
    """
    check_choice("train.distribute", distribute, DISTRIBUTIONS)
    with precision_scope(precision), _distribution(distribute, batch_size) as plan:
        plan.precision = precision
        yield plan


def scope_for(train) -> contextlib.AbstractContextManager[Plan]:
    """:func:`training_scope` from a :class:`~lensfind.config.train.TrainConfig`."""
    return training_scope(getattr(train, "mixed_precision", "float32"),
                          getattr(train, "distribute", "none"),
                          batch_size=getattr(train, "batch_size", None))


__all__ = ["Plan", "backend", "device_count", "precision_scope", "scope_for",
           "training_scope"]
