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
