"""Random geometric augmentation of cutout batches, and the matching change of lens parameters.

NumPy and SciPy (no Keras, no backend): every image of a batch ``(B, H, W)`` is resampled with
bilinear interpolation by ``scipy.ndimage.affine_transform`` (compiled; about 3x faster than the
equivalent vectorised NumPy gather, which gave the same values), so the same code serves
TensorFlow, JAX or PyTorch backends and is bit-for-bit reproducible from a seed.

Pixel and axis convention (the simulator's, :mod:`lensfind.sim.func`): ``image[row, col]`` is the
pixel at ``x = col - (W-1)/2``, ``y = row - (H-1)/2`` (pixels; times ``pixel_scale`` for arcsec),
``x`` to the right, ``y`` up when shown with ``origin="lower"``; angles are counter-clockwise from
+x in that frame. Every transform fixes the cutout centre ``(x, y) = (0, 0)``.

A :class:`Transform` holds per-image parameters; the linear map from input to output sky positions
is ``A = (1/zoom) * Shear(shear) * Rot(angle) * Flip``:

* ``Flip = diag(-1 if flip_x else 1, -1 if flip_y else 1)``: ``flip_x`` mirrors left-right
  (``x -> -x``, a "horizontal flip"), ``flip_y`` mirrors up-down (``y -> -y``).
* ``Rot(a) = [[cos a, -sin a], [sin a, cos a]]``: a feature at angle ``p`` moves to ``p + a``.
* ``Shear(s) = [[1, -sin s], [0, cos s]]`` (the Keras ``ImageDataGenerator`` shear).
* ``zoom`` is the Keras sampling factor: the output samples the input at ``zoom * p``, so a zoom
  of 0.9 magnifies the cutout by ``1/0.9``.

The output image is ``out(p) = in(A^-1 p)``; points that fall outside are filled by mirroring the
cutout at its edges (``"mirror"``, no artificial blank corners) or by the nearest edge pixel.

Noise: bilinear resampling averages neighbouring pixels, so any rotation that is not a multiple
of 90 degrees (and any zoom or shear) lowers the pixel noise and correlates neighbours (white
noise after a random +-180 deg rotation: sigma x 0.67, neighbour correlation 0.26). The 8 moves
of a square grid (rotations by multiples of 90 degrees, flips, zoom 1, no shear) are made by
exact pixel permutations instead and keep the noise; ``rotation = "right_angles"`` draws only
those (:func:`random_transforms`).

Label-aware augmentation (:func:`transform_params`, for regression targets; shear must be 0
there because a shear is not a symmetry of the lens model): positions ``(center_x, center_y)``
become ``A (x, y)``; spin-2 quantities ``e = e1 + i e2`` and ``g = g1 + i g2`` become
``exp(2 i angle) * (conj(e) if exactly one flip else e)`` (a mirror reverses position angles);
lengths such as ``theta_e`` become ``theta_e / zoom``; magnification and S/N are unchanged.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

FILL_MODES = ("mirror", "nearest")

@dataclasses.dataclass(frozen=True)
class Transform:
    """Per-image transform parameters (arrays of length B). Angles in radians."""

    angle: np.ndarray
    zoom: np.ndarray
    shear: np.ndarray
    flip_x: np.ndarray
    flip_y: np.ndarray

    def __len__(self) -> int:
        return len(self.angle)

    @classmethod
    def identity(cls, n: int) -> "Transform":
        z = np.zeros(n)
        return cls(z, np.ones(n), z.copy(), np.zeros(n, bool), np.zeros(n, bool))

    @classmethod
    def make(cls, n: int, *, angle_deg=0.0, zoom=1.0, shear_deg=0.0, flip_x=False,
             flip_y=False) -> "Transform":
        """A transform with the same (or per-image) values for ``n`` images, angles in degrees."""
        def arr(v, dtype=float):
            return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()
        return cls(np.deg2rad(arr(angle_deg)), arr(zoom), np.deg2rad(arr(shear_deg)),
                   arr(flip_x, bool), arr(flip_y, bool))

    def matrix(self) -> np.ndarray:
        """``A`` of shape (B, 2, 2): input position -> output position (see the module doc)."""
        n = len(self)
        flip = np.zeros((n, 2, 2))
        flip[:, 0, 0] = np.where(self.flip_x, -1.0, 1.0)
        flip[:, 1, 1] = np.where(self.flip_y, -1.0, 1.0)
        c, s = np.cos(self.angle), np.sin(self.angle)
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
        shear = np.zeros((n, 2, 2))
        shear[:, 0, 0] = 1.0
        shear[:, 0, 1] = -np.sin(self.shear)
        shear[:, 1, 1] = np.cos(self.shear)
        return (1.0 / self.zoom)[:, None, None] * (shear @ rot @ flip)

    def packed(self) -> np.ndarray:
        """(B, 7) float32 rows ``(a_xx, a_xy, a_yx, a_yy, angle, mirrored, zoom)`` for the
        device (:mod:`lensfind.data.device_augment`): ``A`` of :meth:`matrix`, with the entries
        of square-grid moves (:func:`grid_move`) snapped to exact 0 and +-1 so that the
        device permutes their pixels exactly; ``mirrored`` is 1 where exactly one flip is on."""
        a = self.matrix()
        grid, _ = grid_quarters(self.angle, self.zoom, self.shear)
        a[grid] = np.round(a[grid])
        mirrored = np.logical_xor(self.flip_x, self.flip_y)
        return np.column_stack([a.reshape(-1, 4), self.angle, mirrored, self.zoom]) \
            .astype(np.float32)


def random_transforms(rng: np.random.Generator, n: int, config, *,
                      allow_shear: bool = True) -> Transform:
    """Draw ``n`` transforms from an :class:`~lensfind.config.train.AugmentConfig`.

    rotation ~ U(-rotation_deg, rotation_deg), zoom ~ U(zoom[0], zoom[1]) (isotropic),
    shear ~ U(-shear_deg, shear_deg) (0 if ``allow_shear`` is false), each flip with probability
    1/2 when enabled. The draws are made in a fixed order, so the same generator state gives the
    same transforms whatever the settings' values.
    With ``config.rotation == "right_angles"`` the angle is 0, 90, 180 or 270 degrees.
    """
    u = rng.random((5, n))
    if config.rotation == "right_angles":
        rot = 0.5 * np.pi * np.floor(4 * u[0])
    else:
        rot = np.deg2rad(config.rotation_deg) * (2 * u[0] - 1)
    lo, hi = config.zoom
    zoom = lo + (hi - lo) * u[1]
    shear_deg = config.shear_deg if allow_shear else 0.0
    shear = np.deg2rad(shear_deg) * (2 * u[2] - 1)
    flip_x = (u[3] < 0.5) & bool(config.flip_horizontal)
    flip_y = (u[4] < 0.5) & bool(config.flip_vertical)
    return Transform(rot, zoom, shear, flip_x, flip_y)


def apply_transforms(images: np.ndarray, transform: Transform, *,
                     fill_mode: str = "mirror") -> np.ndarray:
    """Resample ``images`` (B, H, W) or (B, H, W, C) with ``transform``; returns float32.

    Bilinear interpolation, except for the moves of a square grid (:func:`grid_move`), which
    permute pixels exactly.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode = {fill_mode!r} is invalid: expected one of {FILL_MODES}")
    from scipy import ndimage

    images = np.asarray(images)
    squeeze = images.ndim == 3
    x = images[..., None] if squeeze else images
    b, h, w, channels = x.shape
    if len(transform) != b:
        raise ValueError(f"{len(transform)} transforms for {b} images")
    inv = np.linalg.inv(transform.matrix())  # output (x, y) -> input (x, y)
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    out = np.empty(x.shape, np.float32)
    # scipy's "mirror" is the whole-sample mirror d c b | a b c d | c b a; in (row, col) order
    # the map is [[a_yy, a_yx], [a_xy, a_xx]] about the centre; the pixel weights are computed
    # in float64 and the result rounded once to float32
    for i in range(b):
        turns = grid_move(transform, i) if h == w else None
        if turns is not None:
            y = x[i, :, ::-1] if transform.flip_x[i] else x[i]
            y = y[::-1] if transform.flip_y[i] else y
            out[i] = np.rot90(y, k=-turns, axes=(0, 1))
            continue
        m = inv[i][::-1, ::-1]
        offset = centre - m @ centre
        for c in range(channels):
            ndimage.affine_transform(x[i, :, :, c], m, offset=offset, order=1, mode=fill_mode,
                                     output=out[i, :, :, c], prefilter=False)
    return out[..., 0] if squeeze else out


