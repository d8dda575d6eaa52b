"""Build and compile a lensfind network: normalise -> stem -> backbone -> head.

>>> from lensfind.zoo.config import ModelConfig
>>> model = build_model(config=ModelConfig(backbone="xception", weights="none"))  # doctest: +SKIP
>>> compile_model(model, config=model_config, train=train_config)                   # doctest: +SKIP

The model takes raw cutouts ``(N, H, W, 1)`` (float32, any units) and, for the classifier
head, returns ``(N, 2)`` softmax probabilities ``[P(non-lens), P(lens)]``. Layers:

* ``normalize`` -- :class:`~lensfind.zoo.layers.RobustNormalization`;
* ``stem_*`` -- the deconvolutional upsampling stem (ImageNet backbones, see
  :mod:`lensfind.zoo.stems`), or ``resize`` for the baselines when ``input_size != H``;
* ``backbone`` -- the nested backbone model (``model.get_layer("backbone")``);
* ``head_*`` -- the head from :data:`~lensfind.zoo.heads.HEADS`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import keras

from lensfind.validation import ConfigError, fail, lookup
from lensfind.zoo.backbones import BACKBONES, BackboneSpec
from lensfind.zoo.config import OPTIMIZERS, REGIMES, ModelConfig
from lensfind.zoo.heads import HEADS
from lensfind.zoo.stems import normalize_block, resize_to, upsampling_stem

BACKBONE_LAYER = "backbone"


def resolve_input_size(config: ModelConfig) -> int:
    """The backbone input side for ``config``: ``input_size``, or the backbone default if 0.

    Raises:
        ConfigError: the size is below the backbone's minimum.
    """
    spec = lookup(BACKBONES, config.backbone, "model.backbone")
    size = config.input_size or spec.default_size
    if size < spec.min_size:
        fail("model.input_size", config.input_size,
             f"at least {spec.min_size} pixels, the minimum input size of backbone "
             f"{config.backbone!r}")
    return size


def resolve_weights(config: ModelConfig) -> str | Path | None:
    """``"imagenet"``, a local file ``Path`` or ``None`` for the backbone of ``config``.

    The ``random`` regime always starts from random weights (``config.weights`` is ignored).
    A file is loaded with ``load_weights`` into the backbone built with random weights: a
    ``.weights.h5`` saved from ``keras.applications.<Network>(include_top=False)`` or from
    ``model.get_layer("backbone")``, or Keras' downloadable ``*_notop.h5``. (For
    ``efficientnet_b0`` Keras adds one weightless rescaling layer only when it downloads the
    weights itself, so a local file gives inputs scaled slightly differently; the trained stem
    absorbs it.)

    Raises:
        ConfigError: ImageNet weights for a baseline, or a weights file that does not exist.
    """
    spec = lookup(BACKBONES, config.backbone, "model.backbone")
    if config.regime == "random" or config.weights.lower() == "none":
        return None
    if config.weights.lower() == "imagenet":
        if not spec.pretrained:
            fail("model.weights", config.weights,
                 f"'none' or a weights file: backbone {config.backbone!r} is trained from "
                 "scratch and has no ImageNet weights")
        return "imagenet"
    path = Path(config.weights).expanduser()
    if not path.is_file():
        fail("model.weights", config.weights,
             "'imagenet', 'none' or an existing weights file (.weights.h5, or Keras' own "
             "*_notop.h5 for offline use); no such file")
    if not path.name.endswith(".h5"):
        fail("model.weights", config.weights, "a weights file ending in .weights.h5 or .h5")
    return path


def build_backbone(spec: BackboneSpec, name: str, *, input_shape, weights, config: ModelConfig):
    """Build one backbone, loading ``weights`` ("imagenet", a file ``Path`` or ``None``)."""
    download = "imagenet" if weights == "imagenet" else None
    try:
        model = spec.builder(input_shape=tuple(input_shape), weights=download, config=config,
                             name=BACKBONE_LAYER)
    except Exception as err:  # noqa: BLE001 -- re-raised with what to do about it
        if download is None:
            raise
        raise RuntimeError(
            f"could not get the ImageNet weights of backbone {name!r} "
            f"(keras.applications.{spec.keras_name}, downloaded once into ~/.keras/models): "
            f"{err}. On a machine without internet access, download the "
            f"'{spec.keras_name}' *_notop.h5 weights file elsewhere and set model.weights to "
            "its path, or use model.weights = 'none'") from err
    if isinstance(weights, Path):
        problem = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(str(weights))
            except Exception as err:  # noqa: BLE001 -- re-raised below with the field named
                problem = err
        # Keras only warns when parts of a file do not match ("Skipping ..."), which would
        # leave random weights behind silently: refuse that too.
        skipped = [w for w in caught if "skipping" in str(w.message).lower()]
        for w in caught:
            if w not in skipped:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if problem is not None or skipped:
            reason = str(problem) if problem is not None else (
                f"{len(skipped)} part(s) did not match, e.g. {skipped[0].message}")
            reason = " ".join(reason.split())
            reason = reason if len(reason) <= 300 else reason[:300] + " ..."
            raise ConfigError(
                f"model.weights = {str(weights)!r} is invalid: expected weights of backbone "
                f"{name!r} at input shape {tuple(input_shape)} (it failed to load: {reason})"
            ) from problem
    return model


def _batch_norm_layers(model: keras.layers.Layer):
    return [layer for layer in model._flatten_layers(include_self=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def apply_regime(backbone: keras.Model, regime: str) -> None:
    """Set trainable flags of a backbone for a regime of the thesis Table 5-1.

    * ``frozen``: the whole backbone is fixed (batch norm in inference mode);
    * ``finetune``: every layer trains except batch normalisation, which keeps its (pretrained)
      statistics and scale: with ``trainable = False`` Keras runs it in inference mode;
    * ``random``: everything trains.
    """
    if regime not in REGIMES:
        fail("model.regime", regime, "one of " + ", ".join(repr(r) for r in REGIMES))
    backbone.trainable = regime != "frozen"
    if regime == "finetune":
        for layer in _batch_norm_layers(backbone):
            layer.trainable = False


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or shape != tuple(input_shape):
        fail("input_shape", input_shape, "(height, width, channels) of positive integers, "
             "e.g. (100, 100, 1)")
    return shape


def build_model(*, config: ModelConfig, input_shape=(100, 100, 1),
                n_targets: int | None = None) -> keras.Model:
    """The full network for ``config``: raw cutouts in, head outputs out.

    Args:
        config: the ``[model]`` table.
        input_shape: ``(H, W, C)`` of one cutout, usually ``(100, 100, 1)``.
        n_targets: number of regression targets for regression heads; default
            ``len(config.targets)``. Ignored by the classifier.

    Returns:
        An uncompiled ``keras.Model`` named ``lensfind_<backbone>_<head>``; see
        :func:`compile_model`.

    Raises:
        ConfigError / ValueError: unknown backbone, regime or head, an input size below the
            backbone's minimum, ImageNet weights for a baseline, a missing weights file.
        RuntimeError: ImageNet weights were requested and could not be downloaded.
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    spec = lookup(BACKBONES, config.backbone, "model.backbone")
    head = lookup(HEADS, config.head, "model.head")
    if config.regime not in REGIMES:
        fail("model.regime", config.regime, "one of " + ", ".join(repr(r) for r in REGIMES))
    shape = _check_input_shape(input_shape)
    size = resolve_input_size(config)
    weights = resolve_weights(config)
    if head.needs_targets:
        n_targets = len(config.targets) if n_targets is None else n_targets
        if isinstance(n_targets, bool) or not isinstance(n_targets, int) or n_targets < 1:
            fail("n_targets", n_targets, "a positive integer")
    if config.regime in ("frozen", "finetune") and weights is None:
        warnings.warn(f"model.regime = {config.regime!r} with model.weights = 'none': the "
                      f"{'fixed' if config.regime == 'frozen' else 'starting'} backbone weights "
                      "are random (use regime 'random' to train them from scratch)",
                      stacklevel=2)

    inputs = keras.Input(shape=shape, name="cutout")
    x = normalize_block(inputs, stretch=config.normalize)
    if spec.stem:
        x = upsampling_stem(x, input_size=size, mode=spec.preprocess,
                            filters=config.stem_filters)
        channels = 3
    else:
        x = resize_to(x, size, name="resize")
        channels = shape[-1]
    backbone = build_backbone(spec, config.backbone, input_shape=(size, size, channels),
                              weights=weights, config=config)
    apply_regime(backbone, config.regime)
    features = backbone(x)
    outputs = head.builder(features, n_targets, config)
    return keras.Model(inputs, outputs, name=f"lensfind_{config.backbone}_{config.head}")


