"""Thin-plate-spline image warping, fitted backwards (output pixel → source pixel).

Pure functions. Fitting backwards each frame matters: where the avatar's closed lips lie on top
of each other a forward map cannot open them, while a backward map simply samples the lip line
for every output pixel of the opening (which the mouth filler then paints over).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = ["WarpField", "border_anchors", "fit_tps", "pixel_roi", "remap", "remap_region", "tps_eval", "tps_eval_grid", "tps_field"]

# Low regularisation keeps lip and eyelid motion (1e-3 flattened them on the prototype).
TPS_REGULARISATION = 1e-5


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, N) squared distances between (M, 2) and (N, 2) points, via one matrix product."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0, out=d2)


def _kernel(d2: np.ndarray) -> np.ndarray:
    """TPS radial basis U(r) = r² log r², written on squared distances."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d2 * np.log(d2)
    out[d2 <= 0] = 0.0
    return out


@dataclass(frozen=True)
class Tps:
    """A fitted 2D thin-plate spline in normalised coordinates (pixels / ``norm``)."""

    centres: np.ndarray  # (N, 2) normalised
    weights: np.ndarray  # (N, 2)
    affine: np.ndarray  # (3, 2)
    norm: float


def fit_tps(dst: np.ndarray, src: np.ndarray, *, norm: float,
            regularisation: float | np.ndarray = TPS_REGULARISATION) -> Tps:
    """Fit f with f(dst_i) ≈ src_i; dst, src: (N, 2) pixels. ``norm`` ~ image size (conditioning).

    ``regularisation`` may be per point (N,): a large value (≫ 0.1) lets that point's
    constraint go, which fades a control point out continuously instead of dropping it.
    """
    p = np.asarray(dst, dtype=np.float64) / norm
    v = np.asarray(src, dtype=np.float64) / norm
    n = len(p)
    d2 = _sq_distances(p, p)
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = _kernel(d2)
    a[np.arange(n), np.arange(n)] += regularisation
    a[:n, n] = 1.0
    a[:n, n + 1 :] = p
    a[n, :n] = 1.0
    a[n + 1 :, :n] = p.T
    b = np.zeros((n + 3, 2))
    b[:n] = v
    sol = np.linalg.solve(a, b)
    return Tps(p, sol[:n], sol[n:], norm)


def tps_eval(tps: Tps, points: np.ndarray) -> np.ndarray:
    """Evaluate at (M, 2) pixel points → (M, 2) pixels."""
    q = np.asarray(points, dtype=np.float64) / tps.norm
    d2 = _sq_distances(q, tps.centres)
    out = _kernel(d2) @ tps.weights + tps.affine[0] + q @ tps.affine[1:]
    return out * tps.norm


