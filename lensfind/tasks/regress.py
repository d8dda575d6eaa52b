"""The ``"regress"`` task: lens parameters with Gaussian heads over the k-fold machinery.

The hooks of :class:`RegressTask` (``TASKS["regress"]``), as cross-validation, tuning and
scoring call them for an experiment with ``[experiment] task = "regress"``:

* ``select`` (:func:`select`) -- the images that take part (the lenses: non-lenses have no lens
  parameters), refusing unknown targets, targets missing from the data set and NaN values;
  folds are stratified on the Einstein radius (above/below its median);
* ``train_targets`` (:func:`label_fn`) -- targets that follow the augmentation (rotations and
  flips move the centre and turn the ellipticity and shear, a zoom scales theta_e;
  :func:`lensfind.data.augment.transform_params`); targets stay in their own units;
* ``prepare_model`` -- stores the *training fold's* target mean and std in the model's
  :class:`~lensfind.zoo.regression_heads.TargetScaling` layer (whitening saved with the model,
  predictions in target units) and compiles it with the head's loss (:func:`compile_regression`);
* ``predict`` (:func:`predict_fold`) -- MC-dropout predictions (``train.mc_samples`` passes,
  one :class:`lensfind.zoo.sampling.DropoutSampler` seeded by ``(seed, "mc_dropout", fold, split)``)
  of the validation split and the test fold into ``fold_<k>/predictions.npz`` and ``oof.csv``;
* ``fold_metrics`` (:func:`fold_metrics`) -- 68 % errors, coverage, chi2 and NLL, before and
  after the covariance factor fitted on the validation split (``fold_<k>/calibration.json``);
* ``plots`` (:func:`summarize`) -- pooled out-of-fold Table 1, coverage before/after
  recalibration, chi2 test (``regress_*.{csv,md,json}``) and ``plots/regress_*.png``;
* ``sweep_plots`` -- coverage against a swept setting (the covariance paper's dropout rates);
* ``member_targets`` / ``score_values`` -- a scoring member's mixture moments per candidate:
  ``<member>_<param>``, ``<member>_<param>_sigma`` and the covariance's upper triangle.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.data.augment import LabelTransform
from lensfind.evaluate import regression_plots as RP
from lensfind.evaluate.calibration import (EXPECTED_COVERAGE, coverage, error68, fit_sigma_scales,
                                           evaluate_regression, fit_recalibration, write_tables)
from lensfind.files import atomic_path, jsonable, write_json
from lensfind.probabilistic import REGRESSION_HEADS, Prediction, check_outputs, log_det, mc_moments
from lensfind.seeds import STREAMS
from lensfind.sim.params import PARAMS, REGRESSION_TARGETS, TABLE1_TARGETS
from lensfind.tasks.base import FoldContext, Task
from lensfind.validation import ConfigError, fail
from lensfind.zoo.model import make_optimizer
from lensfind.zoo.regression_heads import (regression_loss, regression_metrics, scaling_layer,
                                           set_target_scaling, target_scaling)
from lensfind.zoo.sampling import DropoutSampler, gaussian_prediction

PREDICTIONS = "predictions.npz"
RECALIBRATION_METHOD = "mle"


# --------------------------------------------------------------------------------- checks

def check_targets(names: Sequence[str]) -> tuple[str, ...]:
    """Refuse unknown target names (listing the allowed ones)."""
    names = tuple(names)
    unknown = [n for n in names if n not in REGRESSION_TARGETS]
    if unknown or not names:
        fail("model.targets", list(names),
             f"names from {', '.join(REGRESSION_TARGETS)}"
             + (f" (unknown: {', '.join(map(repr, unknown))})" if unknown else ""))
    return names


def check_experiment(exp) -> None:
    """Refuse a regress experiment whose head or targets cannot work, before any work."""
    if exp.model.head not in REGRESSION_HEADS:
        fail("model.head", exp.model.head,
             f"one of {', '.join(map(repr, REGRESSION_HEADS))} for task 'regress'")
    check_targets(exp.model.targets)


def select(dataset, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, targets)``: the lenses of ``dataset`` and their (N, n) float64 targets.

    Raises:
        ConfigError: an unknown target, a target the data set does not have, or NaN / infinite
            values among the lenses.
    """
    names = check_targets(names)
    missing = [n for n in names if n not in dataset.params]
    if missing:
        source = getattr(dataset, "path", None) or "the data set"
        fail("model.targets", list(names),
             f"parameters present in {source}: it has no {', '.join(map(repr, missing))} "
             f"(it has {', '.join(sorted(dataset.params)) or 'no parameters'})")
    labels = np.asarray(dataset.labels)
    idx = np.flatnonzero(labels == 1)
    if idx.size == 0:
        raise ConfigError(f"{getattr(dataset, 'path', None) or 'the data set'} has no lenses "
                          "(label 1): nothing to regress")
    y = np.stack([np.asarray(dataset.params[n], np.float64)[idx] for n in names], axis=1)
    bad = ~np.isfinite(y)
    if bad.any():
        counts = {n: int(bad[:, j].sum()) for j, n in enumerate(names) if bad[:, j].any()}
        raise ConfigError(
            f"targets contain NaN or infinite values among the {idx.size} lenses: "
            + ", ".join(f"{n} ({c} values)" for n, c in counts.items())
            + "; expected finite values for every lens")
    return idx, y


