"""The "classify" task's hooks on their own: data checks, scoring columns, pooled committee."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lensfind.tasks import TASKS, get_task
from lensfind.validation import ConfigError

TASK = TASKS["classify"]


def test_registry_lookup_names_the_known_tasks():
    assert get_task("classify") is TASK
    with pytest.raises(ValueError, match="unknown experiment.task 'lens_finding': expected one "
                                         "of classify, regress, substructure"):
        get_task("lens_finding")


def test_labels_other_than_0_and_1_are_refused():
    data = SimpleNamespace(labels=np.array([0, 1, 2]), system_id=np.arange(3))
    with pytest.raises(ConfigError, match=r"labels \[2\]: expected only 1 \(lens\) and 0"):
        TASK.select(None, data)
    with pytest.raises(ConfigError, match="no labels"):
        TASK.select(None, SimpleNamespace(labels=np.zeros(0), system_id=np.zeros(0)))


def test_member_and_committee_scores():
    samples = np.array([[[0.8, 0.2], [0.1, 0.9]], [[0.6, 0.4], [0.3, 0.7]]])  # (S=2, n=2, 2)
    assert TASK.score_columns("m", ()) == ["p_lens_m", "p_lens_std_m"]
    one = TASK.score_values("m", (), "classifier", samples)
    np.testing.assert_allclose(one["p_lens_m"], [0.3, 0.8])
    np.testing.assert_allclose(one["p_lens_std_m"], [0.1, 0.1])
    pooled = TASK.committee_values([samples, samples[:1]])   # every sample counts once
    np.testing.assert_allclose(pooled["p_lens"], [(0.2 + 0.4 + 0.2) / 3, (0.9 + 0.7 + 0.9) / 3])
    assert list(TASK.committee_columns) == ["p_lens", "p_lens_std"]


def test_a_model_with_other_outputs_is_refused():
    model = SimpleNamespace(output_shape=(None, 3))
    with pytest.raises(ValueError, match="classifier fold model 0 has 3 outputs; expected 2"):
        TASK.member_targets(None, [model])
