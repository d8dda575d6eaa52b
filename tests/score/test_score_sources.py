"""Which cutout source a run reads (lensfind.score.sources)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from .score_helpers import SIZE, blob, write_list
from lensfind.score.reader import CandidateListError, scan_candidates
from lensfind.score.runner import ScoreOptions, score_candidates
from lensfind.score.sources import FileSource, StackSource, open_source
from lensfind.validation import ConfigError


def test_a_stack_wins_over_files_and_reads_the_row_it_names(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as fh:
        fh["images"] = np.stack([blob(SIZE, i) for i in range(3)])
    lst = write_list(tmp_path / "l.csv", ["id", "index", "path"], [["a", 2, "x.fits"]])
    cands = scan_candidates(lst, index_column="index")
    assert isinstance(open_source(cands, 0.1), FileSource)
    source = open_source(cands, 0.1, stack=tmp_path / "s.h5").fit((SIZE, SIZE))
    assert isinstance(source, StackSource)
    row = next(cands.rows())
    image, note = source.load(row, source.locate([row])[row.index])
    np.testing.assert_array_equal(image, blob(SIZE, 2))
    assert note == ""
    source.close()


def test_a_missing_stack_is_refused_before_the_models_load(tmp_path):
    lst = write_list(tmp_path / "l.csv", ["id", "index"], [["a", 0]])
    with pytest.raises(CandidateListError, match="--stack .*nope.h5: no such file"):
        score_candidates(lst, [tmp_path / "not-a-run"], tmp_path / "o.csv",
                         stack=tmp_path / "nope.h5", options=ScoreOptions(progress=False))


def test_a_stack_and_tiles_together_are_refused(tmp_path, cls_committee):
    lst = write_list(tmp_path / "l.csv", ["id", "index"], [["a", 0]])
    with pytest.raises(ConfigError, match="--stack = '.*s.h5' is invalid: expected either a "
                                          "stack or survey tiles"):
        score_candidates(lst, cls_committee, tmp_path / "o.csv", stack=tmp_path / "s.h5",
                         image=tmp_path / "t.fits", options=ScoreOptions(progress=False))
    assert not (tmp_path / "o.csv.lock").exists()
