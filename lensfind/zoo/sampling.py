"""Monte-Carlo dropout: the one seeded sampler used by cross-validation, tuning and scoring.

A Keras ``Dropout`` layer draws its masks from its own ``SeedGenerator``, whose state is a model
variable (``.../seed_generator_state``) that ``.keras`` files do not store. Everything that reads
or sets those states lives here:

* :func:`seed_states` / :func:`set_seed_states` save and restore them (a resumed training fold
  continues the same dropout stream);
* :class:`DropoutSampler` runs ``passes`` forward passes with the
  :class:`~lensfind.zoo.layers.MCDropout` layers active. Before each :meth:`~DropoutSampler.sample`
  call, layer ``k`` is reseeded from ``SeedSequence([seed, *key, k])``, so the masks depend only
  on ``(seed, key)`` -- not on what ran before -- and a resumed job reproduces an uninterrupted
  one. Batches have one fixed size (the last is padded by repeating its last image), so every
  pass runs one compiled graph. When every active dropout layer sits after the ``backbone``
  layer, the backbone runs once per batch and only the head runs ``passes`` times (same masks,
  same numbers up to float rounding).
* :func:`gaussian_prediction` / :func:`predict_gaussian` turn the passes of a regression model
  into a :class:`~lensfind.probabilistic.Prediction` (mean, aleatoric and epistemic covariance);
  :func:`predict_once` is the deterministic pass classifiers are evaluated with.

With ``passes = 1`` (or no dropout) a sampler makes one deterministic pass.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import keras
import numpy as np

from lensfind.probabilistic import Prediction, mc_moments
from lensfind.zoo.layers import mc_dropout_layers, set_mc_dropout
from lensfind.zoo.regression_heads import scaling_layer

SEED_STATE_SUFFIX = "seed_generator_state"
BACKBONE_LAYER = "backbone"


def seed_states(model: keras.Model) -> list[list[int]]:
    """States of all ``SeedGenerator`` variables of ``model`` (dropout masks), in order."""
    return [np.asarray(v.numpy()).astype(np.int64).tolist() for v in model.variables
            if v.path.endswith(SEED_STATE_SUFFIX)]


def set_seed_states(model: keras.Model, states: Sequence[Sequence[int]]) -> None:
    """Restore states saved by :func:`seed_states` (``ValueError`` if the counts differ)."""
    variables = [v for v in model.variables if v.path.endswith(SEED_STATE_SUFFIX)]
    if len(variables) != len(states):
        raise ValueError(f"checkpoint has {len(states)} random-generator states but the model "
                         f"has {len(variables)}")
    for v, s in zip(variables, states):
        v.assign(np.asarray(s, dtype=np.asarray(v.numpy()).dtype))


def _compiled(model: keras.Model):
    """``f(x) -> outputs``: the model at inference, compiled once where the backend allows."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return lambda x: fn(tf.convert_to_tensor(x))
    if keras.backend.backend() == "jax":
        # jax.jit by Keras, once per batch shape; the dropout generators' states are read from
        # and written back to the model's variables, so reseeding applies
        return model.predict_on_batch
    return lambda x: model(x, training=False)


def _split_at_backbone(model: keras.Model, probe: np.ndarray):
    """``(features_model, head_model)`` when every active MC-dropout layer sits after the
    ``backbone`` layer in a simple chain, else ``None``.

    Checked on ``probe`` images with dropout off: ``head(features(x))`` must equal ``model(x)``.
    """
    names = [layer.name for layer in model.layers]
    if BACKBONE_LAYER not in names:
        return None
    i = names.index(BACKBONE_LAYER)
    if any(m.rate > 0 for layer in model.layers[:i + 1] for m in mc_dropout_layers(layer)):
        return None
    head_layers = model.layers[i + 1:]
    if not head_layers:
        return None
    try:
        features_model = keras.Model(model.inputs, head_layers[0].input)
        inputs = keras.Input(shape=tuple(head_layers[0].input.shape[1:]))
        x = inputs
        for layer in head_layers:
            x = layer(x)
        head_model = keras.Model(inputs, x)
        layers = mc_dropout_layers(model)
        states = [m.mc for m in layers]
        for m in layers:
            m.mc = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # input structure (list vs tensor)
                want = np.asarray(model(probe, training=False))
                got = np.asarray(head_model(features_model(probe, training=False),
                                            training=False))
        finally:
            for m, state in zip(layers, states):
                m.mc = state
        if want.shape != got.shape or not np.allclose(want, got, rtol=1e-4, atol=1e-5):
            return None
        return features_model, head_model
    except Exception:  # noqa: BLE001 -- any graph this does not understand: full passes
        return None


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} = {value!r} is invalid: expected an integer >= 1")
    return int(value)


