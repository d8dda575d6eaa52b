"""Gaussian regression outputs: log-Cholesky precision <-> covariance, the loss of eq. (2), MC dropout.

The regression heads (``lensfind.zoo.regression_heads``) emit one plain vector per image. For
``n`` targets its layout is

=========== ====================== =====================================================
head        length                 contents (in this order)
=========== ====================== =====================================================
mvn_full    n + n(n+1)/2           mean (n) | log-diagonal of L (n) | off-diagonals (n(n-1)/2)
mvn_diag    2 n                    mean (n) | log-diagonal of L (n)
mse         n                      mean (n)
=========== ====================== =====================================================

where ``L`` is the lower-triangular Cholesky factor of the **precision** ``Pi = Sigma^-1 = L L^T``
(Sorscher & Wagner-Carena, eq. 2; the log-Cholesky parametrisation of Pinheiro & Bates): the
diagonal is ``exp(log_diag)`` and so always positive. The off-diagonals are stored *relative to
their row's diagonal*, ``L[i, j] = exp(log_diag[i]) * off[i, j]`` for ``i > j`` (row-major order of
``numpy.tril_indices(n, -1)``), which makes them unchanged when the targets are (un)whitened: a
target scale ``s_i`` multiplies row ``i`` of ``L`` by ``1/s_i``, i.e. only shifts ``log_diag[i]``
by ``-log s_i``.

The head bounds both smoothly (``c * tanh(x / c)``, slope 1 near 0) in *whitened* units:
``|log_diag| <= LOG_DIAG_LIMIT`` (sigma from 0.7 % to 150 times the training-set spread) and
``|off| <= OFF_DIAG_LIMIT`` (pairwise correlations up to ~0.98), so that no output of the network,
however large, gives a covariance that is not positive definite in float64.

The loss (eq. 2, per image, in whatever units the targets are given):

    loss = 1/2 r^T Pi r - sum_i log L_ii,     r = y_true - mean,

which is ``-log N(y_true | mean, Sigma) - n/2 log(2 pi)``. Keras code here uses ``keras.ops``
only (any backend); tensorflow-probability is imported only by :func:`to_distribution`
(its NumPy substrate off the TensorFlow backend).

MC dropout (Gal & Ghahramani; the Perreault Levasseur recipe): with dropout active at prediction,
``T`` passes give means ``mu_t`` and covariances ``Sigma_t``; the predictive mean is the average of
``mu_t``, the aleatoric covariance the average of ``Sigma_t``, the epistemic covariance the
covariance of the ``mu_t``, and the total covariance their sum (:func:`mc_moments`). The passes
themselves are made by :mod:`lensfind.zoo.sampling`; this module is NumPy and ``keras.ops`` maths.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

REGRESSION_HEADS = ("mvn_full", "mvn_diag", "mse")
LOG_DIAG_LIMIT = 5.0
OFF_DIAG_LIMIT = 5.0


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------
def _check_head(head: str) -> str:
    if head not in REGRESSION_HEADS:
        raise ValueError(f"unknown regression head {head!r}: expected one of "
                         f"{', '.join(REGRESSION_HEADS)}")
    return head


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"number of targets {n!r} is invalid: expected an integer >= 1")
    return int(n)


def n_outputs(head: str, n: int) -> int:
    """Length of the head's output vector for ``n`` targets (see the module docstring)."""
    _check_head(head)
    n = _check_n(n)
    return {"mvn_full": n + n * (n + 1) // 2, "mvn_diag": 2 * n, "mse": n}[head]


def n_targets_for(head: str, k: int) -> int:
    """Inverse of :func:`n_outputs`: the target count that a ``k``-vector of ``head`` encodes."""
    _check_head(head)
    for n in range(1, k + 1):
        if n_outputs(head, n) == k:
            return n
    sizes = ", ".join(str(n_outputs(head, m)) for m in range(1, 9))
    raise ValueError(f"head {head!r} cannot emit {k} outputs: its output length for 1..8 targets "
                     f"is one of {sizes}")


def check_outputs(head: str, n: int, k: int) -> None:
    """Raise ``ValueError`` when ``k`` outputs do not fit ``head`` with ``n`` targets."""
    want = n_outputs(head, n)
    if k != want:
        raise ValueError(f"head {head!r} with {n} target(s) needs {want} outputs "
                         f"({_LAYOUT[head]}), received {k}")


_LAYOUT = {"mvn_full": "n means + n(n+1)/2 log-Cholesky precision entries",
           "mvn_diag": "n means + n log-diagonal precision entries", "mse": "n means"}


def split_output(y, head: str, n: int):
    """``(mean, log_diag, off)`` slices of an output vector (``None`` where the head has none).

    Works on NumPy arrays and on backend tensors (slicing only)."""
    _check_head(head)
    mean = y[..., :n]
    if head == "mse":
        return mean, None, None
    log_diag = y[..., n:2 * n]
    if head == "mvn_diag":
        return mean, log_diag, None
    return mean, log_diag, y[..., 2 * n:]


def _scatter_matrices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Constant one-hot maps: diag (n, n*n) and strictly-lower off-diagonal (m, n*n), row-major."""
    diag = np.zeros((n, n * n), np.float32)
    diag[np.arange(n), np.arange(n) * (n + 1)] = 1.0
    rows, cols = np.tril_indices(n, -1)
    off = np.zeros((len(rows), n * n), np.float32)
    off[np.arange(len(rows)), rows * n + cols] = 1.0
    return diag, off


# --------------------------------------------------------------------------------------------
# keras.ops: bounds and the loss (backend-agnostic)
# --------------------------------------------------------------------------------------------
def soft_bound(x, limit: float):
    """``limit * tanh(x / limit)``: identity near 0, never beyond ``+-limit`` (keras.ops)."""
    from keras import ops
    return limit * ops.tanh(x / limit)


def precision_factor_ops(log_diag, off, n: int):
    """Lower-triangular precision factor ``L`` (batch, n, n) from the output slices (keras.ops)."""
    from keras import ops
    diag_map, off_map = _scatter_matrices(n)
    d = ops.exp(log_diag)
    flat = ops.matmul(d, ops.convert_to_tensor(diag_map, dtype=d.dtype))
    if off is not None and n > 1:
        rows, _ = np.tril_indices(n, -1)
        rel = off * ops.take(d, ops.convert_to_tensor(rows.astype("int32")), axis=-1)
        flat = flat + ops.matmul(rel, ops.convert_to_tensor(off_map, dtype=d.dtype))
    return ops.reshape(flat, (-1, n, n))


def gaussian_nll(y_true, y_pred, *, head: str, n: int):
    """Per-image loss of eq. (2): ``1/2 r^T L L^T r - sum log diag L`` (keras.ops).

    For ``head="mse"`` it is ``1/2 |r|^2`` (eq. 2 with ``Sigma = I``).

    Args:
        y_true: (batch, n) true targets.
        y_pred: (batch, n_outputs(head, n)) head outputs in the same units.
    Returns:
        (batch,) losses.
    """
    from keras import ops
    mean, log_diag, off = split_output(y_pred, head, n)
    r = ops.cast(y_true, y_pred.dtype) - mean
    if head == "mse":
        return 0.5 * ops.sum(ops.square(r), axis=-1)
    if head == "mvn_diag":
        v = ops.exp(log_diag) * r
    else:
        L = precision_factor_ops(log_diag, off, n)
        v = ops.einsum("bij,bi->bj", L, r)  # L^T r
    return 0.5 * ops.sum(ops.square(v), axis=-1) - ops.sum(log_diag, axis=-1)


# --------------------------------------------------------------------------------------------
# NumPy edges: means, precision factors, covariances (float64)
# --------------------------------------------------------------------------------------------
def precision_factor(output: np.ndarray, *, head: str, n: int) -> np.ndarray:
    """``L`` (N, n, n) float64 from outputs (N, k) of a ``mvn_full`` or ``mvn_diag`` head."""
    output = np.asarray(output, np.float64)
    check_outputs(head, n, output.shape[-1])
    if head == "mse":
        raise ValueError("head 'mse' predicts no covariance: expected 'mvn_full' or 'mvn_diag'")
    _, log_diag, off = split_output(output, head, n)
    d = np.exp(log_diag)
    L = np.zeros(output.shape[:-1] + (n, n))
    idx = np.arange(n)
    L[..., idx, idx] = d
    if off is not None and n > 1:
        rows, cols = np.tril_indices(n, -1)
        L[..., rows, cols] = off * d[..., rows]
    return L


def covariance(output: np.ndarray, *, head: str, n: int) -> np.ndarray:
    """Covariance ``Sigma = (L L^T)^-1 = L^-T L^-1`` (N, n, n) float64; zeros for ``mse``."""
    output = np.asarray(output, np.float64)
    check_outputs(head, n, output.shape[-1])
    if head == "mse":
        return np.zeros(output.shape[:-1] + (n, n))
    L = precision_factor(output, head=head, n=n)
    eye = np.broadcast_to(np.eye(n), L.shape)
    Linv = np.linalg.solve(L, eye)  # triangular; n <= 8, so a dense solve is fine
    cov = np.swapaxes(Linv, -1, -2) @ Linv
    return 0.5 * (cov + np.swapaxes(cov, -1, -2))


def mean_of(output: np.ndarray, *, head: str, n: int) -> np.ndarray:
    """The predicted mean (N, n) float64."""
    output = np.asarray(output, np.float64)
    check_outputs(head, n, output.shape[-1])
    return output[..., :n]


def nll_numpy(y_true: np.ndarray, output: np.ndarray, *, head: str, n: int) -> np.ndarray:
    """Eq. (2) per image in float64 NumPy (same value as :func:`gaussian_nll`)."""
    output = np.asarray(output, np.float64)
    r = np.asarray(y_true, np.float64) - mean_of(output, head=head, n=n)
    if head == "mse":
        return 0.5 * np.sum(r**2, axis=-1)
    L = precision_factor(output, head=head, n=n)
    v = np.einsum("...ij,...i->...j", L, r)
    return 0.5 * np.sum(v**2, axis=-1) - np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), -1)


def _tfp_and_linalg():
    """``(tfp, linalg)``: TensorFlow Probability on the TensorFlow backend, else its NumPy
    substrate, which needs no TensorFlow (the JAX backend on a machine without it)."""
    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        import tensorflow_probability as tfp
        return tfp, tf.linalg
    from tensorflow_probability.substrates import numpy as tfp_np
    return tfp_np, tfp_np.tf2numpy.linalg


def to_distribution(output: np.ndarray, *, head: str, n: int, form: str = "tril"):
    """A tensorflow-probability distribution for each image (batch shape (N,), event (n,)).

    On the TensorFlow backend a ``tfp.distributions`` object; on other Keras backends the same
    class from ``tensorflow_probability.substrates.numpy`` (NumPy in, NumPy out; TensorFlow is
    not needed).

    Args:
        form: ``"tril"`` -> ``tfd.MultivariateNormalTriL`` with the Cholesky factor of ``Sigma``
            (float64); ``"precision"`` -> ``MultivariateNormalPrecisionFactorLinearOperator`` with
            ``L`` itself (the form of eq. 2, no matrix inversion).
    """
    if form not in ("precision", "tril"):
        raise ValueError(f"unknown distribution form {form!r}: expected one of 'precision', "
                         "'tril'")
    tfp, linalg = _tfp_and_linalg()

    mean = mean_of(output, head=head, n=n)
    if form == "tril":
        scale = np.linalg.cholesky(covariance(output, head=head, n=n))
        return tfp.distributions.MultivariateNormalTriL(loc=mean, scale_tril=scale)
    if form == "precision":
        L = linalg.LinearOperatorLowerTriangular(precision_factor(output, head=head, n=n))
        return tfp.experimental.distributions.MultivariateNormalPrecisionFactorLinearOperator(
            loc=mean, precision_factor=L)
    raise ValueError(f"unknown distribution form {form!r}: expected one of 'precision', 'tril'")


# --------------------------------------------------------------------------------------------
# MC dropout
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Prediction:
    """A Gaussian prediction per image, in target units.

    Attributes:
        names: target names, in column order.
        mean: (N, n) predictive mean.
        aleatoric: (N, n, n) mean of the predicted covariances (zeros for the ``mse`` head).
        epistemic: (N, n, n) covariance of the MC-dropout means (zeros for one pass).
        samples: (T, N, n) the per-pass means (kept for plots and diagnostics).
    """

    names: tuple[str, ...]
    mean: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    samples: np.ndarray | None = None

    @property
    def covariance(self) -> np.ndarray:
        """Total covariance = aleatoric + epistemic, (N, n, n)."""
        return self.aleatoric + self.epistemic

    @property
    def sigma(self) -> np.ndarray:
        """Marginal standard deviations (N, n) of the total covariance."""
        return np.sqrt(np.clip(np.diagonal(self.covariance, axis1=-2, axis2=-1), 0.0, None))

    def scaled(self, factor: float) -> "Prediction":
        """Copy with both covariance parts multiplied by ``factor`` (post-hoc recalibration)."""
        return dataclasses.replace(self, aleatoric=self.aleatoric * factor,
                                   epistemic=self.epistemic * factor)

    def subset(self, index) -> "Prediction":
        samples = None if self.samples is None else self.samples[:, index]
        return Prediction(self.names, self.mean[index], self.aleatoric[index],
                          self.epistemic[index], samples)


def mc_moments(outputs: np.ndarray, *, head: str, n: int,
               names: Sequence[str] | None = None) -> Prediction:
    """Combine ``T`` MC-dropout passes ``outputs`` (T, N, k) into a :class:`Prediction`.

    mean = avg_t mu_t; aleatoric = avg_t Sigma_t; epistemic = avg_t (mu_t - mean)(mu_t - mean)^T
    (the maximum-likelihood covariance of the means, zero for T = 1).
    """
    outputs = np.asarray(outputs, np.float64)
    if outputs.ndim == 2:
        outputs = outputs[None]
    if outputs.ndim != 3:
        raise ValueError(f"MC outputs of shape {outputs.shape} are invalid: expected (T, N, k)")
    check_outputs(head, n, outputs.shape[-1])
    means = outputs[..., :n]
    mean = means.mean(axis=0)
    aleatoric = covariance(outputs, head=head, n=n).mean(axis=0)
    dev = means - mean
    epistemic = np.einsum("tni,tnj->nij", dev, dev) / outputs.shape[0]
    names = tuple(names) if names is not None else tuple(f"y{i}" for i in range(n))
    return Prediction(names, mean, aleatoric, epistemic, means)


def log_det(cov: np.ndarray) -> np.ndarray:
    """``log det Sigma`` per image (N,), via a Cholesky factorisation (float64)."""
    chol = np.linalg.cholesky(np.asarray(cov, np.float64))
    return 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)


def gaussian_log_prob(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``log N(x | mean, cov)`` per image (N,), float64."""
    r = np.asarray(x, np.float64) - mean
    n = r.shape[-1]
    chi2 = np.einsum("ni,ni->n", r, np.linalg.solve(cov, r[..., None])[..., 0])
    return -0.5 * (chi2 + log_det(cov) + n * math.log(2 * math.pi))