def grid_quarters(angle, zoom, shear) -> tuple[np.ndarray, np.ndarray]:
    """Which transforms are moves of the square grid (rotation a multiple of 90 degrees within
    1e-9 rad, zoom 1, no shear), and their quarter turns (0-3): two arrays of ``angle``'s
    shape."""
    quarter = np.asarray(angle) / (0.5 * np.pi)
    turns = np.round(quarter)
    grid = (np.abs(quarter - turns) <= 1e-9) & (np.asarray(zoom) == 1.0) \
        & (np.asarray(shear) == 0.0)
    return grid, turns.astype(int) % 4


def grid_move(transform: Transform, i: int) -> int | None:
    """Quarter turns (0-3) of image ``i`` if its transform is a move of the square grid
    (:func:`grid_quarters`), else None."""
    grid, turns = grid_quarters(transform.angle[i], transform.zoom[i], transform.shear[i])
    return int(turns) if grid else None


# ------------------------------------------------------------------------------ parameters

@dataclasses.dataclass(frozen=True)
class ParamRule:
    """How a lens parameter changes under a transform.

    kind: ``"position"`` (component ``component`` of the vector ``(pair[0], pair[1])``),
    ``"spin2"`` (component of ``pair[0] + i pair[1]``), ``"length"`` (divided by zoom) or
    ``"invariant"``.
    """

    kind: str
    pair: tuple[str, str] | None = None
    component: int = 0


