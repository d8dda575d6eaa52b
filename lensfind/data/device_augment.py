"""Geometric augmentation as ``keras.ops``: it runs inside the compiled training step.

The same transforms as :mod:`lensfind.data.augment` (same conventions, stated there once): the
host draws them from ``(seed, fold, epoch, batch)`` and sends each image's
:meth:`~lensfind.data.augment.Transform.packed` row, 7 float32 numbers; this module resamples
the batch and transforms the labels on the device, on any Keras backend.

* :func:`resample`: bilinear interpolation by gathering the 4 neighbours of every output pixel
  (``keras.ops.take`` on the flattened batch), edges filled by ``"mirror"`` (whole-sample mirror,
  scipy's ``d c b | a b c d | c b a``) or ``"nearest"``. Weights and positions in float32: the
  result differs from the float64 host path by interpolation round-off (a few 1e-6 of the
  image's range); moves of the square grid are exact permutations either way, because their
  packed matrices are exact (:meth:`~lensfind.data.augment.Transform.packed` snaps them).
* :class:`LabelPlan`: the rules of :data:`~lensfind.data.augment.PARAM_RULES` as column
  operations on a ``(B, R)`` array of raw parameters (the targets and their partners, in the
  order of :func:`~lensfind.data.augment.needed_params`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from keras import ops

from lensfind.data.augment import FILL_MODES, PARAM_RULES, check_label_aware, needed_params

#: columns of a packed transform row (see :meth:`lensfind.data.augment.Transform.packed`)
PACKED = ("a_xx", "a_xy", "a_yx", "a_yy", "angle", "mirrored", "zoom")


def _edge(index, n: int, fill_mode: str):
    """Pixel indices outside ``[0, n)`` mapped back inside (``index``: int32 tensor)."""
    if fill_mode == "nearest" or n == 1:
        return ops.clip(index, 0, n - 1)
    period = 2 * (n - 1)
    index = ops.mod(index, period)  # floor modulo: in [0, period) for negative indices too
    return ops.where(index >= n, period - index, index)


def resample(images, packed, fill_mode: str = "mirror"):
    """Resample ``images`` (B, H, W, C) float32 by ``packed`` (B, 7) transforms.

    ``out(p) = in(A^-1 p)`` about the cutout centre, ``A`` from ``packed[:, :4]`` (the module
    doc of :mod:`lensfind.data.augment`); returns float32 (B, H, W, C).
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode = {fill_mode!r} is invalid: expected one of {FILL_MODES}")
    images = ops.cast(images, "float32")
    packed = ops.cast(packed, "float32")
    _, h, w, c = images.shape
    b = ops.shape(images)[0]
    a_xx, a_xy, a_yx, a_yy = (packed[:, k:k + 1] for k in range(4))
    det = a_xx * a_yy - a_xy * a_yx
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols = ops.meshgrid(ops.arange(h, dtype="float32"), ops.arange(w, dtype="float32"),
                              indexing="ij")
    x = ops.reshape(cols, (1, h * w)) - cx
    y = ops.reshape(rows, (1, h * w)) - cy
    # A^-1 = [[a_yy, -a_xy], [-a_yx, a_xx]] / det, applied to output (x, y)
    src_col = (a_yy * x - a_xy * y) / det + cx
    src_row = (a_xx * y - a_yx * x) / det + cy
    r0f, c0f = ops.floor(src_row), ops.floor(src_col)
    fr, fc = src_row - r0f, src_col - c0f
    r0, c0 = ops.cast(r0f, "int32"), ops.cast(c0f, "int32")
    flat = ops.reshape(images, (-1, c))
    base = ops.reshape(ops.arange(b, dtype="int32") * (h * w), (-1, 1))

    def tap(dr, dc):
        r = _edge(r0 + dr, h, fill_mode)
        col = _edge(c0 + dc, w, fill_mode)
        return ops.reshape(ops.take(flat, ops.reshape(base + r * w + col, (-1,)), axis=0),
                           (-1, h * w, c))

    fr, fc = fr[..., None], fc[..., None]
    out = ((1.0 - fr) * ((1.0 - fc) * tap(0, 0) + fc * tap(0, 1))
           + fr * ((1.0 - fc) * tap(1, 0) + fc * tap(1, 1)))
    return ops.reshape(out, (-1, h, w, c))


@dataclasses.dataclass(frozen=True)
class LabelPlan:
    """How each target column is made from the raw parameter columns under a transform.

    Attributes:
        names: the targets, in output order.
        raw: the raw parameter columns the host sends (:func:`needed_params` of ``names``).
        steps: per target ``(kind, i, j, component)``: ``kind`` of its :class:`ParamRule`,
            ``i`` and ``j`` the raw columns of it (and of its partner; -1 if none), and the
            component (0 or 1) of a pair.
    """

    names: tuple[str, ...]
    raw: tuple[str, ...]
    steps: tuple[tuple[str, int, int, int], ...]

    @classmethod
    def from_names(cls, names: Sequence[str]) -> "LabelPlan":
        names = tuple(names)
        check_label_aware(names)
        raw = tuple(needed_params(names))
        steps = []
        for name in names:
            rule = PARAM_RULES[name]
            if rule.pair is None:
                steps.append((rule.kind, raw.index(name), -1, 0))
            else:
                steps.append((rule.kind, raw.index(rule.pair[0]), raw.index(rule.pair[1]),
                              rule.component))
        return cls(names, raw, tuple(steps))

    def apply(self, raw, packed):
        """Targets (B, len(names)) float32 from raw columns (B, len(raw)) and packed (B, 7)."""
        raw = ops.cast(raw, "float32")
        packed = ops.cast(packed, "float32")
        a = [packed[:, k] for k in range(4)]
        angle, mirrored, zoom = packed[:, 4], packed[:, 5], packed[:, 6]
        c2, s2 = ops.cos(2.0 * angle), ops.sin(2.0 * angle)
        columns = []
        for kind, i, j, component in self.steps:
            u = raw[:, i]
            if kind == "invariant":
                columns.append(u)
            elif kind == "length":
                columns.append(u / zoom)
            elif kind == "position":
                columns.append(a[2 * component] * u + a[2 * component + 1] * raw[:, j])
            else:  # spin2: exp(2 i angle) * (conj(z) if mirrored else z)
                v = ops.where(mirrored > 0.5, -raw[:, j], raw[:, j])
                columns.append(u * c2 - v * s2 if component == 0 else u * s2 + v * c2)
        return ops.stack(columns, axis=1)

    def get_config(self) -> dict:
        return {"names": list(self.names)}


def packed_inputs(images, packed) -> dict:
    """The training inputs of a :class:`~lensfind.train.augmented.DeviceAugmented` model."""
    return {"images": images, "transform": packed}


def is_packed(inputs) -> bool:
    """Whether ``inputs`` are :func:`packed_inputs` (training) rather than plain images."""
    return isinstance(inputs, dict) and "transform" in inputs

