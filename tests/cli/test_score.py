"""``lensfind score`` and ``lensfind merge-scores`` argument handling (lensfind.cli.score)."""
from __future__ import annotations

from lensfind.cli import main


def test_a_bad_shard_is_refused_before_any_work(tmp_path, capsys):
    code = main(["score", str(tmp_path / "none.csv"), "--model", str(tmp_path), "--out",
                 str(tmp_path / "s.csv"), "--shard", "4/3"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("lensfind score: error: --shard = '4/3' is invalid: expected K/N "
                           "with whole numbers 1 <= K <= N, e.g. 2/3 (part 2 of 3)")
    assert not list(tmp_path.iterdir())


def test_merge_without_shards_says_what_it_expected(tmp_path, capsys):
    assert main(["merge-scores", "--out", str(tmp_path / "s.fits")]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path / 's.fits'}: no shard records s.shard-K-of-N.json" in err
    assert "Traceback" not in err
