"""What colour buys: single-band against 3-band lens finding on the same simulated systems.

Both sides run ``experiments/cv-lensflow-gri.toml`` (LensFlow, LSST-like 0.2"/px cutouts) with
the same seed, counts, folds and training; one keeps the preset's g, r, i bands, the other only
its i band. The lens, source and non-lens draws come from the same random stream whatever the
bands (:mod:`lensfind.sim.simulate`), so both see the same systems; only the channels (and each
band's own noise) differ. Printed: the cross-validation table of each, side by side.

    python benchmarks/bench_bands.py                           # CPU: 400 + 400 cutouts
    python benchmarks/bench_bands.py --n 15000 --folds 7 --epochs 30      # a GPU
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXPERIMENT = ROOT / "experiments" / "cv-lensflow-gri.toml"
METRICS = ("roc_auc", "tpr_fpr1e-2", "accuracy", "f1")


def experiments(n: int, folds: int, epochs: int, learning_rate: float) -> dict:
    """``{"i": single-band experiment, "g,r,i": 3-band experiment}``, same systems."""
    from lensfind.config import load_experiment
    overrides = [f"simulation.n_lenses={n}", f"simulation.n_nonlenses={n}",
                 "simulation.supersampling=2", f"train.folds={folds}", f"train.epochs={epochs}",
                 f"train.learning_rate={learning_rate}", "train.batch_size=32",
                 f"train.patience={epochs}", "experiment.name=bench-bands-gri"]
    gri = load_experiment(EXPERIMENT, overrides=overrides)
    i_band = [b for b in gri.simulation.bands if b.name == "i"]
    single = gri.replace(experiment={"name": "bench-bands-i"},
                         simulation={"bands": [vars(b) for b in i_band]})
    return {"i": single, "g,r,i": gri}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="lenses and as many non-lenses")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    args = parser.parse_args(argv)
    from lensfind.train.cv import run_cv
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LENSFIND_DATA_DIR"] = str(Path(tmp) / "data")
        for bands, exp in experiments(args.n, args.folds, args.epochs,
                                      args.learning_rate).items():
            t0 = time.perf_counter()
            result = run_cv(exp, runs_root=Path(tmp) / "runs", stream=io.StringIO())
            metrics = result.summary["metrics"]
            rows.append([bands] + [f"{metrics[m]['mean']:.3f} ± {metrics[m]['std']:.3f}"
                                   for m in METRICS] + [f"{time.perf_counter() - t0:.0f}"])
    print(f"{2 * args.n} cutouts ({args.n} lenses), {args.folds} folds, {args.epochs} epochs, "
          f"LensFlow, LSST-like 0.2\"/px; mean ± std over the test folds")
    print("| bands | " + " | ".join(METRICS) + " | wall s |")
    print("|---" * (len(METRICS) + 2) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
