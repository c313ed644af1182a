"""Expression geometry on landmarks in a face's own frame ("local", canonical units; see ``motion.to_local``).

Pure functions on (478, 3) float arrays: measure mouth and eye opening and gaze, and edit them
(open or close the mouth, set each eyelid, close a photo's open mouth for its neutral).

Convention: local axes are image-like (x towards the subject's left = image right for a frontal
face, y down, z away from the camera); one canonical unit is about the distance between the eyes.
"Right"/"left" are the subject's, and every per-eye tuple is (right, left).
"""

from __future__ import annotations

import numpy as np

from livehead.face import landmarks as lm
from livehead.face.geometry import smoothstep

__all__ = [
    "CLOSED_GAP",
    "close_mouth",
    "eye_openness",
    "gaze",
    "mouth_openness",
    "set_eye_openness",
    "set_gaze",
    "set_mouth_gap",
    "uncross_lips",
]

UPPER_INNER = lm.as_index(lm.LIPS_UPPER_INNER[1:-1])  # corners excluded: they belong to both lips
LOWER_INNER = lm.as_index(lm.LIPS_LOWER_INNER[1:-1])
UPPER_OUTER = lm.as_index(lm.LIPS_UPPER_OUTER[1:-1])
LOWER_OUTER = lm.as_index(lm.LIPS_LOWER_OUTER[1:-1])
EYES = (
    (lm.as_index(lm.RIGHT_EYE_UPPER[1:-1]), lm.as_index(lm.RIGHT_EYE_LOWER[1:-1]), lm.RIGHT_EYE_CORNERS),
    (lm.as_index(lm.LEFT_EYE_UPPER[1:-1]), lm.as_index(lm.LEFT_EYE_LOWER[1:-1]), lm.LEFT_EYE_CORNERS),
)
IRISES = (lm.as_index(lm.RIGHT_IRIS), lm.as_index(lm.LEFT_IRIS))  # same order as EYES

# Below this inner-lip gap (canonical units) a mouth counts as closed: MediaPipe puts closed lips
# 0.000–0.005 apart on the photos we measured; lips parted over teeth start near 0.03.
CLOSED_GAP = 0.015
# Share of a photo's open mouth closed by raising the jaw; the rest is closed by the lips, which
# stretch over the teeth. All-jaw would shorten an "O" face; all-lips would make them balloon.
JAW_SHARE = 0.5


def mouth_openness(local: np.ndarray) -> float:
    """Mean vertical gap between the inner lips, in canonical units (0 = closed)."""
    return float(np.mean(local[LOWER_INNER, 1] - local[UPPER_INNER, 1]))


def eye_openness(local: np.ndarray) -> tuple[float, float]:
    """(right, left) eyelid gap divided by eye width: about 0.2–0.3 open, < 0.1 closed."""
    out = []
    for upper, lower, (c0, c1) in EYES:
        width = np.linalg.norm(local[c0, :2] - local[c1, :2])
        out.append(float(np.mean(local[lower, 1] - local[upper, 1]) / max(width, 1e-9)))
    return out[0], out[1]


GAZE_LIMIT = (0.22, 0.12)  # largest iris shift (eye widths) along and across the eye: the iris stays inside


