"""Training throughput: lensfind's cross-validation training step vs a bare ``Model.fit``.

For each backbone, both sides train the same network (``build_model`` + ``compile_model`` from
the same seed, so the same weights) on the same images:

* bare Keras: ``model.fit(x_train, y_train, batch_size, validation_data=(x_val, y_val),
  shuffle=True)`` on in-memory arrays, no callbacks. With ``--bare-augment on`` (the default)
  the network is wrapped in the same on-device augmentation
  (:class:`~lensfind.train.augmented.DeviceAugmented`, transforms drawn once), so the ratio
  measures lensfind's loop and input; ``off``: no augmentation at all (the GPU goal's bare);
* lensfind: :func:`lensfind.train.fit.fit_split`, the recipe ``run_cv`` fits every fold with -- the
  :class:`~lensfind.data.sequence.AugmentedSequence` (a ``keras.utils.PyDataset``: per-epoch
  reshuffle, rotation/zoom/shear/flip augmentation of every batch, on the device or, with
  ``--augment-on host``, with SciPy in the batch threads), the same validation arrays,
  early stopping with best weights, resume checkpoints (``--checkpoint-every-s``, default the
  ``"auto"`` policy), CSV and TensorBoard logs (TensorFlow backend), progress lines; under
  ``train.mixed_precision`` and ``train.distribute`` when given.

Before the networks, the input pipeline alone (``--pipeline``, on by default): reading the set
from an HDF5 file like lensfind's (one block read), the host side of a training epoch (shuffle,
slice, batch, draw the transforms: what the host does with device augmentation; one thread,
so per core), the SciPy host augmentation per core for comparison, and the compiled on-device
resampling's own cost per image (on whatever device the backend uses).

Both run ``--epochs`` epochs; an epoch's time is taken between the ends of consecutive epochs
(validation and, for lensfind, the checkpoint included), the first epoch (tracing and
compilation) is left out, and the faster of ``--repeats`` alternating runs of each side is
kept (the CPU may be shared). images/s = training images of an epoch / epoch time. The
"without checkpoints" ratio also subtracts the time lensfind's end-of-epoch disk work took
(checkpoint, best weights, ``state.json``, CSV log): the training steps and data pipeline alone.

FLOPs: counted analytically from the layer shapes (multiply-adds of every convolution --
plain, depthwise, separable, transposed -- and dense layer, times 2; batch norm, activations,
pooling and resizing are not counted, typically a few per cent), forward pass of one image.
A training step is taken as 3x the forward FLOPs (forward + backward through activations and
weights: the usual estimate). On JAX on a CPU the XLA cost analysis of the compiled forward
pass is printed alongside as a cross-check (``--no-xla-flops`` to skip it; on a GPU it misses
the cuDNN convolutions and is left out).

Fraction of peak (model FLOP utilisation) = 3 x forward FLOPs x images/s / peak. ``--peak-tflops``
defaults: NVIDIA H100 SXM dense tensor-core peak 989 TFLOP/s for bf16/fp16
(``--precision mixed_bfloat16``/``mixed_float16``) and 495 TFLOP/s (TF32) for float32 when a GPU
is found (H200: the same figures); on a CPU the nominal cores x clock x FLOP/cycle (32 per cycle
with AVX2 FMA, 64 with AVX-512 FMA, float32) from /proc/cpuinfo -- a rough figure.

    python benchmarks/bench_train.py                                 # CPU: small settings
    python benchmarks/bench_train.py lensflow xception --n 1024 --epochs 4
    KERAS_BACKEND=jax python benchmarks/bench_train.py lensflow efficientnet_b0 xception \\
        --input-size default --n 8192 --batch-size 128 --precision mixed_bfloat16    # a GPU
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

DEFAULT_BACKBONES = ("lensflow", "efficientnet_b0", "xception")
#: dense tensor-core peaks of an H100 SXM (H200: same compute), TFLOP/s
GPU_PEAK_TFLOPS = {"mixed_bfloat16": 989.0, "mixed_float16": 989.0, "float32": 495.0}


# --------------------------------------------------------------------------------- FLOPs

def _shape(tensor) -> tuple:
    return tuple(int(d) if d is not None else 1 for d in tensor.shape)


def count_flops(model) -> dict[str, float]:
    """Forward FLOPs of one image (2 x multiply-adds of conv and dense layers), by layer kind."""
    import keras
    L = keras.layers
    out: dict[str, float] = {}

    def add(kind, macs):
        out[kind] = out.get(kind, 0.0) + 2.0 * float(macs)

    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.Model) or not hasattr(layer, "_inbound_nodes") \
                or not layer._inbound_nodes:
            continue
        try:
            x, y = _shape(layer.input), _shape(layer.output)
        except (AttributeError, ValueError, TypeError):
            continue
        if isinstance(layer, L.SeparableConv2D):
            kh, kw = layer.kernel_size
            cin, dm = x[-1], layer.depth_multiplier
            add("separable", y[1] * y[2] * cin * dm * (kh * kw + y[-1]))
        elif isinstance(layer, L.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            add("depthwise", y[1] * y[2] * y[-1] * kh * kw)
        elif isinstance(layer, L.Conv2DTranspose):
            kh, kw = layer.kernel_size
            add("conv_transpose", x[1] * x[2] * x[-1] * kh * kw * y[-1])
        elif isinstance(layer, L.Conv2D):
            kh, kw = layer.kernel_size
            add("conv", y[1] * y[2] * y[-1] * kh * kw * x[-1] // max(1, layer.groups))
        elif isinstance(layer, L.Dense):
            add("dense", int(np.prod(x[1:-1] or (1,))) * x[-1] * y[-1])
    out["total"] = sum(out.values())
    return out


def xla_forward_flops(model, input_shape) -> float | None:
    """FLOPs of one image's forward pass from XLA's cost analysis (JAX backend only)."""
    import keras
    if keras.backend.backend() != "jax":
        return None
    import jax
    if jax.devices()[0].platform != "cpu":
        return None  # on a GPU XLA's cost analysis leaves out the cuDNN convolutions
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]

    def forward(tv, ntv, x):
        return model.stateless_call(tv, ntv, x, training=False)[0]

    x = jax.ShapeDtypeStruct((8,) + tuple(input_shape), "float32")
    cost = jax.jit(forward).lower(tv, ntv, x).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    flops = (cost or {}).get("flops")
    return None if flops is None else float(flops) / 8


# --------------------------------------------------------------------------------- peak

def default_peak_tflops(precision: str) -> tuple[float, str]:
    """``(TFLOP/s, description)`` of the device the backend trains on."""
    import keras
    backend = keras.backend.backend()
    gpu = False
    if backend == "jax":
        import jax
        gpu = jax.devices()[0].platform == "gpu"
    elif backend == "tensorflow":
        import tensorflow as tf
        gpu = bool(tf.config.list_logical_devices("GPU"))
    if gpu:
        return GPU_PEAK_TFLOPS[precision], f"H100 dense {precision} peak (assumed; --peak-tflops)"
    cores = os.cpu_count() or 1
    mhz, per_cycle = 2000.0, 32
    try:
        text = Path("/proc/cpuinfo").read_text()
        mhz = max(float(line.split(":")[1]) for line in text.splitlines()
                  if line.startswith("cpu MHz"))
        per_cycle = 64 if " avx512f" in text else 32
    except (OSError, ValueError):
        pass
    peak = cores * mhz * 1e6 * per_cycle / 1e12
    return peak, (f"CPU nominal: {cores} cores x {mhz / 1e3:.2f} GHz x {per_cycle} float32 "
                  "FLOP/cycle")


# --------------------------------------------------------------------------------- data

def make_images(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` cutouts in electrons: sky + noise, a galaxy, and a ring for the "lenses"."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2.0
    r = np.hypot(xx, yy)
    labels = (np.arange(n) % 2).astype(np.int32)
    galaxy = 400.0 * np.exp(-r / 4.0)
    ring = 150.0 * np.exp(-0.5 * ((r - 12.0) / 2.0) ** 2)
    images = 100.0 + rng.normal(0.0, 10.0, (n, size, size)) + galaxy
    images[labels == 1] += ring
    return images.astype(np.float32), labels


_BOOKKEEPING = {"seconds": 0.0}


def instrument_bookkeeping() -> None:
    """Time the end-of-epoch disk work of lensfind's fit (checkpoint, best weights, state.json,
    CSV log) into ``_BOOKKEEPING`` (the steps' throughput is then reported without it too)."""
    import keras

    from lensfind.train import callbacks as C

    def timed(cls):
        original = cls.on_epoch_end
        if getattr(original, "_bench_timed", False):
            return

        def on_epoch_end(self, epoch, logs=None):
            t = time.perf_counter()
            try:
                return original(self, epoch, logs)
            finally:
                _BOOKKEEPING["seconds"] += time.perf_counter() - t
        on_epoch_end._bench_timed = True
        cls.on_epoch_end = on_epoch_end

    for cls in (C.FoldCheckpoint, keras.callbacks.CSVLogger):
        timed(cls)


class EpochEnds:
    """Callback: ``perf_counter`` at the start of training and at the end of every epoch."""

    def __new__(cls):
        import keras

        class _EpochEnds(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times: list[float] = []

            def on_train_begin(self, logs=None):
                self.times = [time.perf_counter()]

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter())

            def epoch_seconds(self) -> list[float]:
                return [b - a for a, b in zip(self.times, self.times[1:])]

        return _EpochEnds()


# --------------------------------------------------------------------------------- one backbone

def experiment(backbone: str, args):
    from lensfind.config import Experiment
    from lensfind.zoo.backbones import BACKBONES
    spec = BACKBONES[backbone]
    small = max(spec.min_size, 32) if spec.stem else max(spec.min_size, args.size)
    size = {"small": small, "default": 0}.get(args.input_size)
    size = int(args.input_size) if size is None else size
    train = {"batch_size": args.batch_size, "epochs": args.epochs, "patience": 5,
             "learning_rate": 1e-4, "mixed_precision": args.precision,
             "distribute": args.distribute, "checkpoint_every_s": args.checkpoint_every_s,
             "augment_on": args.augment_on}
    if args.jit_compile != "auto":
        train["jit_compile"] = args.jit_compile == "true"
    return Experiment().replace(
        experiment={"name": f"bench-train-{backbone}"},
        model={"backbone": backbone, "regime": args.regime, "weights": "none",
               "input_size": size},
        train=train)


def bench_backbone(backbone: str, args, images, labels) -> dict:
    import keras

    from types import SimpleNamespace

    from lensfind.data.augment import random_transforms
    from lensfind.data.device_augment import packed_inputs
    from lensfind.seeds import set_random_seed
    from lensfind.tasks import TASKS, FoldContext
    from lensfind.train.augmented import wrap
    from lensfind.train.distribute import training_scope
    from lensfind.train.fit import fit_split
    from lensfind.zoo.model import build_model, compile_model, resolve_input_size

    exp = experiment(backbone, args)
    n = len(images)
    b = args.batch_size
    n_val = max(b, (n // 10) // b * b)
    n_train = (n - n_val) // b * b
    train_idx = np.arange(n_train)
    x_train = images[:n_train, ..., None]
    y_train = labels[:n_train]
    x_val, y_val = images[n - n_val:, ..., None], labels[n - n_val:]
    input_shape = images.shape[1:] + (1,)

    def build():
        set_random_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_model(config=exp.model, input_shape=input_shape)
        return compile_model(model, config=exp.model, train=exp.train)

    def bare() -> list[float]:
        keras.backend.clear_session()
        timer = EpochEnds()
        with training_scope(exp.train.mixed_precision, exp.train.distribute,
                            batch_size=b):
            model = build()
            x = x_train
            if args.bare_augment == "on":
                model = wrap(model)
                t = random_transforms(np.random.default_rng(1), len(x_train),
                                      exp.train.augment)
                x = packed_inputs(x_train, t.packed())
            model.fit(x, y_train, batch_size=b, epochs=exp.train.epochs,
                      validation_data=(x_val, y_val), validation_batch_size=b, shuffle=True,
                      verbose=0, callbacks=[timer])
        return timer.epoch_seconds()

    def lensfind() -> list[float]:
        keras.backend.clear_session()
        set_random_seed(0)
        timer = EpochEnds()
        timer.bookkeeping = []

        class Book(keras.callbacks.Callback):  # bookkeeping seconds of each epoch
            def on_epoch_begin(self, epoch, logs=None):
                _BOOKKEEPING["seconds"] = 0.0

            def on_epoch_end(self, epoch, logs=None):
                timer.bookkeeping.append(_BOOKKEEPING["seconds"])

        dataset = SimpleNamespace(images=images, labels=labels, system_id=np.arange(n))
        with tempfile.TemporaryDirectory(prefix="bench_train_") as folder:
            ctx = FoldContext(exp=exp, dataset=dataset, fold=0, k=1, train=train_idx,
                              val=np.arange(n - n_val, n), test=np.zeros(0, np.int64),
                              folder=Path(folder))
            fit_split(exp, TASKS["classify"], ctx, build=lambda *_: build(),
                      callbacks=[Book(), timer], progress=True, label="bench",
                      stream=io.StringIO(), sequence_options=args.sequence_kwargs)
        steps = [t - k for t, k in zip(timer.epoch_seconds(), timer.bookkeeping)]
        return timer.epoch_seconds(), steps

    keras.backend.clear_session()
    with training_scope(exp.train.mixed_precision):
        model = build()
    flops = count_flops(model)
    params = int(model.count_params())
    xla = None
    if args.xla_flops:
        try:
            xla = xla_forward_flops(model, input_shape)
        except Exception as err:  # noqa: BLE001 -- a cross-check only
            print(f"  ({backbone}: XLA cost analysis failed: {err})", file=sys.stderr)
    del model

    def later(t):
        return statistics.median(t[1:] if len(t) > 1 else t)

    best = {"bare": [], "lensfind": [], "lensfind_steps": []}
    for k in range(args.repeats):
        for name, fn in (("bare", bare), ("lensfind", lensfind)):
            if name not in args.sides:
                continue
            t = fn()
            if name == "lensfind":
                t, steps = t
                best["lensfind_steps"].append(later(steps))
            best[name].append(later(t))
            print(f"  {backbone} repeat {k + 1} {name:8s}: epochs "
                  + " ".join(f"{s:.2f}" for s in t) + " s -> "
                  f"{n_train / best[name][-1]:.1f} img/s" + (
                      f" (without end-of-epoch checkpoint/logs: "
                      f"{n_train / best['lensfind_steps'][-1]:.1f} img/s)"
                      if name == "lensfind" else ""), file=sys.stderr, flush=True)
    rate = {k: n_train / min(v) if v else float("nan") for k, v in best.items()}
    return {"backbone": backbone, "input_size": resolve_input_size(exp.model),
            "params": params, "flops": flops, "xla_flops": xla, "rate": rate,
            "ratio": rate["lensfind"] / rate["bare"], "n_train": n_train, "n_val": n_val}


def _every(text: str) -> float | str:
    return "auto" if text == "auto" else float(text)


def _every_text(every) -> str:
    if every == "auto":
        return "'auto'"
    return "epoch" if not every else f"{every:g} s"


# --------------------------------------------------------------------------------- input

def _rate(fn, n: int, repeats: int = 3) -> float:
    """Items per second of ``fn()`` (which handles ``n`` items), best of ``repeats``."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def bench_pipeline(args, images, labels) -> list[tuple[str, str]]:
    """Rows ``(stage, rate)`` of the input pipeline alone (see the module doc)."""
    import h5py
    import keras

    from lensfind.config.train import AugmentConfig
    from lensfind.data.augment import random_transforms
    from lensfind.data.device_augment import resample
    from lensfind.data.sequence import AugmentedSequence

    n, b = len(images), args.batch_size
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as folder:
        path = Path(folder) / "set.h5"
        with h5py.File(path, "w") as f:  # chunked per 64 cutouts like lensfind's sets
            f.create_dataset("images", data=images, chunks=(64,) + images.shape[1:])

        def read():
            with h5py.File(path, "r") as f:
                f["images"][()]
        rows.append(("read the HDF5 set (one block)", f"{_rate(read, n):,.0f} cutouts/s"))
    augment = AugmentConfig()
    for name, options in (("host side of an epoch: shuffle, slice, batch, draw transforms "
                           "(device augmentation; 1 thread)", {"device_augment": True}),
                          ("host SciPy augmentation, 1 thread (train.augment_on = 'host')", {})):
        seq = AugmentedSequence(images, labels, batch_size=b, seed=0, augment=augment,
                                threads=1, **options)

        def epoch():
            for i in range(len(seq)):
                seq.batch(i)
        rows.append((name, f"{_rate(epoch, n, 2 if options else 1):,.0f} cutouts/s per core"))
    x = images[:b, ..., None]
    packed = random_transforms(np.random.default_rng(0), b, augment).packed()
    if keras.backend.backend() == "jax":
        import jax
        fn = jax.jit(resample)
        device = str(jax.devices()[0].platform)

        def step():
            fn(x, packed).block_until_ready()
    else:
        from lensfind.train.augmented import compiled_resample
        fn = compiled_resample("mirror")
        device = "default"

        def step():
            np.asarray(fn(x, packed))
    step()
    per_image = 1e6 / _rate(lambda: [step() for _ in range(10)], 10 * b)
    rows.append((f"on-device resampling, compiled ({device}; batch {b}, includes the copy to "
                 "the device)", f"{per_image:.1f} us per image"))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("backbones", nargs="*", default=list(DEFAULT_BACKBONES),
                   help=f"zoo backbones (default: {' '.join(DEFAULT_BACKBONES)})")
    p.add_argument("--n", type=int, default=384, help="cutouts, 10%% of them validation "
                   "(default %(default)s)")
    p.add_argument("--size", type=int, default=100, help="cutout side (default %(default)s)")
    p.add_argument("--input-size", default="small",
                   help="backbone input side: 'small' (CPU: the smallest an ImageNet backbone "
                        "takes, at least 32; the cutout side for the baselines, as in "
                        "experiments/cv-lensflow.toml), 'default' (the thesis sizes, e.g. 200 "
                        "for Xception) or pixels")
    p.add_argument("--regime", default="random", choices=("random", "finetune", "frozen"))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3, help="the first is not timed")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--precision", default="float32",
                   choices=("float32", "mixed_bfloat16", "mixed_float16"))
    p.add_argument("--jit-compile", default="auto", choices=("auto", "true", "false"))
    p.add_argument("--distribute", default="none", choices=("none", "data_parallel"))
    p.add_argument("--threads", type=int, default=None,
                   help="batch-making threads of lensfind's sequence (default: "
                        "$LENSFIND_DATA_WORKERS or half the cores, at most 8)")
    p.add_argument("--checkpoint-every-s", type=_every, default="auto",
                   help="train.checkpoint_every_s of lensfind's fit: seconds or 'auto' "
                        "(default)")
    p.add_argument("--augment-on", default="device", choices=("device", "host"),
                   help="train.augment_on of lensfind's fit (default %(default)s)")
    p.add_argument("--bare-augment", default="on", choices=("on", "off"),
                   help="bare fit with the same on-device augmentation (default) or none")
    p.add_argument("--sides", nargs="+", default=["bare", "lensfind"],
                   choices=("bare", "lensfind"), help="which sides to run (default both; the "
                   "utilisation columns use lensfind's when it runs)")
    p.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                   help="skip the input-pipeline measurements")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="device peak for the utilisation column (default: see the module doc)")
    p.add_argument("--no-xla-flops", dest="xla_flops", action="store_false")
    args = p.parse_args(argv)
    args.sequence_kwargs = {} if args.threads is None else {"threads": args.threads}
    instrument_bookkeeping()

    import keras

    from lensfind.zoo.backbones import BACKBONES
    unknown = [b for b in args.backbones if b not in BACKBONES]
    if unknown:
        p.error(f"unknown backbone(s) {unknown}: expected some of {', '.join(BACKBONES)}")
    peak, peak_note = ((args.peak_tflops, "given") if args.peak_tflops
                       else default_peak_tflops(args.precision))
    images, labels = make_images(args.n, args.size)
    if args.pipeline:
        print(f"input pipeline: {args.n} cutouts of {args.size}x{args.size}, batch "
              f"{args.batch_size}, backend {keras.backend.backend()}")
        print("| stage | rate |\n|---|---|")
        for stage, rate in bench_pipeline(args, images, labels):
            print(f"| {stage} | {rate} |", flush=True)
    rows = []
    for backbone in args.backbones:
        rows.append(bench_backbone(backbone, args, images, labels))

    from lensfind.data.sequence import default_workers
    threads = args.threads or default_workers()
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, precision "
          f"{args.precision}, distribute {args.distribute}, regime {args.regime}, "
          f"{threads} batch thread(s), checkpoint every "
          f"{_every_text(args.checkpoint_every_s)}, augmentation on the {args.augment_on} "
          f"(bare: {'the same' if args.bare_augment == 'on' else 'none'}), "
          f"{rows[0]['n_train']} training + {rows[0]['n_val']} validation cutouts of "
          f"{args.size}x{args.size}, batch {args.batch_size}, {args.epochs} epochs (first not "
          f"timed), best of {args.repeats}; peak {peak:g} TFLOP/s ({peak_note})")
    xla_col = any(r["xla_flops"] for r in rows)
    head = ["backbone", "input", "params", "GFLOP/img fwd"] + (["XLA GFLOP/img"] if xla_col
                                                               else []) + \
        ["bare Keras img/s", "lensfind img/s", "lensfind / bare", "without checkpoints",
         "train TFLOP/s", "% of peak"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        fwd = r["flops"]["total"]
        side = "lensfind" if "lensfind" in args.sides else "bare"
        achieved = 3 * fwd * r["rate"][side] / 1e12
        cells = [r["backbone"], str(r["input_size"]), f"{r['params'] / 1e6:.2f}M",
                 f"{fwd / 1e9:.3f}"]
        if xla_col:
            cells.append("--" if not r["xla_flops"] else f"{r['xla_flops'] / 1e9:.3f}")
        cells += [f"{r['rate']['bare']:.1f}", f"{r['rate']['lensfind']:.1f}",
                  f"{r['ratio']:.2f}x",
                  f"{r['rate']['lensfind_steps'] / r['rate']['bare']:.2f}x",
                  f"{achieved:.3g}", f"{100 * achieved / peak:.2g}%"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
