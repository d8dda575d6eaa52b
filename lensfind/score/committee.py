"""Models that score cutouts: every fold of every run directory, sampled with MC dropout.

Each ``--model RUN_DIR`` is a lensfind run (``runs/<experiment>/<run>/``); all of its folds'
``model.keras`` files form that run's committee (loaded by
:meth:`lensfind.train.rundir.RunDir.load_models` with Keras ``safe_mode=True``; nothing is
unpickled). A run is a *member* of the scoring committee, named by its experiment (the run id
is appended when two members share a name).

Per image, with ``T = mc_samples`` passes of each of the ``F`` fold models (Monte-Carlo dropout
through :class:`~lensfind.zoo.layers.MCDropout` when ``T > 1``; a single deterministic pass when
``T = 1``), a member has ``S = F * T`` samples:

* classifier runs (task ``classify``): ``P(lens)`` = the softmax's second output. The member's
  score is the mean of its ``S`` samples and its spread their standard deviation; the overall
  ``p_lens`` / ``p_lens_std`` pool the samples of all classifier members (every model counts
  once per pass).
* regression runs (task ``regress``): each sample gives a mean vector and a covariance (from
  the head's log-Cholesky precision, or none for ``mse`` heads). The member's prediction is the
  mixture's moments (:func:`lensfind.probabilistic.mc_moments`): ``mean = avg(mu_s)`` and
  ``cov = avg(Sigma_s) + cov(mu_s)`` (aleatoric plus epistemic), in the targets' units
  (the model un-whitens its outputs itself), reported as ``<member>_<param>``, ``<member>_<param>_sigma`` and the upper
  triangle ``<member>_cov_<p>_<q>``.

MC dropout is made reproducible: before each chunk the dropout seed state of every model is set
from ``(seed, chunk, member, fold)``, so a resumed run gives the same numbers as an
uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class ModelDirError(ValueError):
    """A ``--model`` directory cannot be used; the message names it and what was expected."""


@dataclasses.dataclass
class Member:
    """One run directory's models.

    Attributes:
        label: column-name prefix, e.g. ``"cv-xception"``.
        run_dir: the run directory.
        task: ``"classify"`` or ``"regress"``.
        head: the head name of the run's ``[model]`` table.
        targets: regression parameter names (empty for classifiers).
        models: one Keras model per fold.
        files: ``[(relative path, size, mtime_ns)]`` of the model files (resume fingerprint).
    """

    label: str
    run_dir: Path
    task: str
    head: str
    targets: tuple[str, ...]
    models: list[Any]
    files: list[tuple[str, int, int]]


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "model"


def _forward(model):
    """``f(x) -> outputs``: the model at inference, compiled once where the backend allows."""
    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return lambda x: fn(tf.convert_to_tensor(x))
    if keras.backend.backend() == "jax":
        # compiled by Keras (jax.jit, once per batch shape; batches here are padded to one
        # shape); the dropout generators' states are read from and written back to the
        # model's variables, so reseeding and MC mode switches (set_mc_dropout) apply
        return model.predict_on_batch
    return lambda x: model(x, training=False)


def load_member(run_dir: str | Path) -> Member:
    """Load one run directory; refuses anything that is not a finished lensfind run.

    Raises:
        ModelDirError: missing directory, not a lensfind run, no fold models, or a model whose
            input or output does not fit its task.
    """
    run_dir = Path(run_dir)
    expected = ("expected a lensfind run directory (runs/<experiment>/<run>/ with experiment."
                "toml, run.json and fold_<k>/model.keras), as written by `lensfind cv`")
    if not run_dir.is_dir():
        raise ModelDirError(f"--model {run_dir}: no such directory; {expected}")
    try:
        from lensfind.train.rundir import RunDir
        rd = RunDir(run_dir)
        exp = rd.experiment()
        models = rd.load_models()
    except ModelDirError:
        raise
    except Exception as err:  # RunDir's own clear message, whatever its type
        inside = sorted(str(p.parent) for p in list(run_dir.glob("*/run.json"))
                        + list(run_dir.glob("*/*/run.json")))[:5]
        hint = f" (runs found inside: {', '.join(inside)})" if inside else ""
        raise ModelDirError(f"--model {run_dir}: {err}{hint}") from None
    if not models:
        raise ModelDirError(f"--model {run_dir}: no fold has a model.keras yet; {expected}")
    task = exp.experiment.task
    head = exp.model.head
    targets: tuple[str, ...] = ()
    if task == "regress":
        from lensfind.probabilistic import check_outputs
        from lensfind.zoo.regression_heads import target_scaling
        names = {tuple(target_scaling(model)[0]) for model in models}
        if len(names) != 1:
            raise ModelDirError(f"--model {run_dir}: the fold models predict different "
                                f"parameters {sorted(names)}; expected one set")
        targets = names.pop()
        for k, model in enumerate(models):
            try:
                check_outputs(head, len(targets), model.output_shape[-1])
            except ValueError as err:
                raise ModelDirError(f"--model {run_dir}: fold model {k}: {err}") from None
    files = []
    for path in sorted(run_dir.glob("fold_*/model.keras")):
        st = path.stat()
        files.append((str(path.relative_to(run_dir)), st.st_size, st.st_mtime_ns))
    for k, model in enumerate(models):
        shape = tuple(model.input_shape)
        if len(shape) != 4 or shape[-1] != 1:
            raise ModelDirError(f"--model {run_dir}: fold model {k} takes input {shape}; "
                                "expected (None, H, W, 1) single-band cutouts")
        width = model.output_shape[-1]
        if task == "classify" and width != 2:
            raise ModelDirError(f"--model {run_dir}: classifier fold model {k} has {width} "
                                "outputs; expected 2 (softmax: non-lens, lens)")
    return Member(label=_label(exp.experiment.name), run_dir=run_dir, task=task, head=head,
                  targets=targets, models=models, files=files)


class Committee:
    """All members of a scoring run, their compiled forward passes and the output columns.

    Args:
        members: loaded run directories (:func:`load_member`).
        mc_samples: MC-dropout passes per model (1 = a deterministic pass).
        batch_size: images per forward pass; the last batch of a chunk is padded to this size
            (by repeating its last image) so every pass has the same shape.
        seed: base of the per-chunk dropout seeds.
    """

    def __init__(self, members: Sequence[Member], *, mc_samples: int = 1, batch_size: int = 32,
                 seed: int = 0):
        if not members:
            raise ModelDirError("no --model given; expected at least one run directory")
        self.members = list(members)
        self._mc_mode: bool | None = None
        seen: dict[str, int] = {}
        for m in self.members:
            if m.label in seen:
                m.label = _label(f"{m.label}_{m.run_dir.name}")
            while m.label in seen:
                m.label = f"{m.label}_{len(seen)}"
            seen[m.label] = 1
        shapes = {(m.run_dir, tuple(model.input_shape[1:3])) for m in self.members
                  for model in m.models}
        sizes = {s for _, s in shapes}
        if len(sizes) != 1:
            listing = "; ".join(f"{d}: {s[0]}x{s[1]}" for d, s in sorted(shapes, key=str))
            raise ModelDirError(f"the models take different cutout sizes ({listing}); "
                                "expected one size for all --model runs")
        size = sizes.pop()
        if None in size:
            raise ModelDirError(f"the models take cutouts of any size {size}; expected a fixed "
                                "input size")
        self.shape: tuple[int, int] = (int(size[0]), int(size[1]))
        self.configure(mc_samples=mc_samples, batch_size=batch_size, seed=seed)

    def configure(self, *, mc_samples: int, batch_size: int, seed: int) -> None:
        """Set the MC passes, batch size and seed (MC dropout is switched on for ``T > 1``)."""
        for name, value in (("--mc-samples", mc_samples), ("--batch-size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} = {value!r} is invalid: expected an integer >= 1")
        self.mc_samples, self.batch_size, self.seed = int(mc_samples), int(batch_size), int(seed)
        mode = self.mc_samples > 1
        if mode == self._mc_mode:
            return
        from lensfind.zoo.layers import mc_dropout_layers, set_mc_dropout
        self._dropouts, self._forwards = [], []
        for m in self.members:
            drops, fwds = [], []
            for model in m.models:
                set_mc_dropout(model, mode)
                drops.append(mc_dropout_layers(model))
                fwds.append(_forward(model))  # traced with this mode
            self._dropouts.append(drops)
            self._forwards.append(fwds)
        self._mc_mode = mode

    @property
    def classifiers(self) -> list[Member]:
        return [m for m in self.members if m.task == "classify"]

    def columns(self) -> list[str]:
        """Score columns written per row, in order (``rank`` is added by the final pass)."""
        cols = []
        if self.classifiers:
            cols += ["p_lens", "p_lens_std"]
        for m in self.members:
            if m.task == "classify":
                cols += [f"p_lens_{m.label}", f"p_lens_std_{m.label}"]
            else:
                cols += regression_columns(m.label, m.targets)
        return cols

    def fingerprint(self) -> list[dict[str, Any]]:
        return [{"run_dir": str(m.run_dir.resolve()), "label": m.label,
                 "files": [list(f) for f in m.files]} for m in self.members]

    def _reseed(self, chunk: int) -> None:
        if self.mc_samples <= 1:
            return
        for i, drops in enumerate(self._dropouts):
            for j, layers in enumerate(drops):
                for k, layer in enumerate(layers):
                    if getattr(layer, "seed_generator", None) is None:
                        continue  # rate 0: Keras makes no generator, the layer is the identity
                    state = layer.seed_generator.state
                    words = np.random.SeedSequence([self.seed, chunk, i, j, k]).generate_state(1)
                    state.assign(np.array([int(words[0]) & 0x7FFFFFFF, 0],
                                          dtype=np.dtype(state.dtype)))

    def _run(self, fwd, images: np.ndarray) -> np.ndarray:
        """Outputs of one model for ``images (n, H, W)`` in fixed-size padded batches."""
        n = len(images)
        bs = self.batch_size
        outs = []
        for start in range(0, n, bs):
            batch = images[start:start + bs]
            m = len(batch)
            if m < bs:
                batch = np.concatenate([batch, np.repeat(batch[-1:], bs - m, axis=0)])
            out = np.asarray(fwd(batch[..., None]))
            outs.append(out[:m])
        return np.concatenate(outs).astype(np.float64)

    def predict(self, images: np.ndarray, *, chunk: int = 0) -> dict[str, np.ndarray]:
        """Score columns (see :meth:`columns`) for ``images`` float32 ``(n, H, W)``."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        self._reseed(chunk)
        result: dict[str, np.ndarray] = {}
        pooled = []
        for m, fwds in zip(self.members, self._forwards):
            samples = np.stack([self._run(fwd, images) for fwd in fwds
                                for _ in range(self.mc_samples)])  # (S, n, k)
            if m.task == "classify":
                p = samples[..., 1]
                pooled.append(p)
                result[f"p_lens_{m.label}"] = p.mean(axis=0)
                result[f"p_lens_std_{m.label}"] = p.std(axis=0)
            else:
                result.update(regression_values(m, samples))
        if pooled:
            p = np.concatenate(pooled)
            result["p_lens"] = p.mean(axis=0)
            result["p_lens_std"] = p.std(axis=0)
        return result


def regression_columns(label: str, targets: Sequence[str]) -> list[str]:
    cols = []
    for t in targets:
        cols += [f"{label}_{t}", f"{label}_{t}_sigma"]
    for i, a in enumerate(targets):
        for b in targets[i:]:
            cols.append(f"{label}_cov_{a}_{b}")
    return cols


def regression_values(member: Member, samples: np.ndarray) -> dict[str, np.ndarray]:
    """Mixture moments of ``samples (S, n, k)`` of a regression member, as columns.

    Uses :func:`lensfind.probabilistic.mc_moments` (mean of the means; covariance = mean of the
    predicted covariances + covariance of the means).
    """
    from lensfind.probabilistic import mc_moments
    label, targets = member.label, member.targets
    pred = mc_moments(samples, head=member.head, n=len(targets), names=targets)
    cov, sigma = pred.covariance, pred.sigma
    out: dict[str, np.ndarray] = {}
    for i, t in enumerate(targets):
        out[f"{label}_{t}"] = pred.mean[:, i]
        out[f"{label}_{t}_sigma"] = sigma[:, i]
    for i, a in enumerate(targets):
        for j in range(i, len(targets)):
            out[f"{label}_cov_{a}_{targets[j]}"] = cov[:, i, j]
    return out
