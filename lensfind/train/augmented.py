"""The model that trains with device-side augmentation: resample the batch, then the network.

:class:`DeviceAugmented` wraps a compiled network for ``Model.fit``. Its training inputs are
:func:`~lensfind.data.device_augment.packed_inputs` (the images and each image's packed
transform, drawn on the host from ``(seed, fold, epoch, batch)``); it resamples them with
:func:`~lensfind.data.device_augment.resample` inside the compiled step and, for regression,
transforms the raw label columns with a :class:`~lensfind.data.device_augment.LabelPlan` before
the loss and the metrics. Plain images (validation, prediction) go straight to the network.

It shares the network's variables, loss and metrics and has an optimizer of the same
configuration (:func:`wrap`), so a resume checkpoint of it holds what one of the network would,
and :func:`network_of` gives back the network that is saved and scored. It computes in float32 whatever the dtype policy (the network's own layers
keep theirs), so the images reach the network's input normalisation as float32, as before.
"""
from __future__ import annotations

import keras

from lensfind.data.device_augment import LabelPlan, is_packed, resample


def compiled_resample(fill_mode: str):
    """:func:`resample` as the step calls it. On TensorFlow it is compiled by XLA on its own:
    Keras leaves XLA off on CPU-only machines, where the unfused ops cost 4.5x more (CPU,
    batch 128 of 100 x 100: 314 against 69 us per image); JAX compiles the whole step."""
    def fn(images, packed):
        return resample(images, packed, fill_mode)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, jit_compile=True, reduce_retracing=True)
    return fn


@keras.saving.register_keras_serializable(package="lensfind")
class DeviceAugmented(keras.Model):
    """``network(resample(images, transform))`` in training, ``network(images)`` otherwise.

    Args:
        network: the (built) network.
        fill_mode: edge handling of the resampling (``"mirror"`` or ``"nearest"``).
        labels: regression target names whose raw columns the batches carry (``None``: the
            batches carry the targets themselves, which the transforms leave unchanged).
    """

    def __init__(self, network: keras.Model, *, fill_mode: str = "mirror",
                 labels: list[str] | None = None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.network = network
        self.fill_mode = fill_mode
        self.label_plan = None if labels is None else LabelPlan.from_names(labels)
        self._resample = compiled_resample(fill_mode)
        self.built = network.built

    def call(self, inputs, training=False):
        if is_packed(inputs):
            inputs = self._resample(inputs["images"], inputs["transform"])
        return self.network(inputs, training=training)

    def _labels(self, x, y):
        if self.label_plan is None or not is_packed(x):
            return y
        return self.label_plan.apply(y, x["transform"])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return super().compute_loss(x=x, y=self._labels(x, y), y_pred=y_pred,
                                    sample_weight=sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, self._labels(x, y), y_pred, sample_weight)

    def get_config(self) -> dict:
        network = keras.saving.serialize_keras_object(self.network)
        network.pop("compile_config", None)  # this model is the one compiled
        return {**super().get_config(), "network": network,
                "fill_mode": self.fill_mode,
                "labels": None if self.label_plan is None else list(self.label_plan.names)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"),
                                                        custom_objects=custom_objects)
        config.pop("dtype", None)
        return cls(network, **config)


def wrap(network: keras.Model, *, fill_mode: str = "mirror",
         labels: list[str] | None = None) -> DeviceAugmented:
    """``network`` (compiled) in a :class:`DeviceAugmented` compiled like it: the same loss,
    metrics and options, and a fresh optimizer of the same configuration (one optimizer object
    shared by both would be saved under the network, whose optimizer a checkpoint drops)."""
    config = getattr(network, "_compile_config", None)
    if config is None:
        raise ValueError(f"model {network.name!r} is not compiled: compile it before wrapping")
    config = dict(config.config)
    config["optimizer"] = keras.optimizers.deserialize(
        keras.optimizers.serialize(network.optimizer))
    model = DeviceAugmented(network, fill_mode=fill_mode, labels=labels)
    model.compile(**config)
    return model


def for_training(model: keras.Model, *, device: bool, fill_mode: str = "mirror",
                 labels: list[str] | None = None) -> keras.Model:
    """The model ``Model.fit`` trains: a fresh network wrapped by :func:`wrap` when ``device``;
    a resumed checkpoint as it is, if it was written with the same ``train.augment_on``."""
    if isinstance(model, DeviceAugmented) != device and model.optimizer.iterations.numpy() > 0:
        have, want = ("device", "host") if isinstance(model, DeviceAugmented) else \
            ("host", "device")
        raise ValueError(f"the fold's resume checkpoint was trained with train.augment_on = "
                         f"{have!r}, not {want!r}: resume with {have!r}, or delete the fold's "
                         "folder to start it again")
    if device and not isinstance(model, DeviceAugmented):
        return wrap(model, fill_mode=fill_mode, labels=labels)
    return model


def network_of(model: keras.Model) -> keras.Model:
    """The network inside a :class:`DeviceAugmented` model (or ``model`` itself)."""
    return model.network if isinstance(model, DeviceAugmented) else model
