"""Blinks for a 2D warp: close the avatar's eyelids over the eyes, each eye on its own.

A thin-plate spline cannot close an eye: the closed upper lid lands on the lower lid, two control
points share a position but want different sources, and the fit folds (seen as black rings).
So the TPS keeps each eye at its open shape (the iris where the driver looks) and this module
closes it afterwards, per eye, in the eye's own frame: along each column the lash line slides
down to the new lid edge and the skin above it follows, while the eye below stays where it is:
a lid, not a squeeze, so the iris is hidden rather than flattened. A squint (a smile) stretches
the photo's own lid skin down; a closing eye is covered by painted lid — the colour and light of
the skin just above it, with the photo's grain — since skin stretched that far turns into
streaks. Winks are one eye at ratio 0.
"""

from __future__ import annotations

import cv2
import numpy as np

from livehead.animators.mesh.warp import pixel_roi
from livehead.face import landmarks as lm

__all__ = ["EYES", "close_eyes", "eye_ratios", "open_lids"]

# (upper lid incl. corners, lower lid incl. corners, iris) per eye, subject's right first.
EYES = (
    (lm.as_index(lm.RIGHT_EYE_UPPER), lm.as_index(lm.RIGHT_EYE_LOWER), lm.as_index(lm.RIGHT_IRIS)),
    (lm.as_index(lm.LEFT_EYE_UPPER), lm.as_index(lm.LEFT_EYE_LOWER), lm.as_index(lm.LEFT_IRIS)),
)
SKIN_ABOVE = 0.9  # lid region above the open lid edge, in units of the open eye's height
LID_SHADE = 0.15  # a closed lid darkens this much from its crease to the lashes
# Share of the skin's fine detail (mirrored from above the lid) laid on a painted lid: more, and
# lashes and brow hairs in it show as vertical streaks.
LID_GRAIN = 0.35
LASH_SHARE = 0.5  # the lash line's thickness above the lid edge, in units of the open eye's height
BROW_CLEARANCE = 0.6  # ... but at most this share of the way up to the brow: brow hair must not slide into the lid
_BROWS_LOWER = (lm.as_index((46, 53, 52, 65, 55)), lm.as_index((276, 283, 282, 295, 285)))  # same order as EYES
SHUT_BELOW = 0.1  # eye ratios under this draw a fully shut lid
MIN_CHANGE = 0.03  # ratios within this of 1 leave the eye alone
# Share of the eye closed from which a painted lid covers the lid's own stretched skin (in part;
# fully from PAINT_TO): a squint (a smile) stays the photo's own skin, a blink is painted.
PAINT_FROM, PAINT_TO = 0.35, 0.65


