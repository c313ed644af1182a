"""Motion transfer: the driver's expression and head motion → moved avatar landmarks.

Pure functions. Each face is split into a rigid head pose (similarity against the canonical face,
see ``tracking.estimate_pose``) and a non-rigid shape in the face's own frame, measured in face
sizes ("local" coordinates), so a driver twice as far from the camera drives the same expression.

* **Head pose** is relative: the avatar keeps its own pose and receives the driver's rotation
  change since calibration, ``R_cur @ R_ref.T`` (or, in absolute mode, the driver's rotation),
  plus the scale ratio and translation in face sizes.
* **Expression** is measured against the driver's *neutral* (``face.neutral.zero_shape``: the
  calibration frame, corrected where the neutral estimated while tracking shows it smiled or
  talked, unless the avatar photo shows that smile too) and added to the avatar's own neutral,
  which is the photo with its mouth closed (``expression.close_mouth``), so a photo that shows
  teeth still closes its mouth when the driver does. Without a neutral estimate the calibration
  frame stands in for it.
* **Mouth and eye opening** are imposed in absolute, face-size-normalised terms on top
  (``Openness``): a gap from closed for the mouth, a ratio to the neutral opening per eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehead.config import MotionConfig
from livehead.face.expression import (
    close_mouth,
    eye_openness,
    gaze,
    mouth_openness,
    set_eye_openness,
    set_gaze,
    set_mouth_gap,
    uncross_lips,
)
from livehead.face.geometry import euler_from_rotation, rotation_from_euler
from livehead.face.neutral import NeutralEstimate, zero_shape
from livehead.types import FaceObservation

__all__ = [
    "Openness",
    "avatar_neutral",
    "eye_openness",
    "mouth_openness",
    "to_local",
    "from_local",
    "transfer",
]

SCALE_RANGE = (0.8, 1.25)  # the avatar's face may grow or shrink this much with the driver's distance
# Share of its margin to each image edge the face may move into. Tighter and a driver who moves
# in the frame is not followed (photos cropped close to the face, like most talking-head clips,
# have margins of 10–20 % of the frame); the last part stays free for the pinned border to
# stretch into without folding.
EDGE_SHARE = 0.85


def to_local(face: FaceObservation) -> np.ndarray:
    """(478, 3) landmarks in the face's own frame, in canonical units (inter-ocular ≈ 1)."""
    p = face.pose
    return (face.landmarks.astype(np.float64) - p.translation) @ p.rotation / p.scale


def from_local(local: np.ndarray, rotation: np.ndarray, scale: float, translation: np.ndarray) -> np.ndarray:
    """Inverse of ``to_local`` for a given pose: (N, 3) canonical → pixels."""
    return scale * local @ rotation.T + translation


# The scripted demo driver edits faces with these (kept under their old names).
_set_mouth_gap = set_mouth_gap
_set_eye_openness = set_eye_openness


def avatar_neutral(avatar: FaceObservation) -> np.ndarray:
    """(478, 3) avatar pixels of the avatar's neutral: its photo with the mouth closed.

    This is where the avatar's landmarks sit when the driver shows no expression (and after
    the face is lost); engines that warp the photo must show a closed mouth there.
    """
    p = avatar.pose
    return from_local(close_mouth(to_local(avatar)), p.rotation, p.scale, p.translation).astype(np.float32)


@dataclass(frozen=True)
class Openness:
    """Driver opening the processor measured against the driver's neutral.

    ``mouth``: inner-lip gap above the driver's closed gap, canonical units (0 = closed).
    ``eyes``: (right, left) eye openness over the driver's neutral openness (1 = as usual,
    0 = shut, > 1 wide).
    """

    mouth: float
    eyes: tuple[float, float]


def transfer(
    avatar: FaceObservation,
    reference: FaceObservation,
    current: FaceObservation,
    config: MotionConfig,
    *,
    openness: Openness | None = None,
    neutral: NeutralEstimate | None = None,
    amount: float = 1.0,
    bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """Avatar landmarks (478, 3) in avatar pixels that follow the driver's motion.

    Args:
        avatar: the avatar photo's face.
        reference: the driver at calibration (the zero of head pose; of expression too when
            ``neutral`` is None).
        current: the driver now (already smoothed).
        openness: mouth gap / eye ratios to impose. With it the avatar's neutral is its photo
            with the mouth closed (``avatar_neutral``); None keeps the photo's own mouth and
            transfers expression purely relatively.
        neutral: the driver's estimated neutral (``face.neutral``); expression is measured
            against ``zero_shape(reference, neutral)`` instead of against ``reference``.
        amount: 0 returns the avatar's neutral landmarks, 1 the full motion (easing after a lost face).
        bounds: the avatar image (w, h). The face may then move at most ``EDGE_SHARE`` of its
            distance to each image edge: the border is pinned, and a face pushed into it folds the warp.

    Identity motion (``current == reference``, no openness, no neutral) returns
    ``avatar.landmarks`` up to float rounding.
    """
    photo = to_local(avatar)
    base = close_mouth(photo) if openness is not None else photo
    driver_neutral = zero_shape(to_local(reference), neutral, base) if neutral is not None else to_local(reference)
    driver = to_local(current)
    delta = driver - driver_neutral
    strength = config.expression_strength * amount
    local = base + strength * delta
    local = set_gaze(local, base, strength * (gaze(driver) - gaze(driver_neutral)))
    mouth_gap = None
    if openness is not None:
        mouth_gap = strength * openness.mouth
        local = set_mouth_gap(local, base, mouth_gap)
        eye = tuple(max(0.0, 1.0 + strength * (r - 1.0)) for r in openness.eyes)
        local = set_eye_openness(local, base, eye)
    local = uncross_lips(local, base, mouth_gap)

    a, r, c = avatar.pose, reference.pose, current.pose
    if config.mode == "absolute":
        full_rot = c.rotation @ a.rotation.T
    else:
        full_rot = c.rotation @ r.rotation.T
    yaw, pitch, roll = (config.pose_strength * amount * x for x in euler_from_rotation(full_rot))
    d_rot = rotation_from_euler(yaw, pitch, roll)
    ratio = float(np.clip(c.scale / r.scale, *SCALE_RANGE))
    scale = a.scale * (1.0 + amount * (ratio - 1.0))
    shift = np.zeros(3)
    if config.translation:
        shift = amount * (c.translation - r.translation) * (a.scale / r.scale)
        shift[2] = 0.0
    # The whole face turns in 3D, outline included: the depth of each landmark foreshortens the
    # far side and widens the near one. (Keeping a warp from folding where the far cheek
    # disappears behind the face is the renderer's business, see the mesh engine.)
    pts = from_local(local, d_rot @ a.rotation, scale, a.translation + shift)
    if bounds is not None:
        pts[:, :2] += _keep_inside(avatar.landmarks[:, :2], pts[:, :2], bounds)
    return pts.astype(np.float32)


def _keep_inside(neutral: np.ndarray, moved: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    """Offset (2,) that keeps ``moved``'s box within ``EDGE_SHARE`` of the neutral box's margin to each edge."""
    lo_n, hi_n = neutral.min(0), neutral.max(0)
    size = np.asarray(bounds, dtype=np.float64) - 1.0
    lo_allowed = (1.0 - EDGE_SHARE) * lo_n
    hi_allowed = size - (1.0 - EDGE_SHARE) * (size - hi_n)
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