def make_optimizer(train) -> keras.optimizers.Optimizer:
    """The optimiser named by ``train.optimizer`` at ``train.learning_rate`` (SGD: Nesterov
    momentum 0.9)."""
    class_name, kwargs = lookup(OPTIMIZERS, train.optimizer, "train.optimizer")
    return getattr(keras.optimizers, class_name)(learning_rate=train.learning_rate, **kwargs)


def compile_model(model: keras.Model, *, config: ModelConfig, train, n_targets: int | None = None,
                  jit_compile=None) -> keras.Model:
    """Compile ``model`` with the optimiser of ``train`` and the loss and metrics of its head.

    Args:
        model: from :func:`build_model` with the same ``config``.
        config: the ``[model]`` table (picks the head).
        train: the ``[train]`` table (``optimizer``, ``learning_rate``).
        n_targets: as given to :func:`build_model` (default ``len(config.targets)``).
        jit_compile: passed to ``Model.compile``; default ``train.jit_compile`` (``"auto"``).

    Returns:
        ``model``, compiled.
    """
    head = lookup(HEADS, config.head, "model.head")
    if head.needs_targets and n_targets is None:
        n_targets = len(config.targets)
    if jit_compile is None:
        jit_compile = getattr(train, "jit_compile", "auto")
    model.compile(optimizer=make_optimizer(train), loss=head.loss(n_targets),
                  metrics=head.metrics(n_targets), jit_compile=jit_compile)
    return model


def load_model(path, *, compile: bool = True) -> keras.Model:  # noqa: A002 -- Keras' name
    """Load a ``.keras`` model saved from :func:`build_model`, with ``safe_mode=True``.

    Importing this module has registered the zoo's custom layers and metrics; heads added to
    :data:`~lensfind.zoo.heads.HEADS` by other modules must be imported before loading too.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