def _gap(points: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float:
    """Signed mean lid gap in pixels, perpendicular to the axis from ``upper[0]`` to ``upper[-1]``."""
    c0, c1 = points[upper[0], :2], points[upper[-1], :2]
    axis = (c1 - c0) / max(np.linalg.norm(c1 - c0), 1e-9)
    normal = np.array([-axis[1], axis[0]])
    return float(np.mean((points[lower[1:-1], :2] - points[upper[1:-1], :2]) @ normal))


def eye_ratios(target: np.ndarray, neutral: np.ndarray) -> tuple[float, ...]:
    """Per eye: target lid gap / neutral lid gap, after removing scale (0 = closed)."""
    out = []
    for upper, lower, _ in EYES:
        scale = np.linalg.norm(target[upper[-1], :2] - target[upper[0], :2]) / max(
            np.linalg.norm(neutral[upper[-1], :2] - neutral[upper[0], :2]), 1e-9)
        # Both gaps use the same corner order, so their signs agree for an open eye.
        neutral_gap = scale * _gap(neutral, upper, lower)
        if abs(neutral_gap) < 1e-6:
            out.append(1.0)
            continue
        out.append(float(np.clip(_gap(target, upper, lower) / neutral_gap, 0.0, 1.5)))
    return tuple(out)


def _similarity(src0, src1, dst0, dst1) -> np.ndarray:
    """2×2 rotation·scale taking the vector src0→src1 onto dst0→dst1."""
    a, b = src1 - src0, dst1 - dst0
    na = max(float(a @ a), 1e-12)
    c, s = (a @ b) / na, (a[0] * b[1] - a[1] * b[0]) / na
    return np.array([[c, -s], [s, c]])


def open_lids(target: np.ndarray, neutral: np.ndarray, ratios: tuple[float, ...]) -> np.ndarray:
    """Target landmarks with each closing eye re-opened for the TPS.

    The open upper lid is the avatar's own open lid shape (from ``neutral``), carried onto the
    target's lower lid by the eye's rotation and scale. Dividing the closed gap by the ratio
    instead would blow tracker noise up twentyfold as the eye shuts.
    """
    out = target.copy()
    for (upper, lower, iris), r in zip(EYES, ratios):
        if r >= 1.0 - MIN_CHANGE:
            continue
        m = _similarity(neutral[upper[0], :2], neutral[upper[-1], :2], target[upper[0], :2], target[upper[-1], :2])
        inner = upper[1:-1]
        out[inner, :2] = target[lower[1:-1], :2] + (neutral[inner, :2] - neutral[lower[1:-1], :2]) @ m.T
        lid_t, lid_n = target[lower[1:-1], :2].mean(0), neutral[lower[1:-1], :2].mean(0)
        shaped = lid_t + (neutral[iris, :2] - lid_n) @ m.T
        # Partly open: keep the driver's gaze by undoing the squeeze; nearly shut: the avatar's own.
        unsqueezed = lid_t + (target[iris, :2] - lid_t) / max(r, 0.2)
        weight = float(np.clip((r - 0.2) / 0.3, 0.0, 1.0))
        out[iris, :2] = weight * unsqueezed + (1.0 - weight) * shaped
    return out


def _lid_colours(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, length: float,
                 edge: tuple[np.ndarray, np.ndarray], extent: float, s: np.ndarray) -> np.ndarray:
    """(*s.shape, 3) colour of the skin in a band ``extent`` px tall just above the line ``edge`` (s, t), at each ``s``.

    A bright-ish percentile per column (lashes, a crease line or its shadow, eyeliner and brow
    hairs are the dark outliers there), taken at a few columns across the eye and interpolated
    along it, so the lid takes the light and shade of the skin it continues: lighter in the
    middle, darker towards the nose.
    """
    h, w = image.shape[:2]
    cols = np.linspace(0.05, 0.95, 9) * length
    bottom = np.interp(cols, *edge) - 1.0
    s_grid = np.broadcast_to(cols, (8, cols.size))
    t_grid = bottom[None, :] - np.linspace(0.0, extent, 8)[:, None]
    xs = np.clip(np.round(c0[0] + s_grid * ax[0] + t_grid * nm[0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(c0[1] + s_grid * ax[1] + t_grid * nm[1]).astype(int), 0, h - 1)
    colours = np.percentile(image[ys, xs].astype(np.float32), 75, axis=0)  # (9, 3)
    colours = np.vstack([colours[:1], colours, colours[-1:]])
    colours = 0.25 * colours[:-2] + 0.5 * colours[1:-1] + 0.25 * colours[2:]
    return np.stack([np.interp(s, cols, colours[:, c]) for c in range(3)], axis=-1)


def close_eyes(image: np.ndarray, opened: np.ndarray, ratios: tuple[float, ...]) -> None:
    """In place: lower each upper lid of ``image`` (warped with ``opened`` landmarks) to ``ratios`` (0 shut, 1 open)."""
    h, w = image.shape[:2]
    for (upper, lower, _), brow, r in zip(EYES, _BROWS_LOWER, ratios):
        if r >= 1.0 - MIN_CHANGE:
            continue
        c0, c1 = opened[upper[0], :2].astype(np.float64), opened[upper[-1], :2].astype(np.float64)
        length = np.linalg.norm(c1 - c0)
        if length < 4:
            continue
        ax = (c1 - c0) / length
        nm = np.array([-ax[1], ax[0]])  # towards the lower lid (image +y for a level eye)
        if (opened[lower[1:-1], :2].mean(0) - opened[upper[1:-1], :2].mean(0)) @ nm < 0:
            nm = -nm

        def frame_of(idx):
            rel = opened[idx, :2].astype(np.float64) - c0
            s, t = rel @ ax, rel @ nm
            order = np.argsort(s)
            return s[order], t[order]

        us, ut = frame_of(upper)
        ls, lt = frame_of(lower)
        height = max(float(np.max(np.interp(us, ls, lt) - ut)), 1.0)
        brow_t = float(((opened[brow, :2].astype(np.float64) - c0) @ nm).max())  # the brow's lowest point
        top_margin = max(min(SKIN_ABOVE * height, BROW_CLEARANCE * (float(ut.min()) - brow_t)), 1.0)
        # Output ROI: the eye's rotated box, from the skin above the lid to the lower lid.
        corners = [c0 + ax * s + nm * t for s in (0.0, length) for t in (ut.min() - top_margin, lt.max() + 1.0)]
        roi = pixel_roi(np.array(corners), (w, h), margin=1)
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        rx, ry = xs - c0[0], ys - c0[1]
        s = rx * ax[0] + ry * ax[1]
        t = rx * nm[0] + ry * nm[1]
        u = np.interp(s, us, ut)  # open upper lid
        lo = np.interp(s, ls, lt)  # lower lid
        # A tracker rarely reads a shut eye as exactly 0: the last few per cent snap shut, or a
        # sliver of white shows under the lid.
        r_lid = min(max((r - SHUT_BELOW) / (1.0 - SHUT_BELOW), 0.0), 1.0)
        u_new = lo - r_lid * (lo - u)  # closed upper lid
        src_t = t.copy()
        # The lash line keeps its thickness and slides down with the lid edge.
        lash = min(LASH_SHARE * height, 0.7 * top_margin)
        shift = u_new - u
        band = (t > u_new - lash) & (t <= u_new)
        src_t[band] = (t - shift)[band]
        # The skin between the lid's top and the lashes stretches down over what the lid uncovers:
        # the photo's own lid, continuous with the skin above it. Stretched far, its texture
        # turns into streaks, so a closing eye gets a painted lid (from PAINT_FROM).
        t_b = u - top_margin
        skin_h = np.maximum(u - lash - t_b, 1e-6)
        skin = (t > t_b) & (t <= u_new - lash)
        src_t[skin] = (t_b + (t - t_b) * skin_h / np.maximum(u_new - lash - t_b, 1e-6))[skin]
        painted = float(np.clip((1.0 - r_lid - PAINT_FROM) / (PAINT_TO - PAINT_FROM), 0.0, 1.0))
        inside = (s > 0) & (s < length)
        src_t = np.where(inside, src_t, t)
        map_x = (c0[0] + s * ax[0] + src_t * nm[0]).astype(np.float32)
        map_y = (c0[1] + s * ax[1] + src_t * nm[1]).astype(np.float32)
        closed = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if painted == 0.0:
            image[y0:y1, x0:x1] = closed
            continue
        feather = max(1.0, 0.5 * lash)
        start = u - lash - feather
        # The painted lid continues the skin just above it (the photo's own lid, above the
        # lashes), column by column: one flat colour for the whole lid reads as a sticker.
        extent = max(0.7 * (float(ut.min()) - lash - feather - brow_t), 0.5 * height, 2.0)
        lid = _lid_colours(image, c0, ax, nm, length, (us, ut - lash - feather), extent, s)
        depth = np.clip((t - start) / np.maximum(u_new - lash - start, 1e-6), 0.0, 1.0)
        # Colour: ``lid``, shaded towards the lashes. Grain: the fine detail (not the colour) of
        # the skin just above the lid, mirrored down over the eye, so the lid is not a flat sticker
        # (a shadowed or made-up crease keeps its darkness out of the lid).
        room = np.maximum(start - brow_t - 1.0, 1.0)
        squeeze = np.minimum(1.0, room / np.maximum(u_new - lash - start, 1e-6))
        mirror_t = np.where(t > start, start - (t - start) * squeeze, t)
        mirror = cv2.remap(image, (c0[0] + s * ax[0] + mirror_t * nm[0]).astype(np.float32),
                           (c0[1] + s * ax[1] + mirror_t * nm[1]).astype(np.float32), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        grain = mirror - cv2.GaussianBlur(mirror, (0, 0), 1.5)
        fill = lid * (1.0 - LID_SHADE * depth[..., None]) + LID_GRAIN * grain
        ramp = np.clip((t - start) / feather, 0.0, 1.0)
        cover = (t <= u_new - lash) & inside & (u_new - u > 0.25)
        weight = np.where(cover, painted * ramp * ramp * (3.0 - 2.0 * ramp), 0.0).astype(np.float32)[..., None]
        image[y0:y1, x0:x1] = np.clip(closed * (1.0 - weight) + fill * weight + 0.5, 0, 255).astype(np.uint8)
