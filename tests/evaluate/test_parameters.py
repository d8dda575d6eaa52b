"""Regression members recognised in score columns and their covariance rebuilt."""
from __future__ import annotations

import numpy as np

from lensfind.evaluate.parameters import find_members, predictions


def test_members_and_covariance_from_score_columns():
    columns = ["p_lens", "a_theta_e", "a_theta_e_sigma", "a_e1", "a_e1_sigma",
               "a_cov_theta_e_e1", "b-2_e2", "b-2_e2_sigma", "theta_e", "x_sigma"]
    assert find_members(columns) == {"a": ("theta_e", "e1"), "b-2": ("e2",)}
    scores = {"a_theta_e": np.array([1.0]), "a_theta_e_sigma": np.array([0.1]),
              "a_e1": np.array([0.2]), "a_e1_sigma": np.array([0.3]),
              "a_cov_theta_e_e1": np.array([0.01])}
    mean, cov = predictions(scores, "a", ("theta_e", "e1"))
    np.testing.assert_allclose(mean, [[1.0, 0.2]])
    np.testing.assert_allclose(cov, [[[0.01, 0.01], [0.01, 0.09]]])


def test_predictions_read_a_covariance_written_in_the_runs_own_target_order():
    cells = {"m_theta_e": np.array([1.0]), "m_theta_e_sigma": np.array([0.1]),
             "m_e1": np.array([0.2]), "m_e1_sigma": np.array([0.3]),
             "m_cov_e1_theta_e": np.array([0.01])}     # the run's order: e1 first
    mean, cov = predictions(cells, "m", ("theta_e", "e1"))
    assert mean[0].tolist() == [1.0, 0.2]
    assert cov[0, 0, 1] == cov[0, 1, 0] == 0.01 and abs(cov[0, 1, 1] - 0.09) < 1e-12
