"""Motion transfer: driver's change against the calibration frame → moved avatar landmarks.

Pure functions. Each face is split into a rigid head pose (similarity against the canonical face,
see ``tracking.estimate_pose``) and a non-rigid shape in the face's own frame, measured in face
sizes ("local" coordinates), so a driver twice as far from the camera drives the same expression.

Relative mode (default): the avatar keeps its own identity and pose and receives only the
driver's *change* since calibration — rotation ``R_cur @ R_ref.T``, scale ratio, translation in
face sizes, and local shape delta. Absolute mode copies the driver's head rotation instead of its
change. Mouth and eye *openness* are transferred in absolute, face-size-normalised terms by
default: people often calibrate mid-sentence, and a purely relative mouth then stays shut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehead.face import landmarks as lm
from livehead.config import MotionConfig
from livehead.face.geometry import euler_from_rotation, rotation_from_euler
from livehead.types import FaceObservation

__all__ = [
    "OUTLINE_POSE_FRACTION",
    "eye_openness",
    "mouth_openness",
    "to_local",
    "from_local",
    "transfer",
]

# Share of yaw/pitch given to the face outline: the full amount folds cheeks and ears over
# in a 2D warp (measured on the prototype).
OUTLINE_POSE_FRACTION = 0.5

_UPPER_INNER = lm.as_index(lm.LIPS_UPPER_INNER[1:-1])
_LOWER_INNER = lm.as_index(lm.LIPS_LOWER_INNER[1:-1])
_EYES = (
    (lm.as_index(lm.RIGHT_EYE_UPPER[1:-1]), lm.as_index(lm.RIGHT_EYE_LOWER[1:-1]), lm.RIGHT_EYE_CORNERS),
    (lm.as_index(lm.LEFT_EYE_UPPER[1:-1]), lm.as_index(lm.LEFT_EYE_LOWER[1:-1]), lm.LEFT_EYE_CORNERS),
)
_OUTLINE = lm.as_index(lm.FACE_OVAL)
_IRISES = (lm.as_index(lm.RIGHT_IRIS), lm.as_index(lm.LEFT_IRIS))  # same order as _EYES
SCALE_RANGE = (0.8, 1.25)  # the avatar's face may grow or shrink this much with the driver's distance


def to_local(face: FaceObservation) -> np.ndarray:
    """(478, 3) landmarks in the face's own frame, in canonical units (inter-ocular ≈ 1)."""
    p = face.pose
    return (face.landmarks.astype(np.float64) - p.translation) @ p.rotation / p.scale


def from_local(local: np.ndarray, rotation: np.ndarray, scale: float, translation: np.ndarray) -> np.ndarray:
    """Inverse of ``to_local`` for a given pose: (N, 3) canonical → pixels."""
    return scale * local @ rotation.T + translation


def mouth_openness(local: np.ndarray) -> float:
    """Mean vertical gap between inner lips, in canonical units (0 = closed)."""
    return float(np.mean(local[_LOWER_INNER, 1] - local[_UPPER_INNER, 1]))


def eye_openness(local: np.ndarray) -> tuple[float, float]:
    """(right, left) eyelid gap divided by eye width: about 0.25–0.35 open, < 0.1 closed."""
    out = []
    for upper, lower, (c0, c1) in _EYES:
        width = np.linalg.norm(local[c0, :2] - local[c1, :2])
        out.append(float(np.mean(local[lower, 1] - local[upper, 1]) / max(width, 1e-9)))
    return out[0], out[1]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _set_mouth_gap(local: np.ndarray, neutral: np.ndarray, gap: float) -> np.ndarray:
    """Move the lower lip and jaw (in local coordinates) so the inner-lip gap becomes ``gap``.

    The weight is 1 on the lower lip and chin, fading above the mouth line and sideways beyond
    the mouth corners, so cheeks stretch smoothly instead of tearing.
    """
    change = gap - mouth_openness(local)
    if abs(change) < 1e-6:
        return local
    corners = neutral[list(lm.MOUTH_CORNERS)]
    centre = corners.mean(0)
    half_width = 0.5 * np.linalg.norm(corners[1, :2] - corners[0, :2])
    lip_line = neutral[_UPPER_INNER, 1].mean()
    lower_lip = neutral[_LOWER_INNER, 1].mean()
    span = max(lower_lip - lip_line, 0.02)
    vertical = _smoothstep((neutral[:, 1] - lip_line) / span + 0.5)
    sideways = np.exp(-0.5 * ((neutral[:, 0] - centre[0]) / (1.6 * half_width)) ** 2)
    weight = vertical * sideways
    weight[_LOWER_INNER] = 1.0
    weight[_UPPER_INNER] = 0.0
    out = local.copy()
    out[:, 1] += change * weight
    return out