def _eye_axes(local: np.ndarray, corners: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    c0, c1 = local[corners[0], :2], local[corners[1], :2]
    width = max(float(np.linalg.norm(c1 - c0)), 1e-9)
    axis = (c1 - c0) / width
    if axis[0] < 0:  # along +x for either eye, so a gaze to the image right is positive in both
        axis = -axis
    return 0.5 * (c0 + c1), axis, np.array([-axis[1], axis[0]]), width


def gaze(local: np.ndarray) -> np.ndarray:
    """(2, 2) iris centre offsets from each eye's centre (right, left) × (along, across), in eye widths.

    "Along" is towards image +x, "across" towards the chin, both in the eye's own tilt.
    """
    out = np.zeros((2, 2))
    for k, ((_, _, corners), iris) in enumerate(zip(EYES, IRISES)):
        centre, axis, normal, width = _eye_axes(local, corners)
        rel = local[iris[0], :2] - centre
        out[k] = (rel @ axis / width, rel @ normal / width)
    return out


def set_gaze(local: np.ndarray, neutral: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Put each iris of ``neutral``'s shape at its neutral place + ``shift`` (2, 2) eye widths (see ``gaze``).

    The iris keeps the avatar's own size and roundness (only its centre moves), which a copy of
    the driver's iris landmarks would not: their depth is a guess, and a turned head sends them
    across the lids.
    """
    out = local.copy()
    limit = np.asarray(GAZE_LIMIT)
    for k, ((_, _, corners), iris) in enumerate(zip(EYES, IRISES)):
        centre, axis, normal, width = _eye_axes(local, corners)
        n_centre, n_axis, n_normal, n_width = _eye_axes(neutral, corners)
        rel = neutral[iris[0], :2] - n_centre
        place = np.clip(np.array([rel @ n_axis, rel @ n_normal]) / n_width + shift[k], -limit, limit)
        shape = (neutral[iris, :2] - neutral[iris[0], :2]) * (width / n_width)
        out[iris, :2] = centre + (place[0] * axis + place[1] * normal) * width + shape
    return out


def set_mouth_gap(local: np.ndarray, neutral: np.ndarray, gap: float) -> np.ndarray:
    """Move the lower lip and jaw (in local coordinates) so the inner-lip gap becomes ``gap``.

    The weight is 1 on the lower lip and chin, fading above the mouth line and sideways beyond
    the mouth corners of ``neutral`` (the face the weights are laid out on), so cheeks stretch
    smoothly instead of tearing.
    """
    current = mouth_openness(local)
    change = gap - current
    if abs(change) < 1e-6:
        return local
    corners = neutral[list(lm.MOUTH_CORNERS)]
    centre = corners.mean(0)
    half_width = 0.5 * np.linalg.norm(corners[1, :2] - corners[0, :2])
    lip_line = neutral[UPPER_INNER, 1].mean()
    lower_lip = neutral[LOWER_INNER, 1].mean()
    span = max(lower_lip - lip_line, 0.02)
    vertical = smoothstep((neutral[:, 1] - lip_line) / span + 0.5)
    sideways = np.exp(-0.5 * ((neutral[:, 0] - centre[0]) / (1.6 * half_width)) ** 2)
    weight = vertical * sideways
    weight[LOWER_INNER] = 1.0
    weight[UPPER_INNER] = 0.0
    # Up to closed (lips that cross, or a closing mouth) the lower lip moves as one piece; beyond
    # that it parts as a lens, most in the middle and little towards the corners (moved as one
    # piece, a small opening left the corners open in a diamond and a wide one was a box with
    # upright sides). The mean gap changes by ``change`` either way.
    opening = max(0.0, change - max(-current, 0.0))
    lens_weight = weight.copy()
    along = np.clip(np.abs(neutral[LOWER_INNER, 0] - centre[0]) / max(half_width, 1e-6), 0.0, 1.0)
    lens = np.sqrt(1.0 - along ** 2)
    lens_weight[LOWER_INNER] = lens / max(float(lens.mean()), 1e-6)
    out = local.copy()
    out[:, 1] += (change - opening) * weight + opening * lens_weight
    return out


def uncross_lips(local: np.ndarray, reference: np.ndarray, gap: float | None = None) -> np.ndarray:
    """The same face with no lower inner-lip point further above its upper partner than in
    ``reference`` (the face the expression was added to; MediaPipe puts closed lips up to a few
    thousandths apart either way). A copy.

    Expression deltas add the driver's lip shape minus its neutral's column by column, so where
    the neutral's lips parted at a column and the driver's meet there (pursed lips, the mouth
    open at its sides), the lower lip ends up above the upper one: a crossed contour whose
    "opening" is filled with the driver's mouth stretched from a line (vertical streaks). Lips
    cannot pass through each other: such a pair meets halfway.

    With ``gap`` (the mean inner-lip gap ``local`` was set to, see ``set_mouth_gap``) the lower
    lip first moves as a whole so that the mean gap after the pairs meet is still ``gap``: the
    mouth opens as far as the driver's, where it can (not further for the columns that met).
    """
    out = np.asarray(local, dtype=np.float64).copy()
    gaps = out[LOWER_INNER, 1] - out[UPPER_INNER, 1]
    allowed = np.minimum(reference[LOWER_INNER, 1] - reference[UPPER_INNER, 1], 0.0)
    if gap is not None and np.maximum(gaps, allowed).mean() > gap > allowed.mean():
        # mean(max(gaps + c, allowed)) grows with c: find the c ≤ 0 that gives ``gap``.
        lo, hi = float((allowed - gaps).min()), 0.0
        for _ in range(40):
            c = 0.5 * (lo + hi)
            lo, hi = (c, hi) if np.maximum(gaps + c, allowed).mean() < gap else (lo, c)
        out = set_mouth_gap(out, reference, float(gaps.mean()) + 0.5 * (lo + hi))
        gaps = out[LOWER_INNER, 1] - out[UPPER_INNER, 1]
    crossed = gaps < allowed
    if crossed.any():
        up, lo_i = UPPER_INNER[crossed], LOWER_INNER[crossed]
        meet = 0.5 * (out[up] + out[lo_i])
        half = 0.5 * allowed[crossed]
        out[up] = meet
        out[lo_i] = meet
        out[up, 1] -= half
        out[lo_i, 1] += half
    return out


def set_eye_openness(local: np.ndarray, neutral: np.ndarray, ratios: tuple[float, float]) -> np.ndarray:
    """Put each upper eyelid at the ``neutral`` lid gap × ratio above its lower lid (0 = closed).

    Ratios above 1 open the eye wider than ``neutral``. The iris points are squeezed towards the
    lower lid by ratios below 1: they steer the warp too, and an iris held in place would keep
    the eye open however far the lid comes down.
    """
    out = local.copy()
    for (upper, lower, _), iris, ratio in zip(EYES, IRISES, ratios):
        neutral_gap = neutral[lower, 1] - neutral[upper, 1]
        out[upper, 1] = out[lower, 1] - neutral_gap * ratio
        lid = out[lower, 1].mean()
        out[iris, 1] = lid + (out[iris, 1] - lid) * min(ratio, 1.0)
    return out


def close_mouth(local: np.ndarray) -> np.ndarray:
    """The same face with its lips closed: a photo's own neutral when it shows teeth or an open mouth.

    The jaw comes up by ``JAW_SHARE`` of the gap; then each pair of inner-lip points meets at the
    point that splits the remaining gap in proportion to the two lips' thickness, so both lips
    stretch by the same factor (the renderer stretches the photo's lips over its teeth the same
    way). A closed mouth (gap ≤ ``CLOSED_GAP``) is returned unchanged (a copy).
    """
    gap = mouth_openness(local)
    out = local.astype(np.float64, copy=True)
    if gap <= CLOSED_GAP:
        return out
    out = set_mouth_gap(out, local, (1.0 - JAW_SHARE) * gap)
    upper_t = np.maximum(out[UPPER_INNER, 1] - out[UPPER_OUTER, 1], 1e-3)
    lower_t = np.maximum(out[LOWER_OUTER, 1] - out[LOWER_INNER, 1], 1e-3)
    share = upper_t / (upper_t + lower_t)
    meet = out[UPPER_INNER] + share[:, None] * (out[LOWER_INNER] - out[UPPER_INNER])
    out[UPPER_INNER] = meet
    out[LOWER_INNER] = meet
    return out
