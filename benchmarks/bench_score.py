"""Scoring throughput of each input path vs a bare ``model.predict`` on arrays in memory.

Every side uses the same model (the LensFlow baseline of thesis Table 3-1 on 100x100 cutouts,
random weights, loaded from a real run directory with ``safe_mode=True``) on the same images:

* baseline: ``model.predict(images, batch_size=32)`` on the images already in memory;
* ``files``: ``score_candidates`` on a CSV list of the images as FITS files, one per cutout;
* ``stack``: the images as one HDF5 dataset N x H x W, a CSV catalogue of indices;
* ``tiles``: the images laid out on a grid in survey tiles with a TAN WCS (FITS, 4 tiles), a CSV
  catalogue of (ra, dec) cut from them with ``Cutout2D``.

A runner side includes the CSV scan, the reads (threads or processes), checks, the committee's
forward passes, chunked writes with fsync, the final ranking pass and the grade table. All are
warmed up first and timed ``--repeats`` times, alternating; the best time of each is kept (the
CPU may be shared). Prints cutouts/s of each, its wall-time ratio to the baseline (goals: files
>= 0.9, stack >= 0.95) and its CPU-time ratio (steadier on a shared machine), and the same as
a Markdown table.

    python benchmarks/bench_score.py [--n 2000] [--repeats 3] [--workers 4] [--paths files stack]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
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


def make_list(root: Path, images: np.ndarray, name: str) -> tuple[Path, dict]:
    """One FITS file per cutout and a CSV list of them."""
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
    return folder / "list.csv", {}


def make_stack(root: Path, images: np.ndarray, name: str) -> tuple[Path, dict]:
    """One HDF5 dataset of all cutouts (chunked per cutout, as lensfind's sets) and a CSV
    catalogue of indices."""
    import h5py
    folder = root / name
    folder.mkdir(parents=True)
    with h5py.File(folder / "stack.h5", "w") as fh:
        fh.create_dataset("images", data=images, chunks=(1,) + images.shape[1:])
    with open(folder / "list.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "index", "grade"])
        for i in range(len(images)):
            w.writerow([f"{i:06d}", i, "ABC"[i % 3]])
    return folder / "list.csv", {"stack": folder / "stack.h5"}


def make_tiles(root: Path, images: np.ndarray, name: str, n_tiles: int = 4
               ) -> tuple[Path, dict]:
    """The cutouts on a grid in ``n_tiles`` FITS tiles with a TAN WCS (0.2"/px, tiles 1 deg
    apart) and a CSV catalogue of their centres' (ra, dec)."""
    from astropy.io import fits
    from astropy.wcs import WCS
    folder = root / name
    folder.mkdir(parents=True)
    n, size = len(images), images.shape[1]
    per_tile = -(-n // n_tiles)
    side = int(np.ceil(np.sqrt(per_tile)))
    step = size + 10
    rows, tiles = [], []
    for t in range(n_tiles):
        part = images[t * per_tile:(t + 1) * per_tile]
        data = np.full((side * step + 10, side * step + 10), 10.0, np.float32)
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [150.0 + t, 2.0]
        w.wcs.crpix = [data.shape[1] / 2, data.shape[0] / 2]
        w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
        for k, img in enumerate(part):
            y0, x0 = 10 + (k // side) * step, 10 + (k % side) * step
            data[y0:y0 + size, x0:x0 + size] = img
            ra, dec = w.wcs_pix2world([[x0 + (size - 1) / 2, y0 + (size - 1) / 2]], 0)[0]
            i = t * per_tile + k
            rows.append([f"{i:06d}", repr(float(ra)), repr(float(dec)), "ABC"[i % 3]])
        fits.PrimaryHDU(data, header=w.to_header()).writeto(folder / f"tile{t}.fits")
        tiles.append(folder / f"tile{t}.fits")
    with open(folder / "list.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "ra", "dec", "grade"])
        w.writerows(rows)
    return folder / "list.csv", {"image": tiles}


#: input path -> builder ``(root, images, name) -> (catalogue, score_candidates arguments)``
PATHS = {"files": make_list, "stack": make_stack, "tiles": make_tiles}
#: the ratio each path should reach on a CPU
GOALS = {"files": 0.9, "stack": 0.95, "tiles": None}


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
    p.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS),
                   help="input paths to time (default all)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each side")
    p.add_argument("--workers", type=int, default=4, help="readers of the runner")
    p.add_argument("--readers", default="auto", choices=("auto", "threads", "processes"),
                   help="the runner's readers: threads or processes (default auto)")
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)

    from lensfind.files import markdown_table
    from lensfind.score.committee import Committee, load_member
    from lensfind.score.runner import ScoreOptions, score_candidates

    with tempfile.TemporaryDirectory(prefix="bench_score_") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        images = (10 + rng.normal(0, 1, (args.n, args.size, args.size))).astype(np.float32)
        run = make_run(root, args.size, args.backbone, args.input_size, args.precision)
        inputs = {name: PATHS[name](root, images, name) for name in args.paths}
        warm = {name: PATHS[name](root, images[:64], f"warm-{name}") for name in args.paths}
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

        def bare(_: int) -> tuple[float, float]:
            t, c = time.perf_counter(), cpu()
            model.predict(x, batch_size=args.batch_size, verbose=0)
            return time.perf_counter() - t, cpu() - c

        def runner(name: str, catalogue: Path, kwargs: dict) -> Callable:
            def run_once(k: int) -> tuple[float, float]:
                t, c = time.perf_counter(), cpu()
                score_candidates(catalogue, committee, root / f"{name}{k}.csv", options=options,
                                 say=lambda _: None, **kwargs)
                return time.perf_counter() - t, cpu() - c
            return run_once

        model.predict(x[:64], batch_size=args.batch_size, verbose=0)  # warm up every side
        for name, (catalogue, kwargs) in warm.items():
            score_candidates(catalogue, committee, root / f"warm-{name}.csv", options=options,
                             say=lambda _: None, **kwargs)
        sides = {"predict": bare} | {name: runner(name, *inputs[name]) for name in inputs}
        wall: dict[str, list[float]] = {name: [] for name in sides}
        used: dict[str, list[float]] = {name: [] for name in sides}
        for k in range(args.repeats):
            for name, fn in sides.items():
                w, c = fn(k)
                wall[name].append(w)
                used[name].append(c)
            print(f"repeat {k + 1}: " + "   ".join(
                f"{name} {args.n / wall[name][-1]:.1f}/s" for name in sides), file=sys.stderr)
        print(f"model: {args.backbone} {args.size}x{args.size} cutouts -> "
              f"{args.input_size or args.size} px, {args.precision}, {args.n} cutouts, batch "
              f"{args.batch_size}, chunk {args.chunk_size}, {args.workers} readers "
              f"({args.readers}), {os.cpu_count()} CPUs, best of {args.repeats}")
        header = ["input", "cutouts/s", "x bare predict", "median pair ratio",
                  "CPU ms/cutout", "CPU-time ratio", "goal"]
        rows = []
        for name in sides:
            rate = args.n / min(wall[name])
            pairs = sorted(b / r for b, r in zip(wall["predict"], wall[name]))
            goal = GOALS.get(name)
            rows.append([name if name != "predict" else "bare model.predict (in memory)",
                         f"{rate:,.1f}", f"{min(wall['predict']) / min(wall[name]):.3f}",
                         f"{pairs[len(pairs) // 2]:.3f}",
                         f"{1e3 * min(used[name]) / args.n:.2f}",
                         f"{min(used['predict']) / min(used[name]):.3f}",
                         "" if goal is None else f">= {goal}"])
        for row in rows:
            print(f"{row[0]:32s} {row[1]:>10s} cutouts/s   {row[2]}x bare   (median pair "
                  f"{row[3]}; CPU {row[4]} ms/cutout, CPU-time ratio {row[5]})")
        print()
        print(markdown_table(header, rows, align=["---"] + ["---:"] * 6))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
