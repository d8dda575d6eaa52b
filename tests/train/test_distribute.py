"""Mixed precision, jit_compile and data parallelism (lensfind.train.distribute), on CPU.

Data parallelism runs in subprocesses (tests/train/distribute_check.py): devices must be
configured before the backend starts -- two virtual CPU devices through
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (JAX) or
``tf.config.set_logical_device_configuration`` (TensorFlow).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from lensfind.config import experiment_from_dict
from lensfind.seeds import set_random_seed
from lensfind.train.distribute import Plan, precision_scope, training_scope
from lensfind.validation import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("distribute_check.py")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # e.g. blocked by tests/no_tensorflow.py
        return False


def _run_check(backend: str, *args: str, timeout: int = 300) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if backend == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_force_host_platform_device_count=2").strip()
        env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, str(CHECK), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


# ---------------------------------------------------------------------------- the options

def test_train_table_has_precision_jit_and_distribution_options():
    train = experiment_from_dict({"train": {"mixed_precision": "mixed_bfloat16",
                                            "jit_compile": False,
                                            "distribute": "data_parallel"}}).train
    assert (train.mixed_precision, train.jit_compile, train.distribute) == \
        ("mixed_bfloat16", False, "data_parallel")
    default = experiment_from_dict({}).train
    assert (default.mixed_precision, default.jit_compile, default.distribute) == \
        ("float32", "auto", "none")


@pytest.mark.parametrize("table, match", [
    ({"mixed_precision": "bf16"}, r"train.mixed_precision = 'bf16' is invalid: expected one of "
                                  r"'float32', 'mixed_bfloat16', 'mixed_float16'"),
    ({"jit_compile": "yes"}, r"train.jit_compile = 'yes' is invalid: expected true, false or "
                             r"'auto'"),
    ({"jit_compile": 1}, r"train.jit_compile = 1 is invalid"),
    ({"distribute": "mirrored"}, r"train.distribute = 'mirrored' is invalid: expected one of "
                                 r"'data_parallel', 'none'"),
])
def test_bad_options_are_refused(table, match):
    with pytest.raises(ConfigError, match=match):
        experiment_from_dict({"train": table})


def test_precision_scope_is_restored_even_after_an_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with precision_scope("mixed_float16"):
            assert keras.config.dtype_policy().name == "mixed_float16"
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == before


def test_no_distribution_changes_nothing():
    data = (np.zeros((5, 4, 4, 1)), np.zeros(5))
    with training_scope() as plan:
        assert plan.replicas == 1 and not plan.even_batches
        assert plan.adapt("seq", data) == ("seq", data)
        assert plan.validation_batch_size(7) == 7


def test_even_batches_cut_ragged_batches_and_validation():
    from lensfind.data.sequence import AugmentedSequence
    images = np.arange(13 * 4 * 4, dtype="float32").reshape(13, 4, 4)
    seq = AugmentedSequence(images, np.arange(13), np.arange(11), batch_size=4, augment=None)
    plan = Plan(distribute="data_parallel", backend="jax", replicas=2)
    train, (x_val, y_val) = plan.adapt(seq, (images[11:], np.arange(11, 13)[:, None]))
    assert [len(train[i][0]) for i in range(len(train))] == [4, 4, 2]  # 11 = 4 + 4 + 3 -> 2
    train.set_epoch(3)
    assert seq.epoch == 3 and len(train.indices) == 11
    assert len(x_val) == 2 and plan.validation_batch_size(5) == 4
    seq9 = AugmentedSequence(images, np.arange(13), np.arange(9), batch_size=4, augment=None)
    assert len(plan.adapt(seq9)[0]) == 2  # the last batch holds 1 image: left out
    with pytest.raises(ConfigError, match=r"train.batch_size = 3 is invalid: expected a "
                                          r"multiple of the 2 devices"):
        plan.adapt(AugmentedSequence(images, np.arange(13), batch_size=3, augment=None))


def test_set_random_seed_reproduces_keras_initialisation():
    set_random_seed(11)
    a = keras.layers.Dense(3)
    a.build((None, 4))
    set_random_seed(11)
    b = keras.layers.Dense(3)
    b.build((None, 4))
    np.testing.assert_array_equal(a.kernel.numpy() if hasattr(a.kernel, "numpy")
                                  else np.asarray(a.kernel), np.asarray(b.kernel))


@pytest.mark.parametrize("head", ["classifier", "mvn_full"])
def test_mixed_precision_keeps_inputs_heads_and_losses_float32(head, monkeypatch):
    from lensfind.zoo.model import build_model, compile_model
    exp = experiment_from_dict({
        "experiment": {"task": "classify" if head == "classifier" else "regress"},
        "model": {"backbone": "lensflow", "regime": "random", "weights": "none",
                  "input_size": 40, "dense_units": 8, "head": head,
                  **({"targets": ["theta_e", "e1"]} if head != "classifier" else {})},
        "train": {"mixed_precision": "mixed_bfloat16"}})
    before = keras.config.dtype_policy().name
    with training_scope(exp.train.mixed_precision) as plan:
        model = build_model(config=exp.model, input_shape=(48, 48, 1), n_targets=2)
        compile_model(model, config=exp.model, train=exp.train, n_targets=2)
    assert keras.config.dtype_policy().name == before and plan.precision == "mixed_bfloat16"
    assert model.get_layer("backbone").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("normalize").dtype_policy.name == "float32"
    assert model.get_layer("head_output").dtype_policy.name == "float32"
    assert {w.dtype for w in model.weights} == {"float32"}
    rng = np.random.default_rng(0)
    x = (100 + 10 * rng.normal(size=(4, 48, 48, 1))).astype("float32")
    y = rng.integers(0, 2, 4) if head == "classifier" else rng.normal(size=(4, 2))
    assert keras.backend.standardize_dtype(model(x).dtype) == "float32"
    logs = model.fit(x, y.astype("float32"), epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])


@pytest.mark.filterwarnings("ignore:Model doesn't support `jit_compile=True`")
def test_jit_compile_option_reaches_compile():
    import dataclasses

    from lensfind.zoo.model import build_model, compile_model
    exp = experiment_from_dict({"model": {"backbone": "lensflow", "regime": "random",
                                          "weights": "none", "input_size": 40}})
    model = build_model(config=exp.model, input_shape=(40, 40, 1))
    seen = []
    compile_ = model.compile

    def spy(*args, **kwargs):  # Keras may refuse XLA for some layers: check what was asked
        seen.append(kwargs.get("jit_compile"))
        return compile_(*args, **kwargs)

    model.compile = spy
    for value in (False, True, "auto"):
        compile_model(model, config=exp.model, train=dataclasses.replace(exp.train,
                                                                          jit_compile=value))
    assert seen == [False, True, "auto"]
    compile_model(model, config=exp.model, train=exp.train, jit_compile=False)
    assert seen[-1] is False and model.jit_compile is False


def test_data_worker_threads_do_not_change_what_is_trained(monkeypatch):
    """Batches are pure functions of (seed, fold, epoch, batch): threads preparing them ahead
    (``threads=3``) train the same weights as making them one by one when Keras asks."""
    from lensfind.data.sequence import WORKERS_ENV, AugmentedSequence, EpochSetter, \
        default_workers
    from lensfind.config.train import AugmentConfig

    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, 16, 16)).astype("float32")
    labels = rng.integers(0, 2, 40)

    def train(workers):
        keras.backend.clear_session()
        set_random_seed(5)
        seq = AugmentedSequence(images, labels, np.arange(36), batch_size=8, seed=2,
                                augment=AugmentConfig(), threads=workers)
        model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3),
                                  keras.layers.GlobalAveragePooling2D(),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
        model.fit(seq, epochs=3, shuffle=False, verbose=0, callbacks=[EpochSetter(seq)])
        return model.get_weights()

    for a, b in zip(train(1), train(3)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert default_workers() == 3
    monkeypatch.setenv(WORKERS_ENV, "0")
    with pytest.raises(ValueError, match="LENSFIND_DATA_WORKERS = '0' is invalid"):
        default_workers()
    monkeypatch.delenv(WORKERS_ENV)
    assert 1 <= default_workers() <= 8


# ------------------------------------------------------------------ data parallel (2 devices)

@pytest.mark.slow
@pytest.mark.skipif(not _importable("jax"), reason="jax is not installed")
def test_jax_data_parallel_uses_both_devices_and_matches_one_device():
    out = _run_check("jax", "--no-tensorflow")
    eq = out["equal"]
    assert eq["replicas"] == [1, 2]
    assert len(eq["devices"][0]) == 1 and len(eq["devices"][1]) == 2
    assert eq["max_weight_diff"] < 1e-5 and eq["max_pred_diff"] < 1e-5
    np.testing.assert_allclose(eq["loss"][0], eq["loss"][1], rtol=1e-5)
    fit = out["fit_fold"]  # ragged last batch (1 image) and 5 validation images
    assert len(fit["history"]) == 2 and len(fit["devices"]) == 2
    assert all(np.isfinite(h["loss"]) and np.isfinite(h["val_loss"]) for h in fit["history"])
    assert fit["pred_shape"] == [7, 2] and fit["pred_finite"]
    assert "checkpoint.keras" in fit["files"]
    assert not out["tensorflow_imported"]


@pytest.mark.slow
@pytest.mark.skipif(not _importable("tensorflow"), reason="tensorflow is not installed")
def test_tensorflow_mirrored_strategy_uses_both_devices_and_matches_one_device():
    out = _run_check("tensorflow", "--devices", "2")
    eq = out["equal"]
    assert eq["replicas"] == [1, 2]
    assert [len(d) for d in eq["devices"]] == [1, 2]
    assert eq["max_weight_diff"] < 1e-5 and eq["max_pred_diff"] < 1e-5
    fit = out["fit_fold"]
    assert len(fit["history"]) == 2 and len(fit["devices"]) == 2
    assert all(np.isfinite(h["loss"]) for h in fit["history"])
    assert fit["pred_shape"] == [7, 2] and fit["pred_finite"]


# ------------------------------------------------------- the JAX machine has no TensorFlow

@pytest.mark.skipif(not _importable("jax"), reason="jax is not installed")
def test_jax_backend_imports_the_training_and_scoring_paths_without_tensorflow():
    """As on the lent GPU machine: JAX, no TensorFlow. Importing every command must work and
    leave TensorFlow unimported (tests/no_tensorflow.py makes it unimportable)."""
    code = ("import sys, tests.no_tensorflow\n"
            "import lensfind.cli, lensfind.train.cv, lensfind.train.fit, lensfind.tasks.regress\n"
            "import lensfind.score.runner, lensfind.tune.run, lensfind.train.distribute\n"
            "import keras\n"
            "assert keras.backend.backend() == 'jax', keras.backend.backend()\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'tensorboard')]\n"
            "assert not bad, bad[:5]\n"
            "print('OK')\n")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