class DropoutSampler:
    """``passes`` MC-dropout forward passes of one model, seeded per call (see module doc).

    Switches the model's MC-dropout layers on (``passes > 1``) while it is open; :meth:`close`
    (or leaving a ``with`` block) restores them, so a model saved afterwards is unchanged. Two
    samplers of one model must be closed in reverse order of opening (nested ``with`` blocks).

    Args:
        model: a Keras model with :class:`~lensfind.zoo.layers.MCDropout` layers (or none).
        passes: forward passes per image (1: one deterministic pass).
        batch_size: images per forward pass.
        seed: base of the per-call dropout seeds.
        split_backbone: run the backbone once per batch when all dropout is in the head.
    """

    def __init__(self, model: keras.Model, *, passes: int = 1, batch_size: int = 32,
                 seed: int = 0, split_backbone: bool = True):
        self.model = model
        self.batch_size = _check_count("batch_size", batch_size)
        passes = _check_count("passes", passes)
        self.seed = int(seed)
        self.layers = mc_dropout_layers(model)
        active = [m for m in self.layers if m.rate > 0]
        self.passes = passes if active else 1
        self._previous = [m.mc for m in self.layers]
        set_mc_dropout(model, self.passes > 1)
        self._forward = _compiled(model)
        self._split = None
        self._split_checked = self.passes == 1 or not split_backbone

    def __enter__(self) -> "DropoutSampler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Restore the MC flags the layers had before."""
        for m, state in zip(self.layers, self._previous):
            m.mc = state
        if hasattr(self.model, "predict_function"):
            self.model.predict_function = None

    def _reseed(self, key: Sequence[int]) -> None:
        if self.passes <= 1:
            return
        for k, layer in enumerate(self.layers):
            if getattr(layer, "seed_generator", None) is None:
                continue  # rate 0: Keras makes no generator, the layer is the identity
            state = layer.seed_generator.state
            words = np.random.SeedSequence([self.seed, *map(int, key), k]).generate_state(1)
            state.assign(np.array([int(words[0]) & 0x7FFFFFFF, 0], dtype=np.dtype(state.dtype)))

    def _batches(self, images: np.ndarray):
        bs = self.batch_size
        for start in range(0, len(images), bs):
            batch = images[start:start + bs]
            m = len(batch)
            if m < bs:
                batch = np.concatenate([batch, np.repeat(batch[-1:], bs - m, axis=0)])
            yield batch, m

    def sample(self, images: np.ndarray, key: Sequence[int] = ()) -> np.ndarray:
        """Outputs ``(passes, n, k)`` float64 for ``images`` ``(n, H, W)`` or ``(n, H, W, C)``.

        ``key``: integers that, with the seed, fix the dropout masks of this call.
        """
        x = np.asarray(images, np.float32)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or len(x) == 0:
            raise ValueError(f"images of shape {np.shape(images)} are invalid: expected "
                             "(N > 0, H, W) or (N, H, W, C)")
        x = np.ascontiguousarray(x)
        if not self._split_checked:
            self._split_checked = True
            split = _split_at_backbone(self.model, x[:2])
            if split is not None:
                self._split = tuple(_compiled(m) for m in split)
        self._reseed(key)
        if self._split is None:
            return np.stack([self._run(self._forward, x) for _ in range(self.passes)])
        features_fn, head_fn = self._split
        features = np.concatenate([np.asarray(features_fn(b))[:m] for b, m in self._batches(x)])
        return np.stack([self._run(head_fn, features) for _ in range(self.passes)])

    def _run(self, fn, x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(fn(b))[:m] for b, m in self._batches(x)]
                              ).astype(np.float64)


def predict_once(model: keras.Model, images: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """Outputs ``(n, k)`` of one deterministic pass (dropout off) through the sampler's batches."""
    with DropoutSampler(model, passes=1, batch_size=batch_size) as sampler:
        return sampler.sample(images)[0]


def gaussian_prediction(sampler: DropoutSampler, images: np.ndarray,
                        key: Sequence[int] = ()) -> Prediction:
    """MC-dropout :class:`~lensfind.probabilistic.Prediction` of the sampler's regression model:
    its passes (seeded by ``(sampler.seed, key)``) combined by
    :func:`~lensfind.probabilistic.mc_moments`, in target units (the model un-whitens itself)."""
    layer = scaling_layer(sampler.model)
    return mc_moments(sampler.sample(images, key), head=layer.head, n=layer.n, names=layer.names)


def predict_gaussian(model: keras.Model, images: np.ndarray, *, passes: int = 1,
                     batch_size: int = 64, seed: int = 0, key: Sequence[int] = ()) -> Prediction:
    """:func:`gaussian_prediction` with a sampler of ``passes`` passes opened for this call."""
    with DropoutSampler(model, passes=passes, batch_size=batch_size, seed=seed) as sampler:
        return gaussian_prediction(sampler, images, key)
