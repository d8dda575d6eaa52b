"""Data parallelism check, run in a fresh process (devices must be set up before the backend starts).

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python tests/train/distribute_check.py --devices 2
    KERAS_BACKEND=tensorflow python tests/train/distribute_check.py --devices 2
    KERAS_BACKEND=jax python tests/train/distribute_check.py          # real GPUs: all of them

``--devices N`` with TensorFlow splits the CPU into N logical devices first; with JAX the CPU
devices come from ``XLA_FLAGS`` (on a GPU machine leave both out: the GPUs are used).

1. *equal*: a small convolutional network (no batch norm, no dropout) trains 2 epochs on one
   device and again with ``distribute = "data_parallel"``; prints the device lists and the
   largest weight / prediction differences (data parallelism must give the same numbers up to
   float rounding).
2. *fit_fold*: lensfind's fit path (zoo LensFlow model with batch norm and dropout, augmented
   :class:`~lensfind.data.sequence.AugmentedSequence`, early stopping, per-epoch checkpoints)
   with ``data_parallel`` on batches and a validation set that do not split evenly; prints the
   history and the variables' devices.

The last line is ``RESULT {json}`` for tests/train/test_distribute.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def setup_devices(n: int | None) -> None:
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" and n:
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])


def variable_devices(variable) -> list[str]:
    """Devices holding a copy of a Keras variable."""
    import keras
    value = variable.value
    if keras.backend.backend() == "jax":
        return sorted(str(d) for d in value.sharding.device_set)
    values = getattr(value, "values", None) or getattr(variable, "values", None)
    if values is None:  # a plain tf.Variable
        return [value.device]
    return sorted({v.device for v in values})


def equal_check(images, labels) -> dict:
    import keras
    import numpy as np

    from lensfind.data.sequence import AugmentedSequence
    from lensfind.seeds import set_random_seed
    from lensfind.train.distribute import training_scope

    images = (images - images.mean()) / images.std()  # a plain network: standardised inputs

    def run(distribute):
        keras.backend.clear_session()
        set_random_seed(7)
        seq = AugmentedSequence(images, labels, np.arange(16), batch_size=8, seed=1,
                                augment=None)
        with training_scope("float32", distribute, batch_size=8) as plan:
            model = keras.Sequential([
                keras.Input(images.shape[1:] + (1,)), keras.layers.Conv2D(4, 3, activation="relu"),
                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
            model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
            train, val = plan.adapt(seq, (images[16:20, ..., None], labels[16:20]))
            history = model.fit(train, validation_data=val, epochs=2, verbose=0, shuffle=False)
            devices = variable_devices(model.weights[0])
        pred = model.predict(images[:5, ..., None], verbose=0)
        return plan, devices, model.get_weights(), pred, history.history

    p1, d1, w1, y1, h1 = run("none")
    p2, d2, w2, y2, h2 = run("data_parallel")
    return {"replicas": [p1.replicas, p2.replicas], "devices": [d1, d2],
            "max_weight_diff": float(max(np.max(np.abs(a - b)) for a, b in zip(w1, w2))),
            "max_pred_diff": float(np.max(np.abs(y1 - y2))),
            "loss": [h1["loss"], h2["loss"]], "plan": p2.describe()}


def fit_fold_check(images, labels) -> dict:
    import numpy as np

    from lensfind.config import experiment_from_dict
    from lensfind.data.sequence import AugmentedSequence
    from lensfind.seeds import set_random_seed
    from lensfind.train.fit import fit_fold
    from lensfind.zoo.model import build_model, compile_model

    exp = experiment_from_dict({
        "model": {"backbone": "lensflow", "regime": "random", "weights": "none",
                  "input_size": 40, "dense_units": 8, "pool_dropout": 0.1,
                  "dense_dropout": 0.1},
        "train": {"batch_size": 8, "epochs": 2, "patience": 2, "learning_rate": 1e-3,
                  "distribute": "data_parallel"}})
    set_random_seed(3)
    # 17 training images: batches 8, 8, 1 (the 1 cannot be split); 5 validation images
    seq = AugmentedSequence(images, labels, np.arange(17), batch_size=8, seed=1,
                            augment=exp.train.augment)
    val = (images[17:22, ..., None], labels[17:22])

    def build():
        model = build_model(config=exp.model, input_shape=images.shape[1:] + (1,))
        return compile_model(model, config=exp.model, train=exp.train)

    with tempfile.TemporaryDirectory() as folder:
        result = fit_fold(build, seq, val, folder, epochs=exp.train.epochs,
                          patience=exp.train.patience, batch_size=exp.train.batch_size,
                          progress=False, tensorboard=False, distribute=exp.train.distribute,
                          precision=exp.train.mixed_precision)
        saved = sorted(p.name for p in Path(folder).iterdir())
    pred = result.model.predict(images[:7, ..., None], verbose=0)  # 7: any batch size works
    return {"history": [{k: float(v) for k, v in h.items() if isinstance(v, (int, float))}
                        for h in result.history],
            "devices": variable_devices(result.model.trainable_weights[0]),
            "pred_shape": list(pred.shape), "pred_finite": bool(np.isfinite(pred).all()),
            "files": saved}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=None,
                        help="TensorFlow: logical CPU devices to make (JAX: use XLA_FLAGS)")
    parser.add_argument("--only", choices=("equal", "fit_fold"), default=None)
    parser.add_argument("--no-tensorflow", action="store_true",
                        help="make TensorFlow unimportable first (tests/no_tensorflow.py), as on "
                             "a JAX-only machine")
    args = parser.parse_args(argv)
    if args.no_tensorflow:
        import tests.no_tensorflow  # noqa: F401
    setup_devices(args.devices)
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    images = (100.0 + 10.0 * rng.normal(size=(22, 24, 24))).astype("float32")
    labels = rng.integers(0, 2, 22).astype("int32")
    images[labels == 1, 10:14, 10:14] += 80.0
    out = {"backend": keras.backend.backend()}
    if args.only in (None, "equal"):
        out["equal"] = equal_check(images, labels)
    if args.only in (None, "fit_fold"):
        out["fit_fold"] = fit_fold_check(images, labels)
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
