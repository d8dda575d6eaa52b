import pytest
from matplotlib.image import imread

from lensfind.data.gallery import plot_gallery


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
