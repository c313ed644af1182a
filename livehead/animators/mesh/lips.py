"""Lip coordinates: map one mouth onto another column by column, between its lip contours.

A mouth is described in its own frame: ``s`` runs from the subject's right mouth corner (0) to
the left one (1), ``t`` is the distance across (pixels, positive towards the chin). Each lip
contour becomes a profile t(s). Two mouths with the same contours in (s, fraction-between-
contours) are then in correspondence, whatever their size, tilt or shape — which is what an
affine fit of the inner lips cannot give (it leaves a box's straight edges where the contours bend).

Used twice: to close a photo's open mouth once per avatar (``closing_map``: the lips are
stretched over the teeth) and to carry the driver's mouth interior into the avatar's opening
every frame (``interior_source``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehead.face import landmarks as lm

__all__ = ["MouthFrame", "closing_map", "interior_source"]

_UPPER_OUTER = lm.as_index(lm.LIPS_UPPER_OUTER)
_LOWER_OUTER = lm.as_index(lm.LIPS_LOWER_OUTER)
_UPPER_INNER = lm.as_index(lm.LIPS_UPPER_INNER)
_LOWER_INNER = lm.as_index(lm.LIPS_LOWER_INNER)
EDGE_PX = 1.0  # the closed lips end this far (px) inside the photo's inner lip edges
# Most a driver's opening is stretched across, relative to along: 1 shows the lips around a thin
# slit at their own scale, but lights the opening (lips where the driver's cavity is dark: the
# inner-mouth brightness of s7 × d9 went 1.16 → 1.25 of the driver's); 1.5 keeps it at 1.16 and
# still removes the streaks of lyl × tpsmm.
ROW_STRETCH = 1.5


@dataclass(frozen=True)
class MouthFrame:
    """A mouth's axes in pixels: ``origin`` the right outer corner, ``axis`` towards the left corner
    (unit), ``normal`` towards the chin (unit), ``width`` the corner distance."""

    origin: np.ndarray
    axis: np.ndarray
    normal: np.ndarray
    width: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> "MouthFrame":
        c0, c1 = (landmarks[i, :2].astype(np.float64) for i in lm.MOUTH_CORNERS)
        width = max(float(np.linalg.norm(c1 - c0)), 1e-6)
        axis = (c1 - c0) / width
        normal = np.array([-axis[1], axis[0]])
        # The chin side: from the upper lip's outer centre (0) to the lower lip's (17), which
        # stay apart even when the mouth is shut.
        if (landmarks[17, :2] - landmarks[0, :2]) @ normal < 0:
            normal = -normal
        return cls(c0, axis, normal, width)

    def to_st(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (any shape) → (s in mouth widths, t in pixels)."""
        rx, ry = x - self.origin[0], y - self.origin[1]
        return (rx * self.axis[0] + ry * self.axis[1]) / self.width, rx * self.normal[0] + ry * self.normal[1]

    def to_xy(self, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = s * self.width
        return (self.origin[0] + u * self.axis[0] + t * self.normal[0],
                self.origin[1] + u * self.axis[1] + t * self.normal[1])

    def profile(self, landmarks: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A contour as (s, t) samples sorted by s, for ``np.interp``."""
        p = landmarks[indices, :2].astype(np.float64)
        s, t = self.to_st(p[:, 0], p[:, 1])
        order = np.argsort(s)
        return s[order], t[order]


def _at(profile: tuple[np.ndarray, np.ndarray], s: np.ndarray) -> np.ndarray:
    return np.interp(s, profile[0], profile[1])


def closing_map(photo: np.ndarray, closed: np.ndarray, size: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray] | None:
    """Where each pixel of the *closed* lips comes from in the photo: its lips stretched over its teeth.

    Args:
        photo: (478, 2|3) landmarks of the avatar photo (mouth open).
        closed: (478, 2|3) the photo's neutral with the lips closed (``expression.close_mouth``):
            both inner lips on their meeting line.
        size: (w, h) of the image.

    Returns:
        (roi, map_x, map_y, inside): for the pixels of ``roi`` (x0, y0, x1, y1), float32 source
        positions in the photo and a bool mask of the lips region (between the outer lip contours
        of ``closed``) where they apply; outside it the caller's warp holds. Each column is the
        photo's upper lip stretched from its outer edge down to the meeting line, and its lower
        lip stretched up to it, so lip texture and edges stay and the teeth disappear. None when
        the mouth is too small to map.
    """
    w, h = size
    frame, src_frame = MouthFrame.of(closed), MouthFrame.of(photo)
    up_out, lo_out = frame.profile(closed, _UPPER_OUTER), frame.profile(closed, _LOWER_OUTER)
    meet = frame.profile(closed, _UPPER_INNER)
    src_up_out, src_lo_out = src_frame.profile(photo, _UPPER_OUTER), src_frame.profile(photo, _LOWER_OUTER)
    src_up_in, src_lo_in = src_frame.profile(photo, _UPPER_INNER), src_frame.profile(photo, _LOWER_INNER)
    pts = closed[np.concatenate([_UPPER_OUTER, _LOWER_OUTER]), :2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 2
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    s, t = frame.to_st(xs, ys)
    top, bottom = _at(up_out, s), _at(lo_out, s)
    middle = np.clip(_at(meet, s), top, bottom)
    on_mouth = (s > 0) & (s < 1)
    upper = on_mouth & (t >= top) & (t <= middle)
    lower = on_mouth & (t > middle) & (t <= bottom)
    src_t = np.zeros_like(t)
    # Stop a pixel short of each inner edge: the edge pixel is half teeth, and stretched along
    # the meeting line it would draw a bright or dark seam between the lips.
    up_o, up_i = _at(src_up_out, s), _at(src_up_in, s)
    lo_i, lo_o = _at(src_lo_in, s), _at(src_lo_out, s)
    up_i = np.maximum(up_i - EDGE_PX, 0.5 * (up_o + up_i))
    lo_i = np.minimum(lo_i + EDGE_PX, 0.5 * (lo_i + lo_o))
    f = (t - top) / np.maximum(middle - top, 1e-6)
    src_t[upper] = (up_o + f * (up_i - up_o))[upper]
    f = (t - middle) / np.maximum(bottom - middle, 1e-6)
    src_t[lower] = (lo_i + f * (lo_o - lo_i))[lower]
    map_x, map_y = src_frame.to_xy(s, src_t)
    return (x0, y0, x1, y1), map_x.astype(np.float32), map_y.astype(np.float32), upper | lower


def interior_source(target: np.ndarray, driver: np.ndarray, roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of the target's mouth opening is in the driver's frame.

    Args:
        target: (478, 2|3) the avatar's landmarks this frame (avatar pixels).
        driver: (478, 2|3) the driver's landmarks in its own frame (driver pixels).
        roi: (x0, y0, x1, y1) of the target opening, avatar pixels.

    Returns:
        (map_x, map_y, depth): float32 (h, w) maps into the driver frame for ``cv2.remap``, and
        the fraction across the opening (0 at the upper inner lip, 1 at the lower; outside the
        opening below 0 or above 1), for shading. Columns correspond by ``s`` (position between
        the mouth corners), rows by that fraction, so the driver's teeth land under the avatar's
        upper lip and its tongue above the lower lip whatever either mouth's shape (where the
        driver's opening is the narrower, scaled to the avatar, it sits in the middle of the avatar's).
    """
    x0, y0, x1, y1 = roi
    t_frame, d_frame = MouthFrame.of(target), MouthFrame.of(driver)
    t_up, t_lo = t_frame.profile(target, _UPPER_INNER), t_frame.profile(target, _LOWER_INNER)
    d_up, d_lo = d_frame.profile(driver, _UPPER_INNER), d_frame.profile(driver, _LOWER_INNER)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    s, t = t_frame.to_st(xs, ys)
    top, bottom = _at(t_up, s), _at(t_lo, s)
    depth = (t - top) / np.maximum(bottom - top, 0.5)
    # Beyond the inner corners the profiles are flat; keep s inside the driver's opening too.
    s_d = np.clip(s, max(d_up[0][0], d_lo[0][0]), min(d_up[0][-1], d_lo[0][-1]))
    d_top, d_bottom = _at(d_up, s_d), _at(d_lo, s_d)
    # Rows stretch at most ROW_STRETCH × as much as columns (the mouths' width ratio): where the
    # driver's lips meet or nearly meet at a column, the avatar's opening there shows the driver's
    # lips around its slit, not the slit's one row drawn out into a vertical streak.
    span = np.maximum(d_bottom - d_top, (bottom - top) * (d_frame.width / t_frame.width) / ROW_STRETCH)
    src_t = 0.5 * (d_top + d_bottom) + (np.clip(depth, -0.3, 1.3) - 0.5) * span
    map_x, map_y = d_frame.to_xy(s_d, src_t)
    return map_x.astype(np.float32), map_y.astype(np.float32), depth.astype(np.float32)
