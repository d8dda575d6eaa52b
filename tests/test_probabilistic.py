"""lensfind.probabilistic: layout, eq. (2) against NumPy and TFP, positive definiteness, MC moments."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lensfind import probabilistic as P


def _random_output(rng, head, n, batch=16, scale=1.0):
    return rng.normal(scale=scale, size=(batch, P.n_outputs(head, n)))


def _bounded(output, head, n):
    """What the model emits: log-diagonal and off-diagonals bounded as in TargetScaling."""
    mean, log_diag, off = P.split_output(np.array(output, np.float64), head, n)
    parts = [mean]
    if log_diag is not None:
        parts.append(P.LOG_DIAG_LIMIT * np.tanh(log_diag / P.LOG_DIAG_LIMIT))
    if off is not None and n > 1:
        parts.append(P.OFF_DIAG_LIMIT * np.tanh(off / P.OFF_DIAG_LIMIT))
    return np.concatenate(parts, axis=-1)


def _eq2_numpy(y, output, head, n):
    """Eq. (2) written out: Pi = L L^T, loss = 1/2 r^T Pi r - 1/2 log|Pi|."""
    out = []
    rows, cols = np.tril_indices(n, -1)
    for yi, oi in zip(y, output):
        mu, log_diag = oi[:n], oi[n:2 * n]
        L = np.diag(np.exp(log_diag))
        if head == "mvn_full":
            for k, (i, j) in enumerate(zip(rows, cols)):
                L[i, j] = oi[2 * n + k] * np.exp(log_diag[i])
        Pi = L @ L.T
        r = yi - mu
        out.append(0.5 * r @ Pi @ r - 0.5 * np.log(np.linalg.det(Pi)))
    return np.array(out)


@pytest.mark.parametrize("head,n,k", [("mvn_full", 6, 27), ("mvn_full", 8, 44), ("mvn_full", 1, 2),
                                      ("mvn_diag", 6, 12), ("mse", 6, 6)])
def test_layout_sizes(head, n, k):
    assert P.n_outputs(head, n) == k
    assert P.n_targets_for(head, k) == n


def test_layout_errors_name_what_was_received():
    with pytest.raises(ValueError, match="unknown regression head 'gauss'.*mvn_full"):
        P.n_outputs("gauss", 3)
    with pytest.raises(ValueError, match="needs 27 outputs.*received 12"):
        P.check_outputs("mvn_full", 6, 12)
    with pytest.raises(ValueError, match="cannot emit 4 outputs"):
        P.n_targets_for("mvn_full", 4)


@pytest.mark.parametrize("head,n", [("mvn_full", 6), ("mvn_full", 2), ("mvn_diag", 6), ("mse", 4)])
def test_keras_loss_equals_eq2_in_numpy(head, n):
    from keras import ops

    rng = np.random.default_rng(1)
    output = _bounded(_random_output(rng, head, n, scale=0.7), head, n)
    y = rng.normal(size=(16, n))
    got = ops.convert_to_numpy(P.gaussian_nll(ops.convert_to_tensor(y, "float32"),
                                              ops.convert_to_tensor(output, "float32"),
                                              head=head, n=n))
    want = (0.5 * np.sum((y - output[:, :n]) ** 2, -1) if head == "mse"
            else _eq2_numpy(y, output, head, n))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(P.nll_numpy(y, output, head=head, n=n), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form", ["tril", "precision"])
@pytest.mark.parametrize("head", ["mvn_full", "mvn_diag"])
def test_loss_is_tfp_negative_log_prob_up_to_constant(head, form):
    rng = np.random.default_rng(2)
    n = 6
    output = _bounded(_random_output(rng, head, n, scale=0.5), head, n)
    y = rng.normal(size=(16, n))
    dist = P.to_distribution(output, head=head, n=n, form=form)
    log_prob = np.asarray(dist.log_prob(y))
    np.testing.assert_allclose(-log_prob - 0.5 * n * math.log(2 * math.pi),
                               P.nll_numpy(y, output, head=head, n=n), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(dist.covariance()),
                               P.covariance(output, head=head, n=n), rtol=1e-6, atol=1e-9)


def test_unknown_distribution_form():
    with pytest.raises(ValueError, match="form 'cholesky'.*'precision', 'tril'"):
        P.to_distribution(np.zeros((1, 27)), head="mvn_full", n=6, form="cholesky")


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 1e3, 1e8])
@pytest.mark.parametrize("n", [2, 6, 8])
def test_every_covariance_is_positive_definite(scale, n):
    """Outputs of any magnitude go through the model's bounds; Cholesky must then succeed."""
    from lensfind.zoo.regression_heads import TargetScaling

    rng = np.random.default_rng(int(scale * 10) + n)
    raw = _random_output(rng, "mvn_full", n, batch=256, scale=scale).astype("float32")
    layer = TargetScaling("mvn_full", [f"p{i}" for i in range(n)])
    layer.set_statistics(rng.normal(size=n), np.exp(rng.normal(size=n)))
    output = np.asarray(layer(raw))
    assert np.isfinite(output).all()
    cov = P.covariance(output, head="mvn_full", n=n)
    assert np.isfinite(cov).all()
    np.testing.assert_array_equal(cov, np.swapaxes(cov, -1, -2))
    np.linalg.cholesky(cov)  # raises LinAlgError if any is not positive definite
    assert (P.log_det(cov) < np.inf).all()


