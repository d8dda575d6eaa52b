"""Simulate labelled cutouts: lenses (label 1) and non-lenses of several kinds (label 0).

Pipeline, vectorised over images (NumPy, float32; see :mod:`lensfind.sim.func` for why):

1. draw every parameter of a block of images from the priors in :class:`SimConfig`;
2. evaluate the surface brightness on the supersampled grid: lens light (Sersic or a real HST
   galaxy) at the image-plane positions and the source (Sersic or a real deep-field galaxy) at
   the ray-shot positions ``beta = theta - alpha(theta)`` of the SIE + shear lens;
3. integrate over pixels (mean over sub-pixels), convolve with the PSF (Gaussian, Moffat or an
   image), add sky, Poisson shot noise and Gaussian read noise, subtract the sky;
4. add cosmic rays, hot pixels and masked (zero) pixels.

Determinism: the systems are simulated in blocks of :data:`BLOCK` images; block ``k`` draws from
``Generator(PCG64(SeedSequence(seed, spawn_key=(1, k))))`` and the class/kind of every system
comes from ``SeedSequence(seed, spawn_key=(0,))``. Images therefore depend only on ``seed``, the
config and their index: :func:`simulate` and any :func:`simulate_chunks` split give bit-identical
arrays.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from lensfind.sim import func, observe, profiles
from lensfind.sim.config import NEGATIVE_KINDS, SimConfig
from lensfind.sim.params import PARAMS

BLOCK = 64    # images per random stream (changing it changes the data for a given seed)
RENDER = 1   # images evaluated at once on the supersampled grid (memory/cache; no effect on data)
KINDS = ("lens",) + NEGATIVE_KINDS


@dataclasses.dataclass
class SimBatch:
    """Simulated cutouts.

    Attributes:
        images: float32 ``(N, size, size)`` in electrons (sky-subtracted, noise included).
        labels: int8 ``(N,)``: 1 = lens, 0 = non-lens.
        kinds: str ``(N,)``: ``"lens"`` or a non-lens kind (:data:`KINDS`).
        system_id: int64 ``(N,)``: index of the system in the simulated set (unique).
        params: name -> float32 ``(N,)`` for every name in :data:`lensfind.sim.params.PARAMS`,
            NaN where it does not apply.
    """

    images: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    system_id: np.ndarray
    params: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "SimBatch":
        """The images at ``index`` (slice, integer array or boolean mask)."""
        return SimBatch(self.images[index], self.labels[index], self.kinds[index],
                        self.system_id[index], {k: v[index] for k, v in self.params.items()})

    @staticmethod
    def concatenate(batches: Sequence["SimBatch"]) -> "SimBatch":
        """One batch from several (same image size)."""
        batches = list(batches)
        if not batches:
            raise ValueError("no batches to concatenate")
        return SimBatch(np.concatenate([b.images for b in batches]),
                        np.concatenate([b.labels for b in batches]),
                        np.concatenate([b.kinds for b in batches]),
                        np.concatenate([b.system_id for b in batches]),
                        {k: np.concatenate([b.params[k] for b in batches])
                         for k in batches[0].params})


# --------------------------------------------------------------------------------------------
# plan: which system is what


def plan(config: SimConfig, seed: int, n_lenses: int | None = None,
         n_nonlenses: int | None = None) -> np.ndarray:
    """Kind (index into :data:`KINDS`) of every system, in order: int8 ``(N,)``."""
    n_l = config.n_lenses if n_lenses is None else int(n_lenses)
    n_n = config.n_nonlenses if n_nonlenses is None else int(n_nonlenses)
    if n_l < 0 or n_n < 0 or n_l + n_n < 1:
        raise ValueError(f"n_lenses = {n_l}, n_nonlenses = {n_n} is invalid: expected counts "
                         ">= 0 with at least one image")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    weights = np.array([config.negatives.weights()[k] for k in NEGATIVE_KINDS], dtype=np.float64)
    neg = rng.choice(len(NEGATIVE_KINDS), size=n_n, p=weights / weights.sum()) + 1
    kinds = np.concatenate([np.zeros(n_l, np.int8), neg.astype(np.int8)])
    return kinds[rng.permutation(kinds.size)]


# --------------------------------------------------------------------------------------------
# drawing helpers


def _u(rng, rng_range, n):
    lo, hi = rng_range
    return rng.uniform(lo, hi, size=n)


def _flux(mag, exposure, zp):
    """Electrons from AB magnitude."""
    return exposure * 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - zp))


def _mag(flux, exposure, zp):
    with np.errstate(divide="ignore", invalid="ignore"):
        return zp - 2.5 * np.log10(flux / exposure)


class _Block:
    """Parameters and pre-PSF pixel images of one block of systems."""

    def __init__(self, config: SimConfig, rng: np.random.Generator, kinds: np.ndarray):
        self.cfg = config
        self.rng = rng
        self.kinds = kinds
        b = kinds.size
        n = config.size
        self.n = b
        self.params = {name: np.full(b, np.nan) for name in PARAMS}
        self.pre = np.zeros((b, n, n), np.float32)    # e- per pixel, before the PSF
        self.post = np.zeros((b, n, n), np.float32)   # e- per pixel, already PSF-convolved
        self.src = {}                                 # row -> lensed source (e-/pixel) pre-PSF
        self.x, self.y = func.grid(n, config.pixel_scale, config.supersampling)
        self.sub_area = (config.pixel_scale / config.supersampling) ** 2
        self.pix_area = config.pixel_scale ** 2
        self.work = func.Workspace()
        self.fine = (self.x.shape[-1],) * 2  # supersampled grid shape

    def buf(self, name: str, m: int) -> np.ndarray:
        """Scratch ``(m, n_fine, n_fine)`` array ``name`` (reused; content undefined)."""
        return self.work.get(name, (m,) + self.fine)

    # ---- rendering on the supersampled grid -------------------------------------------------

    def pixelate(self, sb: np.ndarray, add_to: np.ndarray | None = None) -> np.ndarray:
        """Surface brightness (e-/arcsec^2) on the sub-grid -> e- per pixel; added to
        ``add_to`` (e.g. ``blk.pre[rows]`` must not be a fancy-indexed copy) if given."""
        out = observe.downsample(sb, self.cfg.supersampling,
                                 out=self.work.get("pix", (sb.shape[0], self.cfg.size,
                                                           self.cfg.size)), work=self.work)
        out *= np.float32(self.pix_area)
        if add_to is not None:
            add_to += out
        return out


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------------------------
# galaxy light (lens light and non-lens galaxies share these priors)


def _draw_galaxy(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> dict:
    """Lens-galaxy-like light (and the mass shape it would follow) for ``rows``."""
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    lp, ll = cfg.lens, cfg.lens_light
    g = {}
    g["q_mass"] = _u(rng, lp.axis_ratio, m)
    g["phi_mass"] = rng.uniform(0, np.pi, m)
    g["cx"] = rng.uniform(-lp.center_max, lp.center_max, m)
    g["cy"] = rng.uniform(-lp.center_max, lp.center_max, m)
    mag = _u(rng, ll.magnitude, m)
    r_s = _u(rng, ll.r_sersic, m)
    n_s = _u(rng, ll.n_sersic, m)
    if ll.follow_mass:
        dq = ll.follow_axis_ratio_scatter
        q = np.clip(g["q_mass"] + rng.uniform(-dq, dq, m), ll.follow_min_axis_ratio, 1.0)
        phi = g["phi_mass"] + np.deg2rad(rng.normal(0, ll.follow_angle_scatter, m))
    else:
        q = _u(rng, ll.axis_ratio, m)
        phi = rng.uniform(0, np.pi, m)
    real_u = rng.random(m)
    stamp_u = rng.random(m)
    flip = rng.random(m) < 0.5
    if ll.kind == "sersic":
        real = np.zeros(m, bool)
    elif ll.kind == "real":
        real = np.ones(m, bool)
    else:
        real = real_u < ll.real_fraction
    g.update(mag=mag, r=r_s, n=n_s, q=q, phi=phi, real=real, flip=flip,
             flux=_flux(mag, exposure[rows], cfg.noise.zero_point), stamp_u=stamp_u)
    e1, e2 = func.phi_q_to_e(phi, q)
    p = blk.params
    p["light_x"][rows] = g["cx"]
    p["light_y"][rows] = g["cy"]
    p["light_mag"][rows] = mag
    p["light_r_sersic"][rows] = r_s
    p["light_n_sersic"][rows] = np.where(real, np.nan, n_s)
    p["light_e1"][rows] = e1
    p["light_e2"][rows] = e2
    p["light_real"][rows] = real
    g["e1"], g["e2"] = e1, e2
    return g


def _render_galaxy(blk: _Block, rows: np.ndarray, g: dict) -> None:
    """Add the galaxy light of ``g`` to ``blk.pre[rows]``."""
    amp = profiles.sersic_amp(g["flux"], g["r"], g["n"])
    prof = profiles.sersic_setup(amp, g["r"], g["n"])
    scale = profiles.sersic_radius_scale(g["r"], g["n"])
    qa, qb, qc = profiles.quadratic_columns(g["e1"], g["e2"], scale)
    cx, cy = func.col(g["cx"]), func.col(g["cy"])
    for sl in _chunks(rows.size, RENDER):
        r = rows[sl]
        real = g["real"][sl]
        if not real.any():
            sb = blk.buf("sb", r.size)
            dx, dy = blk.x - cx[sl], blk.y - cy[sl]
            np.multiply(qb[sl] * dx, dy, out=sb)
            sb += qa[sl] * (dx * dx)
            sb += qc[sl] * (dy * dy)
            profiles.sersic_from_r2(sb, {key: v[sl] for key, v in prof.items()})
            blk.pre[r] += blk.pixelate(sb)
            continue
        ser = ~real
        sb = np.zeros((r.size,) + blk.fine, np.float32)
        if ser.any():
            sb[ser] = profiles.sersic(blk.x, blk.y, amp[sl][ser], g["r"][sl][ser],
                                      g["n"][sl][ser], g["e1"][sl][ser], g["e2"][sl][ser],
                                      g["cx"][sl][ser], g["cy"][sl][ser])
        if real.any():
            from lensfind.sim.sources import mgefit_light_bank, render_stamps
            bank = mgefit_light_bank()
            idx = np.minimum((g["stamp_u"][sl][real] * len(bank)).astype(int), len(bank) - 1)
            sb[real] = render_stamps(blk.x, blk.y, bank, idx, g["cx"][sl][real],
                                     g["cy"][sl][real], g["r"][sl][real], g["phi"][sl][real],
                                     g["flux"][sl][real], flip=g["flip"][sl][real])
        blk.pre[r] += blk.pixelate(sb)


# --------------------------------------------------------------------------------------------
# lenses


def _draw_source(blk: _Block, m: int, exposure, kind: str, real_fraction: float, sp) -> dict:
    rng = blk.rng
    s = {}
    s["mag"] = _u(rng, sp.magnitude, m)
    s["r"] = _u(rng, sp.r_sersic, m)
    s["n"] = _u(rng, sp.n_sersic, m)
    s["q"] = _u(rng, sp.axis_ratio, m)
    s["phi"] = rng.uniform(0, np.pi, m)
    real_u = rng.random(m)
    s["stamp_u"] = rng.random(m)
    s["flip"] = rng.random(m) < 0.5
    if kind == "sersic":
        s["real"] = np.zeros(m, bool)
    elif kind == "real":
        s["real"] = np.ones(m, bool)
    else:
        s["real"] = real_u < real_fraction
    s["flux"] = _flux(s["mag"], exposure, blk.cfg.noise.zero_point)
    s["e1"], s["e2"] = func.phi_q_to_e(s["phi"], s["q"])
    return s


def _source_sb(bx, by, s: dict, sl, cx, cy, out=None, work=None) -> np.ndarray:
    """Source surface brightness at positions ``bx, by`` for the images ``sl`` of ``s``;
    ``cx, cy`` are the source centres, or None when ``bx, by`` are already offsets from them."""
    real = s["real"][sl]
    shape = np.broadcast_shapes(bx.shape, by.shape)
    m = real.size
    if cx is None:
        cx = cy = None
        zeros = np.zeros(m)
    pick = (lambda a, sel: a[sel] if a.shape[0] > 1 else a)
    ser = ~real
    if not real.any():
        amp = profiles.sersic_amp(s["flux"][sl], s["r"][sl], s["n"][sl])
        return profiles.sersic(bx, by, amp, s["r"][sl], s["n"][sl], s["e1"][sl], s["e2"][sl],
                               cx, cy, out=out, work=work)
    sb = np.zeros((m,) + shape[1:], np.float32)
    if ser.any():
        amp = profiles.sersic_amp(s["flux"][sl][ser], s["r"][sl][ser], s["n"][sl][ser])
        sb[ser] = profiles.sersic(pick(bx, ser), pick(by, ser), amp, s["r"][sl][ser],
                                  s["n"][sl][ser], s["e1"][sl][ser], s["e2"][sl][ser],
                                  None if cx is None else cx[ser],
                                  None if cy is None else cy[ser])
    from lensfind.sim.sources import hdf_source_bank, render_stamps
    bank = hdf_source_bank()
    idx = np.minimum((s["stamp_u"][sl][real] * len(bank)).astype(int), len(bank) - 1)
    sb[real] = render_stamps(pick(bx, real), pick(by, real), bank, idx,
                             zeros[real] if cx is None else cx[real],
                             zeros[real] if cy is None else cy[real],
                             s["r"][sl][real], s["phi"][sl][real], s["flux"][sl][real],
                             flip=s["flip"][sl][real])
    return sb


def _lenses(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    lp, sp = cfg.lens, cfg.source
    g = _draw_galaxy(blk, rows, exposure)
    theta_e = _u(rng, lp.theta_e, m)
    gamma = _u(rng, lp.shear, m)
    gphi = rng.uniform(0, np.pi, m)
    lens = {"theta_e": theta_e, "center_x": g["cx"], "center_y": g["cy"],
            "g1": gamma * np.cos(2 * gphi), "g2": gamma * np.sin(2 * gphi)}
    lens["e1"], lens["e2"] = func.phi_q_to_e(g["phi_mass"], g["q_mass"])
    o0, o1 = sp.offset
    rad = theta_e * np.sqrt(rng.uniform(o0 ** 2, o1 ** 2, m))
    ang = rng.uniform(0, 2 * np.pi, m)
    sx = g["cx"] + rad * np.cos(ang)
    sy = g["cy"] + rad * np.sin(ang)
    s = _draw_source(blk, m, exposure[rows], sp.kind, sp.real_fraction, sp)
    p = blk.params
    for k in ("theta_e", "e1", "e2", "center_x", "center_y", "g1", "g2"):
        p[k][rows] = lens[k]
    p["source_x"][rows], p["source_y"][rows] = sx, sy
    p["source_mag"][rows] = s["mag"]
    p["source_r_sersic"][rows] = s["r"]
    p["source_n_sersic"][rows] = np.where(s["real"], np.nan, s["n"])
    p["source_e1"][rows], p["source_e2"][rows] = s["e1"], s["e2"]
    p["source_real"][rows] = s["real"]

    _render_galaxy(blk, rows, g)
    mu = np.empty(m)
    ray = func.lensed_setup(lens, {"center_x": sx, "center_y": sy, "e1": s["e1"],
                                   "e2": s["e2"],
                                   "r_sersic": profiles.sersic_radius_scale(s["r"], s["n"])})
    prof = profiles.sersic_setup(profiles.sersic_amp(s["flux"], s["r"], s["n"]), s["r"], s["n"])
    for sl in _chunks(m, RENDER):
        k = sl.stop - sl.start
        if not s["real"][sl].any():   # fast path: ray-shoot straight into the source frame
            r2 = func.lensed_radius2(blk.x, blk.y, work=blk.work, out=blk.buf("sb", k),
                                     setup={key: v[sl] for key, v in ray.items()})
            sb = profiles.sersic_from_r2(r2, {key: v[sl] for key, v in prof.items()})
        else:
            lens_sl = {key: v[sl] for key, v in lens.items()}
            bx, by = func.ray_shoot(blk.x, blk.y, lens_sl, sx[sl], sy[sl], work=blk.work,
                                    out=(blk.buf("bx", k), blk.buf("by", k)))
            sb = _source_sb(bx, by, s, sl, None, None, out=blk.buf("sb", k), work=blk.work)
        img = blk.pixelate(sb).copy()
        # magnification: lensed source flux in the cutout (from the image, before the PSF) /
        # unlensed total flux (exact: the Sersic integral, or the unit-sum stamp times flux)
        mu[sl] = img.sum(axis=(1, 2), dtype=np.float64) / s["flux"][sl]
        for i, r in enumerate(rows[sl]):
            blk.src[int(r)] = img[i]
    p["magnification"][rows] = mu
    p["lensed_source_mag"][rows] = s["mag"] - 2.5 * np.log10(np.maximum(mu, 1e-30))


# --------------------------------------------------------------------------------------------
# non-lenses


def _lens_galaxies(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    g = _draw_galaxy(blk, rows, exposure)
    _render_galaxy(blk, rows, g)


def _neighbours(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A galaxy plus an unlensed neighbour, often elongated and tangentially aligned
    (arc-like); priors: ``cfg.neighbour``."""
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    nb = cfg.neighbour
    g = _draw_galaxy(blk, rows, exposure)
    dist = _u(rng, nb.distance, m)
    ang = rng.uniform(0, 2 * np.pi, m)
    tangential = rng.random(m) < nb.tangential_fraction
    sp = dataclasses.replace(cfg.source, magnitude=nb.magnitude, r_sersic=nb.r_sersic,
                             axis_ratio=nb.axis_ratio)
    s = _draw_source(blk, m, exposure[rows], cfg.source.kind, cfg.source.real_fraction, sp)
    s["phi"] = np.where(tangential, ang + np.pi / 2, s["phi"])
    s["e1"], s["e2"] = func.phi_q_to_e(s["phi"], s["q"])
    nx = g["cx"] + dist * np.cos(ang)
    ny = g["cy"] + dist * np.sin(ang)
    _render_galaxy(blk, rows, g)
    for sl in _chunks(m, RENDER):
        sb = _source_sb(blk.x, blk.y, s, sl, nx[sl], ny[sl], out=blk.buf("sb", sl.stop - sl.start),
                        work=blk.work)
        blk.pre[rows[sl]] += blk.pixelate(sb)


