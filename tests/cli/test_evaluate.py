"""`lensfind evaluate` on the command line: output, exit codes and error messages."""
from __future__ import annotations

from lensfind.cli import main


def test_evaluate_command_prints_the_summary(labelled, capsys):
    code = main(["evaluate", str(labelled["scores"]), "--truth", str(labelled["truth"]),
                 "--bin", "snr", "--out", str(labelled["tmp"] / "ev")])
    out = capsys.readouterr().out
    assert code == 0
    assert "evaluated 299 scored rows; 1 not scored" in out and "ROC AUC" in out
    assert (labelled["tmp"] / "ev" / "recall_snr.csv").exists()


def test_evaluate_command_names_the_bad_column(labelled, capsys):
    code = main(["evaluate", str(labelled["scores"]), "--truth", str(labelled["truth"]),
                 "--column", "label=lens"])
    assert code == 2
    assert "has no column 'lens'" in capsys.readouterr().err


def test_evaluate_command_takes_another_score_column(labelled, capsys):
    code = main(["evaluate", str(labelled["scores"]), "--truth", str(labelled["truth"]),
                 "--p-lens", "p_lens_std", "--out", str(labelled["tmp"] / "ev")])
    assert code == 0
    assert "ROC AUC 0.500" in capsys.readouterr().out   # a constant column: ties count half
