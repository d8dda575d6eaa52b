"""lensfind demo's colour stage: a 3-band set drawn as a colour gallery."""
from __future__ import annotations

import pytest
from matplotlib.image import imread

from lensfind.demo import STAGES, DemoState, stage_colour

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_colour_stage_draws_a_three_band_gallery(tmp_path):
    assert list(STAGES)[:2] == ["simulate", "colour"]
    lines = stage_colour(DemoState(tmp_path))
    assert "bands g, r, i" in lines[0]
    picture = imread(tmp_path / "gallery_gri.png")
    assert picture.shape[0] > 200 and picture[..., :3].std() > 0.1