def _add_points(img: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                pixel_scale: float) -> None:
    """Delta functions at (x, y) arcsec, each split bilinearly over its 4 nearest pixels."""
    n = img.shape[-1]
    c = (n - 1) / 2.0
    u = np.asarray(x, dtype=np.float64) / pixel_scale + c
    v = np.asarray(y, dtype=np.float64) / pixel_scale + c
    j0, i0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - j0, v - i0
    flat = img.reshape(-1)
    for di, dj, w in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)),
                      (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        i, j = i0 + di, j0 + dj
        ok = (i >= 0) & (i < n) & (j >= 0) & (j < n)
        np.add.at(flat, i[ok] * n + j[ok], (flux * w)[ok].astype(img.dtype))


def _star_with_spikes(x: float, y: float, flux: float, angle: float, pixel_scale: float,
                      spike_fraction: float):
    """Point positions and fluxes of a star plus 4 diffraction spikes (HST-like, ~1/r^2)."""
    length = np.clip(4.0 * np.log10(max(flux, 1.0)), 2.0, 40.0)   # pixels, grows with flux
    r = np.arange(1.5, length, 0.5)
    w = 1.0 / (1.0 + (r / 1.5) ** 2)
    w *= spike_fraction * flux / (4 * w.sum()) if w.size else 0.0
    xs, ys, fs = [np.array([x])], [np.array([y])], [np.array([flux * (1 - spike_fraction)])]
    for k in range(4):
        a = angle + k * np.pi / 2
        xs.append(x + r * pixel_scale * np.cos(a))
        ys.append(y + r * pixel_scale * np.sin(a))
        fs.append(w)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(fs)


def _stars(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """Stars with diffraction spikes, sometimes next to a galaxy; one star is often near the
    centre. Priors: ``cfg.star``."""
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    st = cfg.star
    g = _draw_galaxy(blk, rows, exposure)
    with_galaxy = rng.random(m) < st.with_galaxy_fraction
    n_stars = rng.integers(st.count[0], st.count[1] + 1, m)
    half = cfg.field_of_view / 2
    pos = rng.uniform(-half, half, (m, st.count[1], 2))
    central = rng.random(m) < st.central_fraction
    pos[central, 0] = rng.uniform(-st.central_offset, st.central_offset,
                                  (int(central.sum()), 2))
    mags = rng.uniform(st.magnitude[0], st.magnitude[1], (m, st.count[1]))
    spike_angle = rng.uniform(0, np.pi / 2, m)
    gal_rows = rows[with_galaxy]
    if gal_rows.size:
        _render_galaxy(blk, gal_rows, {k: (v[with_galaxy] if isinstance(v, np.ndarray) else v)
                                       for k, v in g.items()})
    for name in ("light_x", "light_y", "light_mag", "light_r_sersic", "light_n_sersic",
                 "light_e1", "light_e2", "light_real"):
        blk.params[name][rows[~with_galaxy]] = np.nan
    for i, r in enumerate(rows):
        for k in range(int(n_stars[i])):
            f = float(_flux(mags[i, k], exposure[r], cfg.noise.zero_point))
            _add_points(blk.pre[r], *_star_with_spikes(pos[i, k, 0], pos[i, k, 1], f,
                                                       spike_angle[i], cfg.pixel_scale,
                                                       st.spike_fraction),
                        cfg.pixel_scale)


def _rings(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A galaxy with a (clumpy) ring of star formation around it: Einstein-ring look-alike.
    Priors: ``cfg.ring``."""
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    rp = cfg.ring
    g = _draw_galaxy(blk, rows, exposure)
    radius = _u(rng, rp.radius, m)
    width = _u(rng, rp.width, m)
    dq = rp.axis_ratio_scatter
    q = np.clip(g["q"] + rng.uniform(-dq, dq, m), rp.min_axis_ratio, 1.0)
    e1, e2 = func.phi_q_to_e(g["phi"], q)
    mag = _u(rng, rp.magnitude, m)
    clump_amp = _u(rng, rp.clump_amplitude, m)
    clump_m = rng.integers(rp.clumps[0], rp.clumps[1] + 1, m).astype(float)
    clump_phase = rng.uniform(0, 2 * np.pi, m)
    flux = _flux(mag, exposure[rows], cfg.noise.zero_point)
    amp = flux / profiles.gaussian_ring_flux(1.0, radius, width)
    _render_galaxy(blk, rows, g)
    for sl in _chunks(m, RENDER):
        sb = profiles.gaussian_ring(blk.x, blk.y, amp[sl], radius[sl], width[sl], e1[sl],
                                    e2[sl], g["cx"][sl], g["cy"][sl], clump_amp[sl],
                                    clump_m[sl], clump_phase[sl])
        blk.pre[rows[sl]] += blk.pixelate(sb)


def _spirals(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A bulge + exponential disc with logarithmic spiral arms. Priors: ``cfg.spiral``."""
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    sp = cfg.spiral
    zp = cfg.noise.zero_point
    cmax = cfg.lens.center_max
    cx = rng.uniform(-cmax, cmax, m)
    cy = rng.uniform(-cmax, cmax, m)
    q = _u(rng, sp.axis_ratio, m)
    phi = rng.uniform(0, np.pi, m)
    e1, e2 = func.phi_q_to_e(phi, q)
    disc_mag = _u(rng, sp.disc_magnitude, m)
    h = _u(rng, sp.scale_length, m)
    arms = rng.integers(sp.arms[0], sp.arms[1] + 1, m).astype(float)
    pitch = np.deg2rad(_u(rng, sp.pitch, m))
    phase = rng.uniform(0, 2 * np.pi, m)
    contrast = _u(rng, sp.arm_contrast, m)
    bulge_mag = disc_mag + _u(rng, sp.bulge_magnitude_offset, m)
    bulge_r = _u(rng, sp.bulge_r_sersic, m)
    bulge_n = _u(rng, sp.bulge_n_sersic, m)
    disc_flux = _flux(disc_mag, exposure[rows], zp)
    bulge_flux = _flux(bulge_mag, exposure[rows], zp)
    disc_amp = disc_flux / profiles.exponential_disc_flux(1.0, h)
    bulge_amp = profiles.sersic_amp(bulge_flux, bulge_r, bulge_n)
    p = blk.params
    p["light_x"][rows], p["light_y"][rows] = cx, cy
    p["light_mag"][rows] = _mag(disc_flux + bulge_flux, exposure[rows], zp)
    p["light_e1"][rows], p["light_e2"][rows] = e1, e2
    p["light_real"][rows] = 0
    for sl in _chunks(m, RENDER):
        sb = profiles.spiral_disc(blk.x, blk.y, disc_amp[sl], h[sl], e1[sl], e2[sl], cx[sl],
                                  cy[sl], arms[sl], pitch[sl], phase[sl], contrast[sl])
        sb += profiles.sersic(blk.x, blk.y, bulge_amp[sl], bulge_r[sl], bulge_n[sl], e1[sl],
                              e2[sl], cx[sl], cy[sl], out=blk.buf("sb", sl.stop - sl.start),
                              work=blk.work)
        blk.pre[rows[sl]] += blk.pixelate(sb)


def _real_hst(blk: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """Cutouts of real HST images (already PSF-convolved: added after the PSF)."""
    from lensfind.sim.sources import hst_cutouts
    cfg, rng, m = blk.cfg, blk.rng, rows.size
    mag = _u(rng, cfg.lens_light.magnitude, m)
    cut, names = hst_cutouts(rng, m, cfg.size, cfg.pixel_scale, cfg.real_hst)
    deep = np.array([nm == "hubble_deep_field" for nm in names])
    mag = mag + np.where(deep, cfg.real_hst.deep_field_dimming, 0.0)   # the deep field is sparser
    total = np.maximum(np.clip(cut, 0, None).sum(axis=(1, 2), dtype=np.float64), 1e-12)
    flux = _flux(mag, exposure[rows], cfg.noise.zero_point)
    blk.post[rows] += cut * (flux / total).astype(np.float32)[:, None, None]
    blk.params["light_mag"][rows] = mag
    blk.params["light_real"][rows] = 1


def _field_galaxies(blk: _Block, exposure: np.ndarray) -> None:
    """Faint unlensed galaxies anywhere in the field (every kind, Poisson number)."""
    cfg, rng = blk.cfg, blk.rng
    counts = rng.poisson(cfg.field_galaxies, blk.n) if cfg.field_galaxies > 0 else \
        np.zeros(blk.n, int)
    owner = np.repeat(np.arange(blk.n), counts)
    k = owner.size
    half = cfg.field_of_view / 2
    x = rng.uniform(-half, half, k)
    y = rng.uniform(-half, half, k)
    fg = cfg.field_galaxy
    mag = _u(rng, fg.magnitude, k)
    r = _u(rng, fg.r_sersic, k)
    n = _u(rng, fg.n_sersic, k)
    q = _u(rng, fg.axis_ratio, k)
    phi = rng.uniform(0, np.pi, k)
    if k == 0:
        return
    e1, e2 = func.phi_q_to_e(phi, q)
    amp = profiles.sersic_amp(_flux(mag, exposure[owner], cfg.noise.zero_point), r, n)
    for sl in _chunks(k, RENDER):
        img = blk.pixelate(profiles.sersic(blk.x, blk.y, amp[sl], r[sl], n[sl], e1[sl], e2[sl],
                                           x[sl], y[sl], out=blk.buf("sb", sl.stop - sl.start),
                                           work=blk.work))
        for i, o in enumerate(owner[sl]):
            blk.pre[o] += img[i]


_KIND_FUNCS = {"lens": _lenses, "lens_galaxy": _lens_galaxies, "neighbour": _neighbours,
               "star": _stars, "ring": _rings, "spiral": _spirals, "real_hst": _real_hst}


# --------------------------------------------------------------------------------------------
# one block


def _simulate_block(config: SimConfig, seed: int, block: int, kinds: np.ndarray) -> SimBatch:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed,
                                                                      spawn_key=(1, block))))
    blk = _Block(config, rng, kinds)
    nc = config.noise
    b = kinds.size
    exposure = _u(rng, nc.exposure_time, b)
    sky_mag = _u(rng, nc.sky_magnitude, b)
    fwhm = _u(rng, config.psf.fwhm, b)
    sky = _flux(sky_mag, exposure, nc.zero_point) * config.pixel_scale ** 2
    p = blk.params
    p["exposure_time"][:] = exposure
    p["sky"][:] = sky if nc.enabled else 0.0
    p["background_rms"][:] = np.sqrt(sky + nc.read_noise ** 2) if nc.enabled else 0.0
    p["psf_fwhm"][:] = fwhm if config.psf.kind != "image" else np.nan

    for code, name in enumerate(KINDS):
        rows = np.flatnonzero(kinds == code)
        if rows.size:
            _KIND_FUNCS[name](blk, rows, exposure)
    _field_galaxies(blk, exposure)

    # PSF: the scene and, separately, the lensed sources (for the S/N)
    src_rows = np.array(sorted(blk.src), dtype=int)
    kernels_1d = None
    if config.psf.kind == "gaussian":
        kernels_1d = observe.gaussian_kernels_1d(fwhm, config.psf.kernel_size,
                                                 config.pixel_scale)
        kernels = np.empty((b, config.psf.kernel_size, config.psf.kernel_size), np.float32)
    else:
        kernels = observe.psf_kernels(config.psf, fwhm, config.pixel_scale)
    stack, index = blk.pre, None
    if src_rows.size:
        stack = np.concatenate([blk.pre, np.stack([blk.src[r] for r in src_rows])])
        if kernels.shape[0] > 1:
            index = np.concatenate([np.arange(b), src_rows])
    conv = observe.convolve(stack, kernels, index, kernels_1d)
    signal = conv[:b] + blk.post
    src_conv = conv[b:]
    if src_rows.size:
        signal[src_rows] += src_conv

    if nc.enabled:
        images = observe.add_noise(rng, signal, sky, nc.read_noise, nc.poisson)
        if src_rows.size:
            var = observe.noise_variance(signal[src_rows], sky[src_rows], nc.read_noise)
            snr = np.sqrt((src_conv.astype(np.float64) ** 2 / var).sum(axis=(1, 2)))
            p["snr"][src_rows] = snr
        observe.add_artifacts(rng, images, config.artifacts, np.sqrt(sky + nc.read_noise ** 2))
    else:
        images = signal.astype(np.float32)
        p["snr"][src_rows] = np.inf
        observe.add_artifacts(rng, images, config.artifacts,
                              np.full(b, max(nc.read_noise, 1.0)))

    labels = (kinds == 0).astype(np.int8)
    names = np.array(KINDS)[kinds]
    return SimBatch(images, labels, names, np.zeros(b, np.int64),
                    {k: v.astype(np.float32) for k, v in p.items()})


# --------------------------------------------------------------------------------------------
# public API


def simulate_chunks(config: SimConfig, *, seed: int, chunk_size: int = 256,
                    n_lenses: int | None = None,
                    n_nonlenses: int | None = None) -> Iterator[SimBatch]:
    """Simulate the set chunk by chunk (``chunk_size`` images each, the last one shorter).

    Concatenating the chunks gives exactly (bit for bit) :func:`simulate` with the same seed.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"chunk_size = {chunk_size!r} is invalid: expected an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r} is invalid: expected an integer >= 0")
    kinds = plan(config, int(seed), n_lenses, n_nonlenses)
    total = kinds.size
    pending: list[SimBatch] = []
    n_pending = 0
    for block, sl in enumerate(_chunks(total, BLOCK)):
        batch = _simulate_block(config, int(seed), block, kinds[sl])
        batch.system_id = np.arange(sl.start, sl.stop, dtype=np.int64)
        pending.append(batch)
        n_pending += len(batch)
        while n_pending >= chunk_size:
            merged = SimBatch.concatenate(pending) if len(pending) > 1 else pending[0]
            yield merged.subset(slice(0, chunk_size))
            rest = merged.subset(slice(chunk_size, None))
            pending = [rest] if len(rest) else []
            n_pending = len(rest)
    if n_pending:
        yield SimBatch.concatenate(pending) if len(pending) > 1 else pending[0]


def simulate(config: SimConfig, *, seed: int, n_lenses: int | None = None,
             n_nonlenses: int | None = None) -> SimBatch:
    """Simulate ``n_lenses`` lenses and ``n_nonlenses`` non-lenses (defaults from ``config``),
    shuffled; the same ``seed`` and config give bit-identical output."""
    chunks = list(simulate_chunks(config, seed=seed, chunk_size=BLOCK, n_lenses=n_lenses,
                                  n_nonlenses=n_nonlenses))
    return SimBatch.concatenate(chunks) if len(chunks) > 1 else chunks[0]