def test_diag_covariance_is_diagonal_and_positive():
    rng = np.random.default_rng(3)
    out = _bounded(_random_output(rng, "mvn_diag", 4, scale=3.0), "mvn_diag", 4)
    cov = P.covariance(out, head="mvn_diag", n=4)
    off = cov - np.einsum("nii->ni", cov)[..., None] * np.eye(4)
    assert np.abs(off).max() == 0
    np.testing.assert_allclose(np.einsum("nii->ni", cov), np.exp(-2 * out[:, 4:]))


def test_target_scaling_unwhitens_and_shifts_loss_by_a_constant():
    """Loss in target units = whitened loss + sum(log std); Sigma = S Sigma_w S."""
    from lensfind.zoo.regression_heads import TargetScaling

    rng = np.random.default_rng(4)
    n = 3
    mu, std = np.array([1.0, -2.0, 0.5]), np.array([0.1, 3.0, 1.7])
    raw = rng.normal(size=(8, P.n_outputs("mvn_full", n))).astype("float32")
    ident = TargetScaling("mvn_full", ["a", "b", "c"])
    scaled = TargetScaling("mvn_full", ["a", "b", "c"])
    scaled.set_statistics(mu, std)
    out_w = np.asarray(ident(raw), np.float64)
    out_p = np.asarray(scaled(raw), np.float64)
    np.testing.assert_allclose(out_p[:, :n], out_w[:, :n] * std + mu, rtol=1e-5)
    S = np.diag(std)
    np.testing.assert_allclose(P.covariance(out_p, head="mvn_full", n=n),
                               S @ P.covariance(out_w, head="mvn_full", n=n) @ S, rtol=1e-4)
    y_w = rng.normal(size=(8, n))
    y_p = y_w * std + mu
    np.testing.assert_allclose(P.nll_numpy(y_p, out_p, head="mvn_full", n=n),
                               P.nll_numpy(y_w, out_w, head="mvn_full", n=n) + np.log(std).sum(),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"std > 0.*\['a', 'b', 'c'\]"):
        scaled.set_statistics(mu, [1.0, 0.0, 1.0])


def test_mc_moments_split_aleatoric_and_epistemic():
    rng = np.random.default_rng(5)
    n, T, N = 3, 50, 7
    outs = np.stack([_bounded(_random_output(rng, "mvn_full", n, batch=N), "mvn_full", n)
                     for _ in range(T)])
    pred = P.mc_moments(outs, head="mvn_full", n=n, names=["a", "b", "c"])
    means = outs[..., :n]
    np.testing.assert_allclose(pred.mean, means.mean(0))
    np.testing.assert_allclose(pred.aleatoric, P.covariance(outs, head="mvn_full", n=n).mean(0))
    for i in range(N):
        np.testing.assert_allclose(pred.epistemic[i], np.cov(means[:, i].T, bias=True), atol=1e-12)
    np.testing.assert_allclose(pred.covariance, pred.aleatoric + pred.epistemic)
    np.linalg.cholesky(pred.covariance)
    one = P.mc_moments(outs[:1], head="mvn_full", n=n)
    assert np.all(one.epistemic == 0)
    mse = P.mc_moments(outs[..., :n], head="mse", n=n)
    assert np.all(mse.aleatoric == 0)
    np.testing.assert_allclose(mse.covariance, pred.epistemic)
    np.testing.assert_allclose(pred.scaled(2.0).covariance, 2 * pred.covariance)
