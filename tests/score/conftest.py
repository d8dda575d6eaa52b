"""Fixtures of the scoring tests (helpers live in score_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .score_helpers import make_run


@pytest.fixture(scope="session")
def cls_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"), "cls")


@pytest.fixture(scope="session")
def reg_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"), "reg", task="regress", head="mvn_full",
                    folds=2)


@pytest.fixture(scope="session")
def cls_committee(cls_run):
    """The models of ``cls_run``, loaded once (tests that do not test loading reuse them)."""
    from lensfind.score.committee import Committee, load_member
    return Committee([load_member(cls_run)])


@pytest.fixture(scope="session")
def gri_run(tmp_path_factory) -> Path:
    """A run whose models take the bands g, r, i."""
    return make_run(tmp_path_factory.mktemp("runs"), "gri", bands=("g", "r", "i"))


@pytest.fixture(scope="session")
def gri_committee(gri_run):
    from lensfind.score.committee import Committee, load_member
    return Committee([load_member(gri_run)])
