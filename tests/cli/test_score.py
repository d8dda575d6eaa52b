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


def test_band_tiles_from_the_command_line_score_in_shards_and_merge(tmp_path, capsys):
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS

    from tests.score.score_helpers import make_run, read_rows, write_list
    run = make_run(tmp_path / "runs", "gri", bands=("g", "r", "i"), folds=1)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [100.5, 100.5]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    images = []
    for k, band in enumerate("gri"):
        data = np.random.default_rng(k).normal(10, 1, (200, 200)).astype(np.float32)
        fits.PrimaryHDU(data, header=w.to_header()).writeto(tmp_path / f"t_{band}.fits")
        images += ["--image", f"{band}={tmp_path / f't_{band}.fits'}"]
    rows = [[f"c{j}", *w.wcs_pix2world([[60.0 + 20 * j, 90.0]], 0)[0]] for j in range(4)]
    lst = write_list(tmp_path / "sky.csv", ["id", "ra", "dec"], rows + [["off", 10.0, 2.0]])
    out = tmp_path / "s.csv"
    for k in (1, 2):
        assert main(["score", str(lst), "--model", str(run), "--out", str(out), *images,
                     "--shard", f"{k}/2", "--chunk-size", "2", "--no-progress"]) == 0
    assert main(["merge-scores", "--out", str(out), "--top", "4"]) == 0
    got = read_rows(out)
    assert [r["status"] for r in got] == ["ok"] * 4 + ["off_image"]
    assert got[4]["reason"].startswith("band g, tile ")
    assert main(["score", str(lst), "--model", str(run), "--out", str(tmp_path / "x.csv"),
                 "--image", str(tmp_path / "t_g.fits"), "--no-progress"]) == 2
    assert "expected BAND=TILE.fits with BAND one of the models' bands [g, r, i]" in \
        capsys.readouterr().err
