"""Scoring throughput: FITS files on disk through the runner vs a bare ``model.predict``.

Both sides use the same model (the LensFlow baseline of thesis Table 3-1 on 100x100 cutouts,
random weights, loaded from a real run directory with ``safe_mode=True``) on the same images:

* baseline: ``model.predict(images, batch_size=32)`` on the images already in memory;
* runner: ``score_candidates`` on a CSV list of the same images as FITS files -- CSV scan, file
  reads in a thread pool, checks, the committee's forward passes, chunked writes with fsync,
  the final ranking pass and the grade table.

Both are warmed up first and timed ``--repeats`` times, alternating; the best time of each is
kept (the CPU may be shared). Prints cutouts/s of each and the ratio runner / baseline (the
goal is >= 0.9: reading and bookkeeping hidden behind the forward passes).

    python benchmarks/bench_score.py [--n 2000] [--repeats 3] [--workers 4]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def make_run(root: Path, size: int, backbone: str, input_size: int | None = None,
             precision: str = "float32") -> Path:
    """A finished one-fold run directory of ``backbone`` on ``size`` x ``size`` cutouts,
    built (as training would) under the dtype policy ``precision``."""
    from lensfind.config import Experiment
    from lensfind.seeds import set_random_seed
    from lensfind.train.distribute import precision_scope
    from lensfind.train.rundir import DONE, RunDir
    from lensfind.zoo.model import build_model
    exp = Experiment().replace(
        experiment={"name": f"bench-{backbone}"},
        model={"backbone": backbone, "weights": "none", "regime": "random",
               "input_size": input_size or size,
               "dense_units": 0 if backbone == "lensflow" else 256, "pool_dropout": 0.0},
        train={"folds": 2, "mixed_precision": precision})
    run = RunDir.create(root / "runs" / "bench", exp)
    set_random_seed(0)
    with warnings.catch_warnings(), precision_scope(precision):
        warnings.simplefilter("ignore")
        model = build_model(config=exp.model, input_shape=(size, size, 1))
    fold = run.fold_dir(0)
    fold.mkdir()
    model.save(fold / "model.keras")
    (fold / DONE).write_text("")
    return run.path


def make_list(root: Path, images: np.ndarray, name: str) -> Path:
    from astropy.io import fits
    folder = root / name
    (folder / "cutouts").mkdir(parents=True)
    with open(folder / "list.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "path", "grade"])
        for i, img in enumerate(images):
            rel = f"cutouts/{i:06d}.fits"
            fits.PrimaryHDU(img).writeto(folder / rel)
            w.writerow([f"{i:06d}", rel, "ABC"[i % 3]])
    return folder / "list.csv"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="cutouts (default %(default)s)")
    p.add_argument("--size", type=int, default=100, help="cutout side (default %(default)s)")
    p.add_argument("--backbone", default="lensflow", help="model backbone (default lensflow)")
    p.add_argument("--input-size", type=int, default=None,
                   help="the backbone's input side after the stem (default: the cutout side)")
    p.add_argument("--precision", default="float32",
                   help="dtype policy the model is built with, as train.mixed_precision "
                        "(a model trained in mixed_bfloat16 also scores in it)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each side")
    p.add_argument("--workers", type=int, default=4, help="readers of the runner")
    p.add_argument("--readers", default="auto", choices=("auto", "threads", "processes"),
                   help="the runner's readers: threads or processes (default auto)")
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)

    from lensfind.score.committee import Committee, load_member
    from lensfind.score.runner import ScoreOptions, score_candidates

    with tempfile.TemporaryDirectory(prefix="bench_score_") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        images = (10 + rng.normal(0, 1, (args.n, args.size, args.size))).astype(np.float32)
        run = make_run(root, args.size, args.backbone, args.input_size, args.precision)
        lst = make_list(root, images, "list")
        warm = make_list(root, images[:64], "warm")
        member = load_member(run)
        model = member.models[0]
        committee = Committee([member], batch_size=args.batch_size)
        options = ScoreOptions(progress=False, chunk_size=args.chunk_size,
                               workers=args.workers, readers=args.readers,
                               batch_size=args.batch_size, top=0)
        x = images[..., None]

        def cpu() -> float:
            t = os.times()
            return t.user + t.system

        def bare() -> tuple[float, float]:
            t, c = time.perf_counter(), cpu()
            model.predict(x, batch_size=args.batch_size, verbose=0)
            return time.perf_counter() - t, cpu() - c

        def runner(out: Path) -> tuple[float, float]:
            t, c = time.perf_counter(), cpu()
            score_candidates(lst, committee, out, options=options, say=lambda _: None)
            return time.perf_counter() - t, cpu() - c

        model.predict(x[:64], batch_size=args.batch_size, verbose=0)  # warm up both
        score_candidates(warm, committee, root / "warm.csv", options=options,
                         say=lambda _: None)
        t_bare, t_run, c_bare, c_run = [], [], [], []
        for k in range(args.repeats):
            for fn, t_list, c_list in ((bare, t_bare, c_bare), (runner, t_run, c_run)):
                wall, used = fn() if fn is bare else fn(root / f"scores{k}.csv")
                t_list.append(wall)
                c_list.append(used)
            print(f"repeat {k + 1}: predict {args.n / t_bare[-1]:8.1f} cutouts/s   "
                  f"runner {args.n / t_run[-1]:8.1f} cutouts/s   (pair ratio "
                  f"{t_bare[-1] / t_run[-1]:.3f})", file=sys.stderr)
        rate_bare, rate_run = args.n / min(t_bare), args.n / min(t_run)
        pair = sorted(b / r for b, r in zip(t_bare, t_run))
        print(f"model: {args.backbone} {args.size}x{args.size} cutouts -> "
              f"{args.input_size or args.size} px, {args.precision}, {args.n} cutouts, batch "
              f"{args.batch_size}, chunk {args.chunk_size}, {args.workers} readers "
              f"({args.readers}), "
              f"{os.cpu_count()} CPUs, best of {args.repeats}")
        print(f"bare model.predict (in memory):   {rate_bare:8.1f} cutouts/s   "
              f"CPU {1e3 * min(c_bare) / args.n:.2f} ms/cutout")
        print(f"scoring runner (FITS on disk):    {rate_run:8.1f} cutouts/s   "
              f"CPU {1e3 * min(c_run) / args.n:.2f} ms/cutout")
        print(f"ratio runner / predict: {rate_run / rate_bare:.3f}  (goal >= 0.9; median of "
              f"the {len(pair)} back-to-back pairs {pair[len(pair) // 2]:.3f}; CPU-time ratio "
              f"{min(c_bare) / min(c_run):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