def tps_eval_grid(tps: Tps, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Evaluate on the grid ``xs × ys`` (pixels) → (len(ys), len(xs), 2) float32 pixels.

    A grid's squared distances separate, d² = (x − cx)² + (y − cy)², so they cost one add per
    sample; float32 halves the memory traffic (the warp needs far less than float32 precision).
    """
    c = tps.centres.astype(np.float32)
    x = (np.asarray(xs, dtype=np.float32) / tps.norm)[:, None]
    y = (np.asarray(ys, dtype=np.float32) / tps.norm)[:, None]
    dx2 = (x - c[None, :, 0]) ** 2  # (nx, N)
    dy2 = (y - c[None, :, 1]) ** 2  # (ny, N)
    d2 = dy2[:, None, :] + dx2[None, :, :]  # (ny, nx, N)
    np.maximum(d2, np.float32(1e-20), out=d2)
    u = d2 * np.log(d2)
    ny, nx, n = u.shape
    out = (u.reshape(-1, n) @ tps.weights.astype(np.float32)).reshape(ny, nx, 2)
    aff = tps.affine.astype(np.float32)
    out += aff[0] + x[None, :, 0, None] * aff[1] + y[:, None, 0, None] * aff[2]
    return out * np.float32(tps.norm)


def border_anchors(width: int, height: int, per_side: int = 6) -> np.ndarray:
    """(4·per_side, 2) points spaced along the image border, to pin the background."""
    t = np.linspace(0.0, 1.0, per_side, endpoint=False)
    w, h = width - 1.0, height - 1.0
    top = np.stack([t * w, np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, w), t * h], 1)
    bottom = np.stack([w - t * w, np.full_like(t, h)], 1)
    left = np.stack([np.zeros_like(t), h - t * h], 1)
    return np.concatenate([top, right, bottom, left])


@dataclass(frozen=True)
class WarpField:
    """Dense backward map for ``cv2.remap`` restricted to the region that actually moves."""

    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in output pixels (x1, y1 exclusive)
    map1: np.ndarray  # fixed-point maps from cv2.convertMaps, roi-sized
    map2: np.ndarray


def tps_field(tps: Tps, size: tuple[int, int], step: int, *, min_shift: float = 0.25,
              fine: tuple[tuple[int, int, int, int, int], ...] = (),
              bounds: tuple[int, int, int, int] | None = None) -> WarpField | None:
    """Sample ``tps`` every ``step`` px, upsample bilinearly inside the moving region only.

    Convention: samples sit at the centres of ``step``-pixel blocks, ``(k + 0.5)·step − 0.5``,
    which is where ``cv2.resize(INTER_LINEAR)`` puts source pixels when it scales by ``step``, so
    the upsampled map is exact at the samples. The outermost ``step`` pixels fade to zero motion
    so the image border stays pinned exactly. Returns None when nothing moves by more than
    ``min_shift`` pixels.

    ``fine`` boxes (x0, y0, x1, y1, fine_step) are sampled every ``fine_step`` px instead: lips,
    lids and irises move by more than a coarse grid can follow (a 16 px cell is as tall as a
    lip). Each fine patch fades into the coarse field over its outer ``step`` pixels, so no edge
    shows.

    ``bounds`` (x0, y0, x1, y1) limits where the field is computed at all: the caller knows that
    outside it the warp cannot be seen (the mesh engine lays a still background there), and
    the field stops at its edge.
    """
    w, h = size
    nx, ny = -(-w // step), -(-h // step)
    cx0, cy0, cx1, cy1 = 0, 0, nx, ny
    if bounds is not None:
        cx0, cy0 = max(bounds[0] // step, 0), max(bounds[1] // step, 0)
        cx1, cy1 = min(-(-bounds[2] // step), nx), min(-(-bounds[3] // step), ny)
        if cx1 <= cx0 or cy1 <= cy0:
            return None
    xs = (np.arange(cx0, cx1, dtype=np.float32) + 0.5) * step - 0.5
    ys = (np.arange(cy0, cy1, dtype=np.float32) + 0.5) * step - 0.5
    disp = tps_eval_grid(tps, xs, ys)
    disp[..., 0] -= xs[None, :]
    disp[..., 1] -= ys[:, None]
    moving = np.abs(disp).max(-1) > min_shift
    if not moving.any():
        return None
    rows, cols = np.nonzero(moving)
    # One block of margin so the bilinear ramp to zero motion stays inside the ROI.
    bx0, bx1 = max(cols.min() - 1, 0), min(cols.max() + 2, cx1 - cx0)
    by0, by1 = max(rows.min() - 1, 0), min(rows.max() + 2, cy1 - cy0)
    block = cv2.resize(disp[by0:by1, bx0:bx1], ((bx1 - bx0) * step, (by1 - by0) * step), interpolation=cv2.INTER_LINEAR)
    bx0, bx1, by0, by1 = bx0 + cx0, bx1 + cx0, by0 + cy0, by1 + cy0
    x0, y0 = bx0 * step, by0 * step
    x1, y1 = min(bx1 * step, w), min(by1 * step, h)
    block = block[: y1 - y0, : x1 - x0]
    px = np.arange(x0, x1, dtype=np.float32)[None, :]
    py = np.arange(y0, y1, dtype=np.float32)[:, None]
    # Fade to zero motion within ``step`` px of the image edge (only those strips are touched).
    ramp_x = np.clip(np.minimum(px, w - 1 - px) / step, 0.0, 1.0)[0]
    ramp_y = np.clip(np.minimum(py, h - 1 - py) / step, 0.0, 1.0)[:, 0]
    for ramp, axis in ((ramp_y, 0), (ramp_x, 1)):
        idx = np.nonzero(ramp < 1.0)[0]
        if idx.size:
            shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
            view = block[idx] if axis == 0 else block[:, idx]
            view *= ramp[idx].reshape(shape)
            if axis == 0:
                block[idx] = view
            else:
                block[:, idx] = view
    for *box, fine_step in fine:
        _refine(block, tps, tuple(box), (int(x0), int(y0), int(x1), int(y1)), fine_step, fade=step)
    block += _identity(w, h)[y0:y1, x0:x1]  # displacement → source position, in place
    map1, map2 = cv2.convertMaps(block, None, cv2.CV_16SC2)
    return WarpField((int(x0), int(y0), int(x1), int(y1)), map1, map2)


@lru_cache(maxsize=4)
def _identity(width: int, height: int) -> np.ndarray:
    """(height, width, 2) float32 pixel coordinates (x, y): the identity map, made once per size."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.stack([xs, ys], -1)
    grid.setflags(write=False)
    return grid


def _refine(block: np.ndarray, tps: Tps, box: tuple[int, int, int, int], roi: tuple[int, int, int, int],
            step: int, *, fade: int) -> None:
    """In place: replace the displacement ``block`` (covering ``roi``) by a finer sampling inside ``box``."""
    bx0, by0 = max(box[0], roi[0]), max(box[1], roi[1])
    bx1, by1 = min(box[2], roi[2]), min(box[3], roi[3])
    if bx1 - bx0 < 2 * step or by1 - by0 < 2 * step:
        return
    nx, ny = -(-(bx1 - bx0) // step), -(-(by1 - by0) // step)
    xs = bx0 + (np.arange(nx, dtype=np.float32) + 0.5) * step - 0.5
    ys = by0 + (np.arange(ny, dtype=np.float32) + 0.5) * step - 0.5
    disp = tps_eval_grid(tps, xs, ys)
    disp[..., 0] -= xs[None, :]
    disp[..., 1] -= ys[:, None]
    patch = cv2.resize(disp, (nx * step, ny * step), interpolation=cv2.INTER_LINEAR)[: by1 - by0, : bx1 - bx0]
    # Weight 1 inside, falling linearly to 0 over ``fade`` px at the patch's edge.
    wy = np.clip(np.minimum(np.arange(by1 - by0) + 1, by1 - by0 - np.arange(by1 - by0)) / fade, 0, 1)
    wx = np.clip(np.minimum(np.arange(bx1 - bx0) + 1, bx1 - bx0 - np.arange(bx1 - bx0)) / fade, 0, 1)
    weight = (wy[:, None] * wx[None, :]).astype(np.float32)[..., None]
    view = block[by0 - roi[1] : by1 - roi[1], bx0 - roi[0] : bx1 - roi[0]]
    view += weight * (patch - view)


def pixel_roi(points: np.ndarray, size: tuple[int, int], *, margin: int = 2) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1 exclusive, y1 exclusive) around (N, 2) points plus ``margin``,
    clipped to the image ``size`` (w, h); None when less than 3 px remain on a side."""
    x0, y0 = np.floor(np.asarray(points).min(0)).astype(int) - margin
    x1, y1 = np.ceil(np.asarray(points).max(0)).astype(int) + margin + 1
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), size[0]), min(int(y1), size[1])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    return x0, y0, x1, y1


def remap_region(image: np.ndarray, field: WarpField, roi: tuple[int, int, int, int]) -> np.ndarray:
    """The warped pixels of ``roi`` (x0, y0, x1, y1) only; ``roi`` must lie inside ``field.roi``."""
    fx0, fy0, _, _ = field.roi
    x0, y0, x1, y1 = roi
    m1 = field.map1[y0 - fy0 : y1 - fy0, x0 - fx0 : x1 - fx0]
    m2 = field.map2[y0 - fy0 : y1 - fy0, x0 - fx0 : x1 - fx0]
    return cv2.remap(image, m1, m2, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def remap(image: np.ndarray, field: WarpField | None, *, out: np.ndarray | None = None) -> np.ndarray:
    """Apply a ``WarpField`` to ``image`` (any channels); outside the ROI pixels are copied."""
    result = image.copy() if out is None else out
    if field is None:
        return result
    x0, y0, x1, y1 = field.roi
    result[y0:y1, x0:x1] = cv2.remap(
        image, field.map1, field.map2, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).reshape(result[y0:y1, x0:x1].shape)
    return result
