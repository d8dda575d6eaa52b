"""The fast reader of simple FITS images agrees with astropy, and leaves other files to it."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits

from lensfind.fitsio import TruncatedFits, parse_simple, read_primary


def _image(seed: int = 1, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10.0 + rng.normal(0, 3.0, (size, size))).astype(np.float32)


def _astropy(path) -> np.ndarray:
    return np.asarray(fits.getdata(path), np.float32)


def test_shipped_hst_image_matches_astropy():
    from lensfind.sim.sources import mgefit_dir
    path = mgefit_dir() / "ngc4342_f814w_pc.fits"
    assert np.array_equal(parse_simple(path.read_bytes()), _astropy(path))


@pytest.mark.parametrize("kind", ["f32", "f64", "i16_scaled", "u8_scaled", "i32", "cube"])
def test_plain_and_scaled_images_match_astropy(tmp_path, kind):
    img = _image()
    path = tmp_path / f"{kind}.fits"
    if kind == "f32":
        hdu = fits.PrimaryHDU(img)
    elif kind == "f64":
        hdu = fits.PrimaryHDU(img.astype(np.float64) / 3)
    elif kind == "i16_scaled":
        hdu = fits.PrimaryHDU(np.round(img * 10).astype(np.int16))
        hdu.header["BSCALE"], hdu.header["BZERO"] = 0.1, 5.0
    elif kind == "u8_scaled":
        hdu = fits.PrimaryHDU(np.clip(img * 5, 0, 255).astype(np.uint8))
        hdu.header["BSCALE"], hdu.header["BZERO"] = 0.2, -1.5
    elif kind == "i32":
        hdu = fits.PrimaryHDU(np.round(img * 1000).astype(np.int32))
    else:
        hdu = fits.PrimaryHDU(img[None])
    hdu.writeto(path)
    ours = parse_simple(path.read_bytes())
    assert ours is not None and ours.dtype == np.float32 and ours.shape == (40, 40)
    np.testing.assert_array_equal(ours, _astropy(path).reshape(40, 40), err_msg=kind)
    np.testing.assert_array_equal(read_primary(path), ours)


def test_files_that_are_not_simple_are_left_to_astropy(tmp_path):
    img = _image(2)
    fits.PrimaryHDU(img).writeto(tmp_path / "plain.fits")
    raw = (tmp_path / "plain.fits").read_bytes()
    blank = fits.PrimaryHDU(np.round(img).astype(np.int16))
    blank.header["BLANK"] = -32768
    blank.writeto(tmp_path / "blank.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(img)]).writeto(tmp_path / "ext.fits")
    fits.PrimaryHDU(np.stack([img] * 3)).writeto(tmp_path / "planes.fits")
    not_simple = {
        "gzip": gzip.compress(raw),
        "not FITS": b"this is not a FITS file" * 200,
        "BLANK": (tmp_path / "blank.fits").read_bytes(),
        "image in an extension": (tmp_path / "ext.fits").read_bytes(),
        "3 planes": (tmp_path / "planes.fits").read_bytes(),
        "header cut short": raw[:1000],
    }
    for name, buf in not_simple.items():
        assert parse_simple(buf) is None, name
    # read_primary falls back to astropy for them
    np.testing.assert_array_equal(read_primary(tmp_path / "blank.fits"),
                                  _astropy(tmp_path / "blank.fits"))


def test_truncated_data_after_a_complete_header_is_refused(tmp_path):
    fits.PrimaryHDU(_image(3)).writeto(tmp_path / "a.fits")
    raw = (tmp_path / "a.fits").read_bytes()
    with pytest.raises(TruncatedFits, match=r"announces 6400 data bytes \(40x40 BITPIX -32\), "
                                            r"the file has 3120 after the header"):
        parse_simple(raw[:6000])