def _set_eye_openness(local: np.ndarray, neutral: np.ndarray, ratios: tuple[float, float]) -> np.ndarray:
    """Scale each upper eyelid's gap to the avatar's neutral gap × ratio (ratio 0 = closed).

    The iris points are squeezed towards the lower lid by the same ratio: they steer the warp
    too, and an iris held in place would keep the eye open however far the lid comes down.
    """
    out = local.copy()
    for (upper, lower, _), iris, ratio in zip(_EYES, _IRISES, ratios):
        neutral_gap = neutral[lower, 1] - neutral[upper, 1]
        out[upper, 1] = out[lower, 1] - neutral_gap * ratio
        lid = out[lower, 1].mean()
        out[iris, 1] = lid + (out[iris, 1] - lid) * min(ratio, 1.0)
    return out


@dataclass(frozen=True)
class Openness:
    """Driver openness the processor measured (absolute mouth, eye ratio against the open baseline)."""

    mouth: float
    eyes: tuple[float, float]


def transfer(
    avatar: FaceObservation,
    reference: FaceObservation,
    current: FaceObservation,
    config: MotionConfig,
    *,
    openness: Openness | None = None,
    amount: float = 1.0,
    bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """Avatar landmarks (478, 3) in avatar pixels that follow the driver's motion.

    Args:
        avatar: the avatar photo's face (its neutral).
        reference: the driver at calibration.
        current: the driver now (already smoothed).
        openness: absolute mouth gap / eye ratios to impose (None: purely relative expression).
        amount: 0 returns the avatar's neutral landmarks, 1 the full motion (easing after a lost face).
        bounds: the avatar image (w, h). The face may then move at most half of its distance to
            each image edge: the border is pinned, and a face pushed into it folds the warp.

    Identity motion (``current == reference``, no openness) returns ``avatar.landmarks``
    up to float rounding.
    """
    neutral = to_local(avatar)
    delta = to_local(current) - to_local(reference)
    local = neutral + (config.expression_strength * amount) * delta
    if openness is not None:
        local = _set_mouth_gap(local, neutral, amount * openness.mouth * config.expression_strength
                               + (1 - amount) * mouth_openness(neutral))
        eye = tuple(amount * r + (1 - amount) * 1.0 for r in openness.eyes)
        local = _set_eye_openness(local, neutral, eye)

    a, r, c = avatar.pose, reference.pose, current.pose
    if config.mode == "absolute":
        full_rot = c.rotation @ a.rotation.T
    else:
        full_rot = c.rotation @ r.rotation.T
    yaw, pitch, roll = (config.pose_strength * amount * x for x in euler_from_rotation(full_rot))
    d_rot = rotation_from_euler(yaw, pitch, roll)
    outline_rot = rotation_from_euler(OUTLINE_POSE_FRACTION * yaw, OUTLINE_POSE_FRACTION * pitch, roll)
    ratio = float(np.clip(c.scale / r.scale, *SCALE_RANGE))
    scale = a.scale * (1.0 + amount * (ratio - 1.0))
    shift = np.zeros(3)
    if config.translation:
        shift = amount * (c.translation - r.translation) * (a.scale / r.scale)
        shift[2] = 0.0
    pts = from_local(local, d_rot @ a.rotation, scale, a.translation + shift)
    # Cheeks and ears (the sides of the outline) get part of the yaw/pitch; forehead and chin all.
    side = np.abs(neutral[_OUTLINE, 0]) / max(float(np.abs(neutral[_OUTLINE, 0]).max()), 1e-9)
    weight = _smoothstep((side - 0.3) / 0.5)[:, None]
    damped = from_local(local[_OUTLINE], outline_rot @ a.rotation, scale, a.translation + shift)
    pts[_OUTLINE] = weight * damped + (1.0 - weight) * pts[_OUTLINE]
    if bounds is not None:
        pts[:, :2] += _keep_inside(avatar.landmarks[:, :2], pts[:, :2], bounds)
    return pts.astype(np.float32)


def _keep_inside(neutral: np.ndarray, moved: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    """Offset (2,) that keeps ``moved``'s box within half the neutral box's margin to each edge."""
    lo_n, hi_n = neutral.min(0), neutral.max(0)
    size = np.asarray(bounds, dtype=np.float64) - 1.0
    lo_allowed = 0.5 * lo_n
    hi_allowed = size - 0.5 * (size - hi_n)
    lo_m, hi_m = moved.min(0), moved.max(0)
    offset = np.zeros(2)
    for k in range(2):
        under = lo_allowed[k] - lo_m[k]
        over = hi_m[k] - hi_allowed[k]
        if under > 0 and over > 0:
            offset[k] = 0.5 * (under - over)
        elif under > 0:
            offset[k] = under
        elif over > 0:
            offset[k] = -over
    return offset
