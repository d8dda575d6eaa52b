"""``--shard K/N`` parts and their merge (lensfind.score.shards)."""
from __future__ import annotations

import pytest

from .score_helpers import good_list
from lensfind.score.runner import ScoreOptions, merge_scores, score_candidates
from lensfind.score.shards import Shard, ShardError
from lensfind.validation import ConfigError


@pytest.mark.parametrize("text", ["4/3", "0/3", "3", "a/b", "1/0", "-1/2", "1.5/3"])
def test_bad_shard_specs_are_refused_before_any_work(text):
    with pytest.raises(ConfigError, match=f"--shard = {text!r} is invalid: expected K/N with "
                                          "whole numbers 1 <= K <= N"):
        ScoreOptions(shard=text)


def test_shards_are_whole_chunks_that_cover_the_list_once():
    for n_rows, chunk, n in ((10, 4, 3), (100, 7, 5), (3, 4, 4), (1, 1, 1)):
        parts = [Shard(k, n).rows(n_rows, chunk) for k in range(1, n + 1)]
        assert parts[0][0] == 0 and parts[-1][1] == n_rows
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        assert all(start % chunk == 0 for start, _ in parts)
    assert Shard.parse(" 2 / 3 ") == Shard(2, 3)


def test_three_shards_merged_equal_one_run_byte_for_byte(tmp_path, cls_committee,
                                                        monkeypatch):
    lst = good_list(tmp_path / "l", 11)
    with open(lst, "a", encoding="utf-8") as fh:
        fh.write("c00001,cutouts/c00002.fits,B,repeat\nbad,missing.fits,C,gone\n")
    opts = dict(progress=False, chunk_size=2, mc_samples=3, top=4)
    one = score_candidates(lst, cls_committee, tmp_path / "one" / "s.csv",
                           options=ScoreOptions(**opts), say=lambda _: None)
    out = tmp_path / "sharded" / "s.csv"
    for k in (3, 1):  # in any order, on any machine
        score_candidates(lst, cls_committee, out, options=ScoreOptions(**opts, shard=f"{k}/3"),
                         say=lambda _: None)
    with pytest.raises(ShardError, match=r"shard\(s\) 2/3 \(s.shard-2-of-3.json\) not finished"):
        merge_scores(out, top=4, say=lambda _: None)
    # part 2 is killed after its first chunk, then resumes on its own
    real = type(cls_committee).predict
    calls = []

    def crash(self, images, *, chunk=0):
        calls.append(chunk)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, images, chunk=chunk)

    monkeypatch.setattr(type(cls_committee), "predict", crash)
    with pytest.raises(KeyboardInterrupt):
        score_candidates(lst, cls_committee, out, options=ScoreOptions(**opts, shard="2/3"),
                         say=lambda _: None)
    monkeypatch.setattr(type(cls_committee), "predict", real)
    notes = []
    resumed = score_candidates(lst, cls_committee, out,
                               options=ScoreOptions(**opts, shard="2/3"), say=notes.append)
    assert calls == [2, 3] and resumed.resumed_from == 2 and resumed.n_rows == 4
    again = score_candidates(lst, cls_committee, out, options=ScoreOptions(**opts, shard="2/3"),
                             say=notes.append)
    assert again.scored_now == 0 and "shard 2/3 is already done" in notes[-1]
    merged = merge_scores(out, top=4, say=lambda _: None)
    assert merged.counts == one.counts and merged.n_rows == one.n_rows == 13
    for name in ("s.csv", "s.grades.csv", "s.grades.md", "s.top.png"):
        assert (out.parent / name).read_bytes() == (one.out.parent / name).read_bytes(), name
    assert not list(out.parent.glob("*.partial")) and not list(out.parent.glob("*.lock"))


def test_shards_of_different_runs_are_not_merged(tmp_path, cls_committee):
    lst = good_list(tmp_path / "l", 4)
    out = tmp_path / "s.csv"
    for k, seed in ((1, 0), (2, 1)):
        score_candidates(lst, cls_committee, out, options=ScoreOptions(
            progress=False, chunk_size=2, shard=f"{k}/2", seed=seed), say=lambda _: None)
    with pytest.raises(ShardError, match="shard 2/2 was scored with a different seed than "
                                         "shard 1/2"):
        merge_scores(out, say=lambda _: None)
    with pytest.raises(ShardError, match="no shard records"):
        merge_scores(tmp_path / "other.csv", say=lambda _: None)
