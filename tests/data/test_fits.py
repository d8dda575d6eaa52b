import csv

import numpy as np
import pytest
from astropy.io import fits

from lensfind.data.fits import (HEADER_PARAMS, cutouts_to_dataset, export_fits, read_cutout,
                                read_cutouts, read_index)
from lensfind.data.store import DataError


@pytest.fixture(scope="module")
def exported(tiny_set, tmp_path_factory):
    return export_fits(tiny_set, tmp_path_factory.mktemp("fits") / "out")


def test_index_columns_and_relative_paths(exported, tiny_set):
    with open(exported, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "path", "label", "kind", "morphology", "system_id"] + list(
        tiny_set.params)
    assert len(rows) == 1 + len(tiny_set)
    for i, row in enumerate(rows[1:]):
        assert not row[1].startswith("/") and (exported.parent / row[1]).is_file()
        assert int(row[2]) == tiny_set.labels[i] and row[3] == tiny_set.kinds[i]
        # lenses name their morphology, non-lenses leave it empty
        assert (row[4] in ("ring", "arc", "double", "quad")) == (tiny_set.labels[i] == 1)
        theta = row[6 + list(tiny_set.params).index("theta_e")]
        assert (theta == "") == (tiny_set.labels[i] == 0)  # NaN parameters are empty cells
        if theta:
            assert np.float32(theta) == tiny_set.params["theta_e"][i]  # float32 round trip


def test_fits_files_have_the_image_and_header_cards(exported, tiny_set):
    rows = read_index(exported)
    for i, row in enumerate(rows):
        with fits.open(row["path"]) as hdul:
            data, header = hdul[0].data, hdul[0].header
            assert data.shape == (32, 32) and header["BITPIX"] == -32
            assert np.array_equal(data.astype(np.float32), tiny_set.images[i])
            assert header["BUNIT"] == "electron"
            assert header["PIXSCALE"] == pytest.approx(tiny_set.pixel_scale)
            assert header["LABEL"] == tiny_set.labels[i]
            assert header["KIND"] == tiny_set.kinds[i]
            assert header["SYSID"] == tiny_set.system_id[i]
            assert header["OBJECT"] == row["id"]
            for name, (key, _) in HEADER_PARAMS.items():
                value = tiny_set.params.get(name, np.full(len(tiny_set), np.nan))[i]
                if np.isfinite(value):
                    assert np.float32(header[key]) == value, key
                else:
                    assert key not in header
            if tiny_set.labels[i] == 1:
                assert "THETA_E" in header and "MAGNIF" in header


def test_read_cutouts_round_trip(exported, tiny_set):
    cut = read_cutouts(exported)
    assert len(cut) == len(tiny_set) and cut.pixel_scale == pytest.approx(tiny_set.pixel_scale)
    assert np.array_equal(cut.images, tiny_set.images)
    back = cutouts_to_dataset(cut)
    assert np.array_equal(back.labels, tiny_set.labels)
    assert back.kinds.tolist() == tiny_set.kinds.tolist()
    for name, values in tiny_set.params.items():
        assert np.array_equal(back.params[name], values, equal_nan=True), name


def test_index_errors(tmp_path, exported):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,file\na,b.fits\n")
    with pytest.raises(DataError, match=r"bad\.csv: missing column\(s\) id, path"):
        read_index(bad)
    bad.write_text("id,path\na,x.fits\na,y.fits\n")
    with pytest.raises(DataError, match="duplicate id 'a'"):
        read_index(bad)
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        read_index(tmp_path / "missing.csv")
    notfits = tmp_path / "x.fits"
    notfits.write_text("not a fits file")
    with pytest.raises(DataError, match=r"x\.fits: cannot read as FITS"):
        read_cutout(notfits)
    bad.write_text(f"id,path,score\na,{exported.parent / 'cutouts' / '000000.fits'},0.5\n")
    cut = read_cutouts(bad)  # absolute paths and extra columns are passed through
    assert cut.rows[0]["score"] == "0.5" and cut.images.shape == (1, 32, 32)


def test_header_wcs_and_center_x_agree_on_the_sky(exported, tiny_set):
    """The WCS puts the lens where CENTER_X/CENTER_Y say: +x = +column = West (RA down)."""
    import warnings

    from astropy.wcs import WCS
    rows = read_index(exported)
    lenses = [i for i in range(len(rows)) if tiny_set.labels[i] == 1]
    assert lenses
    for i in lenses:
        with warnings.catch_warnings():
            warnings.simplefilter("error")        # no truncated cards
            header = fits.getheader(rows[i]["path"])
        wcs = WCS(header)
        assert wcs.has_celestial
        scale = header["PIXSCALE"]
        ny, nx = tiny_set.images.shape[1:]
        col = (nx - 1) / 2 + header["CENTER_X"] / scale    # the simulator's pixel convention
        row = (ny - 1) / 2 + header["CENTER_Y"] / scale
        ra, dec = wcs.all_pix2world([[col, row]], 0)[0]
        ra = (ra + 180.0) % 360.0 - 180.0
        assert ra * 3600 == pytest.approx(-header["CENTER_X"], abs=1e-6)
        assert dec * 3600 == pytest.approx(header["CENTER_Y"], abs=1e-6)
        assert "West" in header.comments["CENTER_X"]
        assert any("PA (E of N)" in str(c) for c in header["COMMENT"])


def test_multi_band_sets_export_one_cube_per_cutout(gri_h5, tmp_path):
    from lensfind.data.store import read_set
    data = read_set(gri_h5)
    index = export_fits(data, tmp_path / "gri")
    with fits.open(tmp_path / "gri" / "cutouts" / "000000.fits") as hdul:
        assert hdul[0].data.shape == (3, 32, 32)
        assert hdul[0].header["BANDS"] == "g,r,i" and hdul[0].header["BAND3"] == "i"
        np.testing.assert_array_equal(hdul[0].data[1], data.images[0, :, :, 1])
    back = read_cutouts(index)
    assert back.bands == ("g", "r", "i")
    np.testing.assert_array_equal(back.images, data.images)
    assert cutouts_to_dataset(back).bands == ("g", "r", "i")
    # an index mixing bands, or a cube whose BANDS do not match its planes, is refused
    fits.writeto(tmp_path / "gri" / "cutouts" / "000001.fits", data.images[1, :, :, 0],
                 overwrite=True)
    with pytest.raises(DataError, match=r"000001.fits: bands \[\] differ from the first .*'g'"):
        read_cutouts(index)
    header = fits.Header({"BANDS": "g,r"})
    fits.writeto(tmp_path / "bad.fits", np.zeros((3, 8, 8), np.float32), header)
    with pytest.raises(DataError, match=r"bad.fits: BANDS = \['g', 'r'\] names 2 planes"):
        read_cutout(tmp_path / "bad.fits")
