"""What LivePortrait's pre-processing measures on its own landmarks, measured on MediaPipe's 478.

LivePortrait crops with InsightFace's 106 points (``src/utils/crop.py``) and computes its eye and
lip opening ratios on its 203-point landmark model (``src/utils/retargeting_utils.py``). LiveHead
tracks with MediaPipe FaceMesh, so both are computed here from the corresponding MediaPipe points:

* **Crop** (``parse_rect_from_landmark``): the axis ``u_y`` runs from the centre of the eyes to the
  centre of the mouth corners, ``u_x`` is perpendicular to it; the landmarks' bounding box in that
  frame, made square and multiplied by ``scale``, is moved by ``vy_ratio`` of its side along
  ``u_y`` (negative = towards the forehead). The source photo's crop is rotated so the eyes are
  level; the driver's is not (its head roll must reach the motion extractor). Scales and offsets
  are the reference's crop config (:data:`SOURCE_CROP`, :data:`DRIVING_CROP`). The 106-point set
  covers the jaw outline up to ear level, brows, eyes, nose and lips but not the forehead, so
  :data:`CROP_POINTS` leaves out MediaPipe's forehead outline.
* **Ratios**: eye opening = distance between the upper and lower lid midpoints / distance between
  the eye corners; lip opening = distance between the inner-lip midpoints / distance between the
  mouth corners (203-point indices 6/18 over 0/12, 30/42 over 24/36, 90/102 over 48/66). The
  reference's "left" eye (indices 0-23) is the eye on the image's left: the subject's right eye.

Convention: landmarks are ``(478, 2 or 3)`` in image pixels (x right, y down); angles in radians;
crop matrices are 2x3 affine maps from image pixels to crop pixels (``cv2.warpAffine`` layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehead.face import landmarks as lm
from livehead.face.geometry import smoothstep

__all__ = ["CROP_POINTS", "DRIVING_CROP", "SOURCE_CROP", "CropSpec", "crop_matrix", "crop_rect", "eye_ratios",
           "lip_ratio", "paste_back", "paste_mask", "supersampling", "warp_crop"]


@dataclass(frozen=True)
class CropSpec:
    """How LivePortrait crops around the landmarks (its crop config: scale, vertical offset, roll)."""
    scale: float  # crop side / landmark box side
    vy_ratio: float  # shift along the eye-to-mouth axis, in crop sides (negative: towards the forehead)
    rotate: bool  # level the eyes (the crop follows the head's roll)


SOURCE_CROP = CropSpec(scale=2.3, vy_ratio=-0.125, rotate=True)  # crop_config.py: scale, vy_ratio, flag_do_rot
DRIVING_CROP = CropSpec(scale=2.2, vy_ratio=-0.1, rotate=False)  # crop_config.py: *_crop_driving_video

_OUTLINE_BELOW_TEMPLES = (356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172,
                          58, 132, 93, 234, 127)
CROP_POINTS: tuple[int, ...] = tuple(sorted(set(
    _OUTLINE_BELOW_TEMPLES + lm.RIGHT_BROW + lm.LEFT_BROW + lm.RIGHT_EYE + lm.LEFT_EYE + lm.NOSE + lm.LIPS)))
# Image-left eye (subject's right) first, as LivePortrait orders them.
_EYES = ((lm.RIGHT_EYE_CORNERS, (159, 145)), (lm.LEFT_EYE_CORNERS, (386, 374)))
_EPS = 1e-6  # calculate_distance_ratio's


def _eye_centre(landmarks: np.ndarray, corners: tuple[int, int], lids: tuple[int, int]) -> np.ndarray:
    return landmarks[list(corners + lids), :2].mean(axis=0)


def crop_rect(landmarks: np.ndarray, spec: CropSpec) -> tuple[np.ndarray, float, float]:
    """Centre ``(2,)`` pixels, side (pixels) and angle (radians, the eye line's tilt) of the crop.

    The angle is that of ``u_x`` against the image x axis; it is 0 for an upright face.
    """
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    eyes = 0.5 * (_eye_centre(points, *_EYES[0]) + _eye_centre(points, *_EYES[1]))
    mouth = points[list(lm.MOUTH_CORNERS)].mean(axis=0)
    u_y = mouth - eyes
    length = float(np.linalg.norm(u_y))
    u_y = u_y / length if length > 1e-3 else np.array([0.0, 1.0])
    u_x = np.array([u_y[1], -u_y[0]])
    subset = points[list(CROP_POINTS)]
    mean = subset.mean(axis=0)
    local = (subset - mean) @ np.stack([u_x, u_y]).T  # (N, 2) in the face's frame
    low, high = local.min(axis=0), local.max(axis=0)
    side = float((high - low).max()) * spec.scale
    centre_local = 0.5 * (low + high)
    centre = mean + u_x * centre_local[0] + u_y * centre_local[1] + u_y * (spec.vy_ratio * side)
    return centre, side, float(np.arctan2(u_x[1], u_x[0]))


def crop_matrix(centre: np.ndarray, side: float, angle: float, size: int) -> np.ndarray:
    """2x3 affine, image pixels -> crop pixels: ``size / side * Rot(-angle) @ (p - centre) + size / 2``."""
    s = size / side
    c, n = np.cos(angle) * s, np.sin(angle) * s
    cx, cy = centre
    return np.array([[c, n, size / 2 - (c * cx + n * cy)], [-n, c, size / 2 - (-n * cx + c * cy)]])


def supersampling(matrix: np.ndarray) -> int:
    """How many times larger :func:`warp_crop` warps before area-averaging (1 to 4): a crop that
    shrinks the image more than 2x would alias under bilinear warping alone."""
    shrink = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return min(4, int(1.0 / max(shrink, 1e-6))) if shrink < 0.5 else 1


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``(size, size, 3)`` uint8 crop through ``matrix``; outside the image the border is replicated.

    A crop that shrinks the image more than 2x is warped at up to 4x ``size`` first and then
    area-averaged (:func:`supersampling`), since bilinear warping alone would alias (the avatar
    photo is often large).
    """
    factor = supersampling(matrix)
    big = cv2.warpAffine(image, np.diag([factor, factor]).astype(np.float64) @ matrix, (size * factor, size * factor),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return big if factor == 1 else cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def paste_mask(size: int) -> np.ndarray:
    """``(size, size)`` float32 blend weights: 1 over the middle of the crop, falling smoothly to 0
    at a circle just inside its edge, so the crop's corners (background) stay the photo's."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    radius = np.sqrt(coords[None, :] ** 2 + coords[:, None] ** 2)
    return smoothstep((0.98 - radius) / 0.28).astype(np.float32)


def paste_back(photo: np.ndarray, result: np.ndarray, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend the generated crop ``result`` ``(n, n, 3)`` into ``photo`` ``(H, W, 3)`` (both uint8).

    ``matrix`` maps photo pixels to ``result`` pixels (scale a crop matrix for a larger output);
    ``mask`` is :func:`paste_mask` ``(n)``.
    """
    h, w = photo.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    warped = cv2.warpAffine(result, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    out = alpha * warped.astype(np.float32) + (1.0 - alpha) * photo.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _ratio(points: np.ndarray, a: int, b: int, c: int, d: int) -> float:
    return float(np.linalg.norm(points[a] - points[b]) / (np.linalg.norm(points[c] - points[d]) + _EPS))


def eye_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """(image-left eye, image-right eye) opening ratios: lid gap / eye width (about 0.3 open, 0 shut)."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    (left_corners, left_lids), (right_corners, right_lids) = _EYES
    return (_ratio(points, *left_lids, *left_corners), _ratio(points, *right_lids, *right_corners))


def lip_ratio(landmarks: np.ndarray) -> float:
    """Lip opening ratio: inner-lip gap / mouth width (0 closed)."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return _ratio(points, lm.UPPER_LIP_CENTER_INNER, lm.LOWER_LIP_CENTER_INNER, *lm.MOUTH_CORNERS)
