"""The base-layer FITS reader: simple images, primary HDU only, without importing astropy.

It sits below the simulator, the data layer (FITS cutouts and their export) and scoring so all
of them can share it without importing one another; today :mod:`lensfind.sim.sources` reads the
shipped HST images with it and :mod:`lensfind.score.reader` the cutouts to score.

Importing astropy takes seconds; the files read most often (shipped HST images, cutouts written by
astropy or by survey tools) are plain primary-HDU images that a few lines decode exactly as
astropy does. :func:`parse_simple` handles those and returns None for anything else (extensions
holding the image, BLANK, random groups, gzip, odd BITPIX...), so that callers fall back to
astropy, which then reads or judges the file.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

BLOCK = 2880  # bytes per FITS header/data block
DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
#: a header longer than this many blocks is left to astropy
MAX_HEADER_BLOCKS = 100


class TruncatedFits(ValueError):
    """A complete, simple header announces more data bytes than the file holds."""


def _card_value(raw: bytes) -> str:
    text = raw.decode("ascii", "replace")
    if text.lstrip().startswith("'"):
        return text.strip()
    return text.split("/", 1)[0].strip()


def parse_simple(buf: bytes) -> np.ndarray | None:
    """The primary image of the FITS file whose bytes are ``buf``, as float32, or None.

    Decoded here: ``SIMPLE = T``, no random groups, no BLANK, BITPIX 8/16/32/64/-32/-64, NAXIS 2
    or 3 with NAXIS3 = 1 (returned as 2-D), BSCALE/BZERO applied as astropy does (float32
    arithmetic for 8- and 16-bit data). None for any other file.

    Raises:
        TruncatedFits: the header is complete and simple but the data are cut short.
    """
    if not buf.startswith(b"SIMPLE  ="):
        return None
    cards: dict[bytes, str] = {}
    pos = 0
    end = False
    while not end:
        if pos + BLOCK > len(buf) or pos > MAX_HEADER_BLOCKS * BLOCK:
            return None
        block = buf[pos:pos + BLOCK]
        pos += BLOCK
        for i in range(0, BLOCK, 80):
            card = block[i:i + 80]
            key = card[:8].rstrip()
            if key == b"END":
                end = True
                break
            if card[8:10] == b"= ":
                cards[key] = _card_value(card[10:])
    try:
        if cards.get(b"SIMPLE") != "T" or cards.get(b"GROUPS", "F") == "T" or b"BLANK" in cards:
            return None
        bitpix = int(cards[b"BITPIX"])
        naxis = int(cards[b"NAXIS"])
        if naxis not in (2, 3):
            return None
        dims = [int(cards[b"NAXIS%d" % k]) for k in range(1, naxis + 1)]
        bscale = float(cards.get(b"BSCALE", "1").replace("D", "E"))
        bzero = float(cards.get(b"BZERO", "0").replace("D", "E"))
    except (KeyError, ValueError):
        return None
    if bitpix not in DTYPES or min(dims) <= 0 or (naxis == 3 and dims[2] != 1):
        return None
    dtype = np.dtype(DTYPES[bitpix])
    count = math.prod(dims)
    nbytes = count * dtype.itemsize
    if pos + nbytes > len(buf):
        raise TruncatedFits(f"truncated FITS file: the header announces {nbytes} data bytes "
                            f"({'x'.join(map(str, dims))} BITPIX {bitpix}), the file has "
                            f"{max(len(buf) - pos, 0)} after the header")
    data = np.frombuffer(buf, dtype=dtype, count=count, offset=pos)
    data = data.reshape(dims[::-1][-2:] if naxis == 3 else dims[::-1])
    if bscale != 1.0 or bzero != 0.0:  # as astropy: float32 arithmetic for 8/16-bit data
        work = np.float32 if bitpix in (8, 16) else np.float64
        scaled = data.astype(work) * work(bscale)
        scaled += work(bzero)
        return scaled.astype(np.float32)
    return data.astype(np.float32)


def read_primary(path: str | Path) -> np.ndarray:
    """The primary image of a FITS file as float32: :func:`parse_simple`, else astropy."""
    data = parse_simple(Path(path).read_bytes())
    if data is None:
        from astropy.io import fits
        data = np.asarray(fits.getdata(path, ext=0), dtype=np.float32)
    return data