def whitening(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (n,) of training targets; a constant target gets std 1 (not 0)."""
    y = np.asarray(y, np.float64)
    if y.ndim != 2 or y.shape[0] == 0 or not np.isfinite(y).all():
        raise ValueError(f"training targets of shape {y.shape} must be (N > 0, n) and finite")
    std = y.std(axis=0)
    return y.mean(axis=0), np.where(std > 0, std, 1.0)


def check_model_targets(model, names: Sequence[str]) -> None:
    """Refuse a model whose head was built for other targets than ``names``."""
    layer = scaling_layer(model)
    if tuple(layer.names) != tuple(names):
        raise ValueError(f"model head predicts {list(layer.names)} ({layer.n} targets, head "
                         f"{layer.head!r}); the targets given are {list(names)}")


# --------------------------------------------------------------------------- model + data

def compile_regression(model, *, train) -> Any:
    """Compile with the train table's optimiser and the head's loss (mse scale from the model)."""
    model.compile(optimizer=make_optimizer(train), loss=regression_loss(model),
                  metrics=regression_metrics(model),
                  jit_compile=getattr(train, "jit_compile", "auto"))
    return model


def label_fn(params: Mapping[str, np.ndarray], names: Sequence[str]) -> LabelTransform:
    """The targets ``names`` after each batch's augmentation transform (host path) and their raw
    columns (device path): a :class:`~lensfind.data.augment.LabelTransform`.

    ``params`` holds full-length parameter arrays (the data set's).
    """
    try:
        return LabelTransform(params, names)
    except ValueError as err:
        raise ConfigError(str(err)) from None


# ------------------------------------------------------------------------------ fold results

def _save_npz(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def fold_metrics(pred_test, y_test, pred_val=None, y_val=None) -> tuple[dict, dict]:
    """Per-fold numbers: ``(flat, detail)``.

    ``flat`` (for the CV summary): ``error68_<target>``, ``coverage_<k>sigma`` (average over
    targets) as predicted and ``..._recalibrated`` (covariance scaled by the factor fitted on the
    validation split), ``chi2_ks``, ``nll`` and ``log_likelihood`` (= -nll, the headline) and
    ``recalibration_scale``. ``detail``: per-target reports before and after recalibration.
    """
    scale = math.nan
    if pred_val is not None and y_val is not None and len(y_val):
        scale = fit_recalibration(pred_val.mean, pred_val.covariance, y_val,
                                  method=RECALIBRATION_METHOD)
    before = evaluate_regression(pred_test.mean, pred_test.covariance, y_test,
                                 names=pred_test.names)
    detail: dict[str, Any] = {"n_test": int(len(y_test)), "recalibration_scale": scale,
                              "recalibration_method": RECALIBRATION_METHOD,
                              "before": before.summary()}
    flat: dict[str, Any] = {f"error68_{n}": float(before.error68[j])
                            for j, n in enumerate(pred_test.names)}
    flat.update({f"coverage_{k}sigma": v for k, v in before.average_coverage().items()})
    if math.isfinite(scale):
        after = evaluate_regression(pred_test.mean, pred_test.covariance, y_test,
                                    names=pred_test.names, scale=scale)
        detail["after"] = after.summary()
        flat.update({f"coverage_{k}sigma_recalibrated": v
                     for k, v in after.average_coverage().items()})
    flat["chi2_ks"] = before.chi2_test["ks_statistic"]
    flat["nll"] = before.nll
    flat["log_likelihood"] = -before.nll
    flat["recalibration_scale"] = scale
    flat = {k: (float(v) if v is not None else math.nan) for k, v in flat.items()}
    return flat, jsonable(detail)


def fold_sigma_scales(folder: Path) -> np.ndarray | None:
    """The fold's per-parameter sigma factors fitted on its validation split
    (:func:`lensfind.evaluate.calibration.fit_sigma_scales`); None without one."""
    path = Path(folder) / PREDICTIONS
    if not path.is_file():
        return None
    _, _, val, y_val = load_fold_predictions(folder)
    if val is None or not len(y_val):
        return None
    return fit_sigma_scales(val.mean, val.covariance, y_val)


N_EXTREMES = 6


def predict_fold(model, exp, dataset, folder: Path, *, test_idx, y_test, val_idx=(),
                 y_val=None, fold: int = 0) -> dict[str, np.ndarray]:
    """Predict the validation split and the test fold; write ``predictions.npz``.

    ``predictions.npz`` holds means, aleatoric and epistemic covariances and truths of the test
    fold and of the validation split (for recalibration), their indices, and the cutouts of the
    test images with the smallest and largest det Sigma (for the easy/hard figure). Returns the
    ``oof.csv`` columns: per target ``true_``, ``mean_``, ``sigma_`` (total),
    ``sigma_aleatoric_``, ``sigma_epistemic_``.
    """
    folder = Path(folder)
    test_idx = np.asarray(test_idx, np.int64)
    val_idx = np.asarray(val_idx, np.int64)
    stream = STREAMS["mc_dropout"]
    with DropoutSampler(model, passes=exp.train.mc_samples,
                        batch_size=max(exp.train.batch_size, 64), seed=exp.seed) as sampler:
        pred = gaussian_prediction(sampler, dataset.images[test_idx], (stream, fold, 0))
        pred_val = (gaussian_prediction(sampler, dataset.images[val_idx], (stream, fold, 1))
                    if val_idx.size else None)
    n = len(pred.names)
    y_val = np.zeros((0, n)) if y_val is None else np.asarray(y_val, np.float64)
    arrays = dict(names=np.array(pred.names), test_index=test_idx,
                  test_true=np.asarray(y_test, np.float64), test_mean=pred.mean,
                  test_aleatoric=pred.aleatoric, test_epistemic=pred.epistemic,
                  val_index=val_idx, val_true=y_val)
    if pred_val is not None:
        arrays.update(val_mean=pred_val.mean, val_aleatoric=pred_val.aleatoric,
                      val_epistemic=pred_val.epistemic)
    cov = pred.covariance
    if np.all(np.einsum("nii->ni", cov) > 0):
        order = np.argsort(log_det(cov))
        pick = np.unique(np.concatenate([order[:N_EXTREMES], order[-N_EXTREMES:]]))
        arrays.update(extreme_pos=pick, extreme_images=np.asarray(
            dataset.images[test_idx[pick]], np.float32))
    _save_npz(folder / PREDICTIONS, **arrays)
    sa = np.sqrt(np.einsum("nii->ni", pred.aleatoric))
    se = np.sqrt(np.einsum("nii->ni", pred.epistemic))
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(pred.names):
        columns[f"true_{name}"] = np.asarray(y_test, np.float64)[:, j]
        columns[f"mean_{name}"] = pred.mean[:, j]
        columns[f"sigma_{name}"] = pred.sigma[:, j]
        columns[f"sigma_aleatoric_{name}"] = sa[:, j]
        columns[f"sigma_epistemic_{name}"] = se[:, j]
    return columns


def load_fold_predictions(folder: Path):
    """``(test Prediction, test truths, validation Prediction or None, validation truths)``."""
    with np.load(Path(folder) / PREDICTIONS) as z:
        d = {k: z[k] for k in z.files}
    names = tuple(str(n) for n in d["names"])
    test = Prediction(names, d["test_mean"], d["test_aleatoric"], d["test_epistemic"])
    val = None
    if "val_mean" in d:
        val = Prediction(names, d["val_mean"], d["val_aleatoric"], d["val_epistemic"])
    return test, d["test_true"], val, d["val_true"]


# ----------------------------------------------------------------------------------- summary

@dataclasses.dataclass
class PooledPredictions:
    """Out-of-fold predictions of all finished folds, with the per-fold recalibration.

    ``extreme_images`` / ``extreme_pos``: cutouts kept by each fold for the det Sigma figure and
    their positions in the pooled arrays.
    """

    names: tuple[str, ...]
    index: np.ndarray
    true: np.ndarray
    mean: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    scale: np.ndarray  # per image: its fold's recalibration factor (NaN if none)
    extreme_pos: np.ndarray
    extreme_images: np.ndarray | None

    @property
    def covariance(self) -> np.ndarray:
        return self.aleatoric + self.epistemic


def pool_predictions(fold_dirs: Sequence[Path]) -> PooledPredictions:
    """Concatenate ``predictions.npz`` of the given fold folders (each with its fold's scale)."""
    parts = []
    offset = 0
    pos, imgs = [], []
    for folder in fold_dirs:
        path = Path(folder) / PREDICTIONS
        if not path.is_file():
            continue
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        scale = math.nan
        if "val_mean" in d and len(d["val_true"]):
            scale = fit_recalibration(d["val_mean"], d["val_aleatoric"] + d["val_epistemic"],
                                      d["val_true"], method=RECALIBRATION_METHOD)
        d["scale"] = np.full(len(d["test_index"]), scale)
        if "extreme_pos" in d:
            pos.append(d["extreme_pos"] + offset)
            imgs.append(d["extreme_images"])
        offset += len(d["test_index"])
        parts.append(d)
    if not parts:
        raise FileNotFoundError(f"no {PREDICTIONS} in {[str(f) for f in fold_dirs]}: no "
                                "finished regression fold")
    return PooledPredictions(
        names=tuple(str(n) for n in parts[0]["names"]),
        index=np.concatenate([p["test_index"] for p in parts]),
        true=np.concatenate([p["test_true"] for p in parts]),
        mean=np.concatenate([p["test_mean"] for p in parts]),
        aleatoric=np.concatenate([p["test_aleatoric"] for p in parts]),
        epistemic=np.concatenate([p["test_epistemic"] for p in parts]),
        scale=np.concatenate([p["scale"] for p in parts]),
        extreme_pos=np.concatenate(pos) if pos else np.zeros(0, np.int64),
        extreme_images=np.concatenate(imgs) if imgs else None)


def reports(pooled: PooledPredictions) -> dict[str, Any]:
    """``{"as predicted": report, "recalibrated": report}`` (the second when scales exist)."""
    out = {"as predicted": evaluate_regression(pooled.mean, pooled.covariance, pooled.true,
                                               names=pooled.names)}
    if np.isfinite(pooled.scale).all():
        cov = pooled.covariance * pooled.scale[:, None, None]
        rep = evaluate_regression(pooled.mean, cov, pooled.true, names=pooled.names)
        rep.scale = float(np.exp(np.mean(np.log(pooled.scale))))  # geometric mean, for labels
        out["recalibrated"] = rep
    return out


def summarize(run_path: str | Path, *, label: str = "this run") -> dict[str, Path]:
    """Tables and plots of a regression run directory from its finished folds.

    Writes ``regress_table1.{csv,md}``, ``regress_coverage.{csv,md}`` and
    ``regress_calibration.json`` at the top of the run, and ``plots/regress_pred_vs_true.png``,
    ``regress_chi2.png``, ``regress_calibration.png`` and ``regress_det_extremes.png``.
    """
    run = Path(run_path)
    folds = sorted(p for p in run.glob("fold_*") if p.is_dir() and (p / PREDICTIONS).is_file())
    pooled = pool_predictions(folds)
    reps = reports(pooled)
    labelled = {f"{label} ({k})": v for k, v in reps.items()}
    paths = write_tables(run, labelled, stem="regress_")
    plots = run / "plots"
    units = {n: PARAMS.get(n, ("",))[0] for n in pooled.names}
    sigma = np.sqrt(np.clip(np.einsum("nii->ni", pooled.covariance), 0, None))
    paths["pred_vs_true"] = RP.plot_pred_vs_true(
        pooled.mean, sigma, pooled.true, pooled.names, plots / "regress_pred_vs_true.png",
        units=units, title=f"{run.parent.name}: out-of-fold predictions with 1σ error bars "
                           "(as predicted)")
    paths["chi2"] = RP.plot_chi2(labelled, plots / "regress_chi2.png")
    paths["calibration"] = RP.plot_calibration_curve(labelled, plots / "regress_calibration.png")
    if pooled.extreme_images is not None and len(pooled.extreme_pos) >= 2:
        paths["det_extremes"] = RP.plot_det_extremes(
            pooled.extreme_images, pooled.covariance[pooled.extreme_pos],
            plots / "regress_det_extremes.png", true=pooled.true[pooled.extreme_pos],
            names=pooled.names)
    return paths


# ------------------------------------------------------------------------------------ task

def _fold_dirs(run_path: Path) -> list[Path]:
    return sorted(p for p in Path(run_path).glob("fold_*") if p.is_dir())


class RegressTask(Task):
    """Lens parameters with Gaussian heads (see the module docstring)."""

    name = "regress"
    heads = REGRESSION_HEADS
    metrics = tuple(f"error68_{n}" for n in TABLE1_TARGETS) + (
        "coverage_1sigma", "coverage_2sigma", "coverage_3sigma",
        "coverage_1sigma_recalibrated", "chi2_ks", "log_likelihood")
    headers = {**{f"error68_{n}": f"68% err {n}" for n in TABLE1_TARGETS},
               "coverage_1sigma": "cov 1σ", "coverage_2sigma": "cov 2σ",
               "coverage_3sigma": "cov 3σ", "coverage_1sigma_recalibrated": "cov 1σ recal",
               "chi2_ks": "χ² KS", "log_likelihood": "log L"}
    headline = "log_likelihood"
    tune_objectives = ("nll",)
    tune_monitor = "val_loss"

    def check_config(self, exp) -> None:
        check_experiment(exp)

    def select(self, exp, dataset):
        idx, y = select(dataset, exp.model.targets)
        # stratify on the Einstein radius (above / below the median) to balance the folds
        strata = np.full(len(dataset.labels), -1, np.int64)
        first = y[:, 0]
        strata[idx] = (first > np.median(first)).astype(np.int64)
        if len(np.unique(strata[idx])) < 2:
            strata[idx] = np.arange(idx.size) % 2
        return idx, strata, np.asarray(dataset.system_id)

    def n_targets(self, exp) -> int:
        return len(exp.model.targets)

    def _targets(self, ctx: FoldContext, indices) -> np.ndarray:
        return np.stack([np.asarray(ctx.dataset.params[n], np.float64)[indices]
                         for n in ctx.exp.model.targets], axis=1)

    def train_targets(self, ctx):
        return None, label_fn(ctx.dataset.params, ctx.exp.model.targets)

    def validation_targets(self, ctx):
        return self._targets(ctx, ctx.val).astype(np.float32)

    def prepare_model(self, ctx, model):
        check_model_targets(model, ctx.exp.model.targets)
        mean, std = whitening(self._targets(ctx, ctx.train))
        set_target_scaling(model, mean, std)
        return compile_regression(model, train=ctx.exp.train)

    def predict(self, ctx, model):
        check_model_targets(model, ctx.exp.model.targets)
        return predict_fold(model, ctx.exp, ctx.dataset, ctx.folder, test_idx=ctx.test,
                            y_test=self._targets(ctx, ctx.test), val_idx=ctx.val,
                            y_val=self._targets(ctx, ctx.val), fold=ctx.fold)

    def fold_metrics(self, ctx, columns):
        test, y_test, val, y_val = load_fold_predictions(ctx.folder)
        flat, detail = fold_metrics(test, y_test, val, y_val)
        write_json(Path(ctx.folder) / "calibration.json", detail)
        return flat

    def pooled_metrics(self, oof):
        names = [k[len("mean_"):] for k in oof if k.startswith("mean_")]
        if not names:
            return {}
        mean = np.stack([oof[f"mean_{n}"] for n in names], axis=1)
        true = np.stack([oof[f"true_{n}"] for n in names], axis=1)
        sigma = np.stack([oof[f"sigma_{n}"] for n in names], axis=1)
        out: dict[str, float] = {f"error68_{n}": float(e)
                                 for n, e in zip(names, error68(mean, true))}
        cov = np.einsum("ni,ij->nij", sigma ** 2, np.eye(len(names)))
        levels = tuple(EXPECTED_COVERAGE)
        for k, row in zip(levels, coverage(mean, cov, true, levels)):
            out[f"coverage_{k}sigma"] = float(np.mean(row))
        return out

    def plots(self, run_path, title, oof, out):
        return [p for p in summarize(run_path).values() if str(p).endswith(".png")]

    def sweep_plots(self, runs, path, name):
        values, reps = [], []
        for value, run_dir in runs:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                return []
            values.append(value)
            reps.append(reports(pool_predictions(_fold_dirs(run_dir)))["as predicted"])
        return [RP.plot_sweep(values, reps, path, name=name)]

    def objective_scales(self, exp, dataset):
        """Standard deviation of each target in the data set (the error68 objective's unit)."""
        out = {}
        for name in exp.model.targets:
            values = np.asarray(dataset.params.get(name, []), np.float64)
            values = values[np.isfinite(values)]
            if values.size > 1 and np.std(values) > 0:
                out[name] = float(np.std(values))
        return out

    # ---------------------------------------------------------------------------- scoring
    def member_targets(self, exp, models):
        head = exp.model.head
        names = {tuple(target_scaling(model)[0]) for model in models}
        if len(names) != 1:
            raise ValueError(f"the fold models predict different parameters {sorted(names)}; "
                             "expected one set")
        targets = names.pop()
        for k, model in enumerate(models):
            try:
                check_outputs(head, len(targets), model.output_shape[-1])
            except ValueError as err:
                raise ValueError(f"fold model {k}: {err}") from None
        return targets

    def member_scales(self, run_dir):
        """Per-parameter sigma factors of the run: the geometric mean over its folds of
        :func:`fold_sigma_scales`."""
        folds = _fold_dirs(run_dir)
        scales = [fold_sigma_scales(f) for f in folds]
        missing = [f.name for f, sc in zip(folds, scales) if sc is None]
        if missing or not folds:
            raise ValueError(f"{run_dir}: cannot recalibrate: fold(s) "
                             f"{', '.join(missing) or 'none'} have no validation predictions "
                             f"({PREDICTIONS} with val_*); expected every fold of a finished "
                             "`lensfind cv` regression run")
        return np.exp(np.mean(np.log(np.stack(scales)), axis=0))

    def recalibrate(self, label, targets, values, scales):
        for i, a in enumerate(targets):
            values[f"{label}_{a}_sigma"] = values[f"{label}_{a}_sigma"] * scales[i]
            for j in range(i, len(targets)):
                values[f"{label}_cov_{a}_{targets[j]}"] = \
                    values[f"{label}_cov_{a}_{targets[j]}"] * scales[i] * scales[j]

    def score_columns(self, label, targets):
        cols = []
        for t in targets:
            cols += [f"{label}_{t}", f"{label}_{t}_sigma"]
        for i, a in enumerate(targets):
            for b in targets[i:]:
                cols.append(f"{label}_cov_{a}_{b}")
        return cols

    def score_values(self, label, targets, head, samples):
        """Mixture moments of ``samples (S, n, k)``: mean of the means; covariance = mean of
        the predicted covariances + covariance of the means
        (:func:`lensfind.probabilistic.mc_moments`)."""
        pred = mc_moments(samples, head=head, n=len(targets), names=targets)
        cov, sigma = pred.covariance, pred.sigma
        out: dict[str, np.ndarray] = {}
        for i, t in enumerate(targets):
            out[f"{label}_{t}"] = pred.mean[:, i]
            out[f"{label}_{t}_sigma"] = sigma[:, i]
        for i, a in enumerate(targets):
            for j in range(i, len(targets)):
                out[f"{label}_cov_{a}_{targets[j]}"] = cov[:, i, j]
        return out
