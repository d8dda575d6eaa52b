"""benchmarks/reference.py (`make reference`): its target table and the bright-lens check."""
from types import SimpleNamespace

import pytest

from tests.benchmarks.scripts import load_script


@pytest.fixture(scope="module")
def ref():
    return load_script("reference")


def _params(err_theta, bias_theta, err_e, cov1):
    out = {name: {"error68": err_e, "bias": 0.0, "coverage_1sigma": cov1,
                  "coverage_2sigma": 0.954, "coverage_3sigma": 0.997}
           for name in ("e1", "e2", "center_x")}
    out["theta_e"] = {"error68": err_theta, "bias": bias_theta, "coverage_1sigma": cov1,
                      "coverage_2sigma": 0.954, "coverage_3sigma": 0.997}
    out["average"] = {"coverage_1sigma": cov1}
    out["n_images"] = 100
    return out


def test_bright_misses_lists_only_lenses_above_the_snr_limit_scored_below_half(ref, tmp_path):
    scores, truth = tmp_path / "scores.csv", tmp_path / "truth.csv"
    scores.write_text("id,p_lens\na,0.2\nb,0.9\nc,0.1\nd,0.3\n")
    truth.write_text("id,label,snr\na,1,150\nb,1,300\nc,1,40\nd,0,\n")
    assert ref.bright_misses(scores, truth) == [("a", 150.0, 0.2)]


def test_targets_are_met_only_when_both_sets_meet_them(ref):
    find = {"metrics": {"roc_auc": {"mean": 0.995}, "tpr_fpr0": {"mean": 0.7}}}
    own = _params(0.04, 0.01, 0.04, 0.683)
    evaluation = SimpleNamespace(finding={"roc_auc": 0.97, "tpr_fpr0": 0.6},
                                 members={"run": _params(0.06, 0.01, 0.04, 0.60)})
    rows = {r[0]: r for r in ref.targets(find, own, evaluation, misses=[])}
    assert rows["ROC AUC"][-1] is False                    # 0.97 < 0.98 on the other set
    assert rows["TPR0 (lenstronomy set)"][-1] is True
    assert rows["lenses with arc S/N > 100 below p = 0.5"][-1] is True
    assert rows["theta_e 68 % error"][2:] == [0.04, 0.06, False]
    assert rows["theta_e median bias"][-1] is True
    assert rows["e1 68 % error"][-1] is True
    cov = rows["theta_e coverage 1/2/3 sigma (%)"]
    assert cov[2] == "68.3 / 95.4 / 99.7" and cov[3] == "60.0 / 95.4 / 99.7" and cov[-1] is False
    assert "average coverage 1/2/3 sigma (%)" not in rows and len(
        [r for r in rows if "coverage" in r]) == 4


def test_report_files_say_which_targets_are_missed(ref, tmp_path):
    rows = [["ROC AUC", ">= 0.99", 0.995, 0.97, False]]
    text = ref.write_report(tmp_path, rows, {"find": 600.0}, [("a", 150.0, 0.2)])
    assert "| ROC AUC | >= 0.99 | 0.995 | 0.970 | **no** |" in text
    assert "a (S/N 150, p 0.20)" in text and "find 600" in text
    assert (tmp_path / "reference.csv").read_text().splitlines()[1].startswith("ROC AUC,")


def test_above_floor_keeps_every_non_lens_and_the_lenses_at_or_above_it(ref, tmp_path):
    scores, truth = tmp_path / "scores.csv", tmp_path / "truth.csv"
    scores.write_text("id,p_lens\na,0.9\nb,0.1\nc,0.8\nd,0.3\n")
    truth.write_text("id,label,snr\na,1,30\nb,1,5\nc,0,\nd,0,\n")
    got = ref.above_floor(scores, truth, 15.0)
    assert got["n_lenses"] == 1 and got["roc_auc"] == 1.0 and got["tpr_fpr0"] == 1.0
