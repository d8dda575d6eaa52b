import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from lensfind.data.gallery import LENS_COLOR, NONLENS_COLOR, plot_gallery


def test_gallery_png_is_written_and_not_blank(tiny_set, tmp_path):
    path = plot_gallery(tiny_set, tmp_path / "plots" / "gallery.png", n_per_class=4)
    assert path.is_file() and path.stat().st_size > 20_000
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400
    gray = img[..., :3].mean(axis=-1)
    assert gray.std() > 0.1  # real pictures, not an empty canvas
    assert (gray < 0.2).mean() > 0.1  # dark sky in the panels


def test_gallery_handles_more_panels_than_images_and_one_class(tiny_set, tmp_path):
    plot_gallery(tiny_set, tmp_path / "a.png", n_per_class=20, seed=3)
    plot_gallery(tiny_set.subset(tiny_set.labels == 1), tmp_path / "b.png")
    assert (tmp_path / "a.png").is_file() and (tmp_path / "b.png").is_file()
    with pytest.raises(ValueError, match="n_per_class"):
        plot_gallery(tiny_set, tmp_path / "c.png", n_per_class=0)


def test_three_band_gallery_is_in_colour(gri_h5, tiny_set, tmp_path):
    from lensfind.data.store import read_set

    def colourful(data, name):   # share of pixels whose red and blue differ (grey ones do not)
        rgb = imread(plot_gallery(data, tmp_path / name, n_per_class=4))[..., :3]
        frames = [np.linalg.norm(rgb - to_rgb(c), axis=-1) < 0.25 for c in (LENS_COLOR,
                                                                            NONLENS_COLOR)]
        text = rgb.min(axis=-1) > 0.3    # titles: frame colours blended with white
        return np.mean((np.abs(rgb[..., 0] - rgb[..., 2]) > 0.1) & ~frames[0] & ~frames[1]
                       & ~text)

    # the single-band gallery has colour only in its titles and frames
    assert colourful(read_set(gri_h5), "gri.png") > 2 * colourful(tiny_set, "one.png") + 0.01
