"""A photo's eyeballs with the irises taken out, measured once per avatar (``measure``): the white a
moving iris uncovers (``eyes.move_irises``), and where the photo's iris really is.

The tracker's iris circle is close to the photo's iris, not on it: on a drawn face it sat 2 px
off centre and a quarter smaller than the drawn iris, and a moved iris left a crescent of itself
behind; a white taken from beside the tracker's circle was taken from the iris's own edge. So
each iris is fitted to the photo (its edges against the white, along the rows through its
middle), and the white under it is filled in once, row by row, from the white on either side of
the fitted circle.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from livehead.animators.mesh import eye_frame as ef
from livehead.animators.mesh.warp import WarpField, pixel_roi, remap_region

__all__ = ["Eyeballs", "bare_region", "circle", "fit_iris", "measure"]

SCALE_RANGE = (0.8, 1.6)  # the photo's iris radius is trusted within these shares of the tracker's
SHIFT_MAX = 0.35  # ... and its centre within this many tracker radii of the tracker's, along the eye
RIM = 0.1  # iris radii (at least 1.5 px) beyond the fitted edge that the iris's soft rim reaches (taken out with it)
MIN_CONTRAST = 40.0  # RGB distance between white and iris below which the photo's iris is not fitted
EDGE_RISE = 0.3  # an iris's edge: its colour's distance from the white falls by this share of the iris's within 1.5 px
EDGE_SEARCH = (0.7, 1.7)  # tracker radii from the centre within which an iris edge is sought
SIDE_SAMPLES = (0.0, 0.1, 0.2)  # iris radii beyond its rim, outward, at which the white beside it is sampled
FILL_BLUR = 0.2  # the white filled in is smoothed across the rows over this many iris radii (Gaussian sigma)


class Eyeballs(NamedTuple):
    """``bare``: (H, W, 4) uint8, the photo with each iris replaced by the white beside it, its
    alpha the iris taken out (255 inside); ``irises``: per eye (subject's right first) the photo's
    iris against the tracker's: (shift of its centre along the eye, its radius), in tracker radii
    (not across the eye: the lids hide the iris's top and bottom)."""

    bare: np.ndarray
    irises: tuple[tuple[float, float], ...]


def measure(image: np.ndarray, landmarks: np.ndarray) -> Eyeballs:
    """The photo ``image`` (RGB uint8) with its tracked ``landmarks``, its irises taken out."""
    bare = np.dstack([image, np.zeros(image.shape[:2], np.uint8)])
    fits = []
    for upper, lower, iris in ef.EYES:
        c0, ax, nm, length = ef.frame(landmarks, upper, lower)
        up, low = ef.curve(landmarks, upper, c0, ax, nm), ef.curve(landmarks, lower, c0, ax, nm)
        points = landmarks[iris, :2].astype(np.float64)
        fit = fit_iris(image, c0, ax, nm, length, up, low, points[0], ef.iris_radius(points)) if length >= 4 else (0.0, 1.0)
        fits.append(fit)
        _take_out(bare, image, c0, ax, nm, length, up, low, *circle(points, ax, fit))
    return Eyeballs(bare, tuple(fits))


def circle(iris: np.ndarray, ax: np.ndarray, fit: tuple[float, float]) -> tuple[np.ndarray, float]:
    """The photo's iris (centre, radius px) where the tracker puts ``iris`` ((5, 2): centre and four
    rim points) in an eye along ``ax``, given ``fit`` (an ``Eyeballs.irises`` entry)."""
    radius = ef.iris_radius(iris)
    return iris[0] + fit[0] * radius * ax, fit[1] * radius


def fit_iris(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, length: float,
             upper: tuple[np.ndarray, np.ndarray], lower: tuple[np.ndarray, np.ndarray], centre: np.ndarray,
             radius: float) -> tuple[float, float]:
    """The photo's iris against the tracker's (``centre``, ``radius``): (shift along the eye,
    radius) in tracker radii, from its left and right edges on the rows through its middle (where
    the colour turns to the white of that row). The tracker's own circle (0, 1) where the iris
    does not stand out from the white."""
    s_c, t_c = float((centre - c0) @ ax), float((centre - c0) @ nm)
    s = np.arange(0.03 * length, 0.97 * length, 0.5)
    mids, radii = [], []
    for dt in np.linspace(-0.4, 0.4, 5) * radius:
        t = t_c + dt
        inside = (t > np.interp(s, *upper) + 1.0) & (t < np.interp(s, *lower) - 1.0)
        near = np.abs(s - s_c)
        if not inside[np.argmin(near)]:  # the row misses the opening at the iris
            continue
        rgb = ef.sample(image, c0, ax, nm, s[None], np.full((1, s.size), t))[0]
        luma = rgb @ ef.LUMA
        ring = (near >= 0.5 * radius) & (near <= 0.8 * radius) & inside
        if not ring.any():
            continue
        # White: the colour of the row's brightest pixels; each pixel's distance from it, in
        # shares of the iris ring's.
        white = rgb[inside & (luma >= np.percentile(luma[inside], 95))].mean(0)
        contrast = float(np.linalg.norm(np.median(rgb[ring], axis=0) - white))
        if contrast < MIN_CONTRAST:
            continue
        away = np.linalg.norm(rgb - white, axis=1) / contrast
        edges = [_edge(s, away, inside, s_c, sign, radius) for sign in (-1.0, 1.0)]
        if None not in edges:
            mids.append(0.5 * (edges[0] + edges[1]))
            radii.append(np.hypot(0.5 * (edges[1] - edges[0]), dt))
    if not radii:
        return 0.0, 1.0
    shift = float(np.clip((np.median(mids) - s_c) / radius, -SHIFT_MAX, SHIFT_MAX))
    return shift, float(np.clip(np.median(radii) / radius, *SCALE_RANGE))


def _edge(s: np.ndarray, away: np.ndarray, inside: np.ndarray, s_c: float, sign: float, radius: float) -> float | None:
    """Where, going outward from ``s_c`` (towards ``sign``) within ``EDGE_SEARCH`` radii and the
    eye's opening, the colour turns most sharply from the iris's to the white's (``away``: the
    distance from the white in shares of the iris's; over 1.5 px, by at least ``EDGE_RISE``).
    A light iris can be as near the white as a shaded white is: the edge is the step between
    them, often a dark rim, not a level. None where there is no such step."""
    order = np.argsort(sign * (s - s_c))
    reach = sign * (s[order] - s_c)
    order = order[(reach >= EDGE_SEARCH[0] * radius) & (reach <= EDGE_SEARCH[1] * radius)]
    if order.size < 4:
        return None
    a, b = order[:-3], order[3:]
    rise = np.where(inside[a] & inside[b], away[a] - away[b], 0.0)
    k = int(np.argmax(rise))
    if rise[k] < EDGE_RISE:
        return None
    return float(0.5 * (s[a[k]] + s[b[k]]))


def _take_out(bare: np.ndarray, image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, length: float,
              upper: tuple[np.ndarray, np.ndarray], lower: tuple[np.ndarray, np.ndarray], centre: np.ndarray,
              radius: float) -> None:
    """In place: the iris (``centre``, ``radius`` with its ``RIM``) of ``bare`` replaced by the white
    on either side of it, row by row, kept inside the eye's lids; its alpha the iris's share."""
    h, w = image.shape[:2]
    reach = radius + max(1.5, RIM * radius)
    roi = pixel_roi(np.array([centre - reach - 1.0, centre + reach + 1.0]), (w, h))
    if roi is None:
        return
    x0, y0, x1, y1 = roi
    s, t = ef.grid(roi, c0, ax, nm)
    s_c, t_c = float((centre - c0) @ ax), float((centre - c0) @ nm)
    half = np.sqrt(np.maximum(reach * reach - (t - t_c) ** 2, 0.0)) + 1.0
    limits = (0.03 * length, 0.97 * length)
    sides = [np.clip(s_c - half, *limits), np.clip(s_c + half, *limits)]
    photo = image.astype(np.float32)

    def take(x: np.ndarray) -> np.ndarray:
        return ef.sample(photo, c0, ax, nm, x, np.clip(t, np.interp(x, *upper) + 1.0, np.interp(x, *lower) - 1.0))

    # Row by row, from the white just outside the iris on the left to that on the right (each the
    # brightest of a few samples going outward), then smoothed across the rows: neighbouring rows
    # that chose differently showed as streaks.
    white = ef.white_beside(s, sides, radius, SIDE_SAMPLES, limits, take)
    white = cv2.GaussianBlur(white, (0, 0), sigmaX=0.5, sigmaY=max(1.0, FILL_BLUR * radius))
    share = np.clip(reach - np.hypot(s - s_c, t - t_c) + 0.5, 0.0, 1.0)
    region = bare[y0:y1, x0:x1]
    region[..., :3] = np.clip(region[..., :3] * (1.0 - share[..., None]) + white * share[..., None] + 0.5, 0,
                              255).astype(np.uint8)
    region[..., 3] = np.maximum(region[..., 3], np.round(share * 255.0)).astype(np.uint8)


def bare_region(bare: np.ndarray, field: WarpField | None, roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``Eyeballs.bare`` warped like the frame (``field``; None: nothing moved) over ``roi``: its
    colour ((h, w, 3) float32) and the photo's iris there ((h, w) float32, 0–1)."""
    x0, y0, x1, y1 = roi
    out = bare[y0:y1, x0:x1].copy()
    if field is not None:
        fx0, fy0, fx1, fy1 = field.roi
        ix0, iy0, ix1, iy1 = max(x0, fx0), max(y0, fy0), min(x1, fx1), min(y1, fy1)
        if ix1 > ix0 and iy1 > iy0:
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = remap_region(bare, field, (ix0, iy0, ix1, iy1))
    out = out.astype(np.float32)
    return out[..., :3], out[..., 3] / 255.0