#: Parameter name -> rule. Names are the simulator's (``lensfind.sim.params.PARAMS``); add an entry
#: here for a new parameter before using it as an augmented regression target.
PARAM_RULES: dict[str, ParamRule] = {
    "theta_e": ParamRule("length"),
    "center_x": ParamRule("position", ("center_x", "center_y"), 0),
    "center_y": ParamRule("position", ("center_x", "center_y"), 1),
    "e1": ParamRule("spin2", ("e1", "e2"), 0),
    "e2": ParamRule("spin2", ("e1", "e2"), 1),
    "g1": ParamRule("spin2", ("g1", "g2"), 0),
    "g2": ParamRule("spin2", ("g1", "g2"), 1),
    "magnification": ParamRule("invariant"),
    "snr": ParamRule("invariant"),  # approximately: resampling correlates the noise
    "source_x": ParamRule("position", ("source_x", "source_y"), 0),
    "source_y": ParamRule("position", ("source_x", "source_y"), 1),
    "light_x": ParamRule("position", ("light_x", "light_y"), 0),
    "light_y": ParamRule("position", ("light_x", "light_y"), 1),
    "source_e1": ParamRule("spin2", ("source_e1", "source_e2"), 0),
    "source_e2": ParamRule("spin2", ("source_e1", "source_e2"), 1),
    "light_e1": ParamRule("spin2", ("light_e1", "light_e2"), 0),
    "light_e2": ParamRule("spin2", ("light_e1", "light_e2"), 1),
    "source_r_sersic": ParamRule("length"),
    "light_r_sersic": ParamRule("length"),
    "psf_fwhm": ParamRule("length"),
    "source_n_sersic": ParamRule("invariant"),
    "light_n_sersic": ParamRule("invariant"),
}


def check_label_aware(names: Sequence[str], config=None) -> None:
    """Refuse targets without a :data:`PARAM_RULES` entry, or a shear in ``config``."""
    unknown = [n for n in names if n not in PARAM_RULES]
    if unknown:
        raise ValueError(f"no augmentation rule for target(s) {', '.join(map(repr, unknown))}: "
                         f"expected names in {', '.join(sorted(PARAM_RULES))} "
                         "(add a rule to lensfind.data.augment.PARAM_RULES)")
    if config is not None and getattr(config, "shear_deg", 0.0):
        raise ValueError(f"train.augment.shear_deg = {config.shear_deg!r} is invalid for "
                         "regression targets: a shear changes the lens parameters in a way no "
                         "label can follow; expected 0")


def needed_params(names: Sequence[str]) -> list[str]:
    """The parameters the transformed ``names`` are made of (the names and their partners),
    sorted: the raw columns of label-aware augmentation."""
    check_label_aware(names)
    return sorted({p for n in names for p in (PARAM_RULES[n].pair or (n,))})


class LabelTransform:
    """``fn(indices, transform) -> (b, n) float32``: the targets ``names`` of the images
    ``indices`` after ``transform`` (host path), from full-length parameter arrays ``params``.

    :meth:`raw` gives the untransformed :func:`needed_params` columns instead, which the
    device path transforms in the training step (:class:`~lensfind.data.device_augment.LabelPlan`).
    """

    def __init__(self, params: Mapping[str, np.ndarray], names: Sequence[str]):
        self.names = tuple(names)
        self.needed = needed_params(self.names)
        missing = [p for p in self.needed if p not in params]
        if missing:
            raise ValueError(f"augmenting targets {list(self.names)} needs parameter(s) "
                             f"{missing} in the data set")
        self._arrays = {p: np.asarray(params[p], np.float64) for p in self.needed}

    def __call__(self, indices, transform: "Transform") -> np.ndarray:
        sub = {p: a[indices] for p, a in self._arrays.items()}
        out = transform_params(sub, self.names, transform)
        return np.stack([out[n] for n in self.names], axis=1).astype(np.float32)

    def raw(self, indices) -> np.ndarray:
        """(b, len(needed)) float32: the raw parameter columns of ``indices``."""
        return np.stack([self._arrays[p][indices] for p in self.needed], axis=1) \
            .astype(np.float32)


def transform_params(params: Mapping[str, np.ndarray], names: Sequence[str],
                     transform: Transform) -> dict[str, np.ndarray]:
    """The parameters ``names`` after ``transform`` (rules in :data:`PARAM_RULES`).

    ``params`` maps names to arrays of length B (the batch) and must hold the partner of every
    paired name (``center_y`` for ``center_x``, ``e2`` for ``e1``, ...). NaNs stay NaN.
    Shear in ``transform`` must be zero.
    """
    check_label_aware(names)
    if np.any(np.abs(transform.shear) > 0):
        raise ValueError("transform_params needs shear = 0: a shear is not label-preserving")
    out: dict[str, np.ndarray] = {}
    a = transform.matrix()
    mirrored = np.logical_xor(transform.flip_x, transform.flip_y)
    for name in names:
        rule = PARAM_RULES[name]
        if rule.kind == "invariant":
            out[name] = np.asarray(params[name], dtype=np.float64).copy()
        elif rule.kind == "length":
            out[name] = np.asarray(params[name], dtype=np.float64) / transform.zoom
        else:
            missing = [p for p in rule.pair if p not in params]
            if missing:
                raise ValueError(f"target {name!r} needs parameter(s) {missing} to transform")
            u = np.asarray(params[rule.pair[0]], dtype=np.float64)
            v = np.asarray(params[rule.pair[1]], dtype=np.float64)
            if rule.kind == "position":
                new = a[:, rule.component, 0] * u + a[:, rule.component, 1] * v
            elif rule.kind == "spin2":
                z = u + 1j * v
                z = np.where(mirrored, np.conj(z), z) * np.exp(2j * transform.angle)
                new = z.real if rule.component == 0 else z.imag
            else:  # pragma: no cover - guarded by ParamRule authors
                raise ValueError(f"unknown rule kind {rule.kind!r} for {name!r}")
            out[name] = new
    return out


def describe(config) -> str:
    """One line for logs: what the augmentation does."""
    if config is None or not getattr(config, "enabled", True):
        return "no augmentation"
    flips = [n for n, on in (("horizontal", config.flip_horizontal),
                             ("vertical", config.flip_vertical)) if on]
    return (f"rotation +-{config.rotation_deg:g} deg, zoom {config.zoom[0]:g}-{config.zoom[1]:g}, "
            f"shear +-{config.shear_deg:g} deg, flips: {', '.join(flips) or 'none'}")

