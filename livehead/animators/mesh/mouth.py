"""Mouth interior for openings the avatar photo never showed.

A 2D warp can only stretch the avatar's lip line across a new opening; a flat dark fill reads as
a hole (measured on the prototype: luma 46 where the driver showed teeth at 138). Two sources of
real content, both blended only where the opening is new (the avatar's own visible teeth stay):

* ``driver``: the driver's own inner-mouth pixels, mapped by an affine fit of the inner-lip
  contours and colour-matched to the avatar's lips.
* ``synth``: a drawn cavity with upper teeth, lower teeth and tongue, lit like the avatar's face.
"""

from __future__ import annotations

import cv2
import numpy as np

from livehead.face import landmarks as lm

__all__ = ["inner_mouth_polygon", "mouth_mask", "lip_colour", "driver_mouth", "synth_mouth", "blend"]

_INNER = lm.LIPS_UPPER_INNER + tuple(reversed(lm.LIPS_LOWER_INNER[1:-1]))
_OUTER = lm.LIPS_UPPER_OUTER + tuple(reversed(lm.LIPS_LOWER_OUTER[1:-1]))


def inner_mouth_polygon(landmarks: np.ndarray) -> np.ndarray:
    """(20, 2) float32 polygon of the inner lip edge (the opening), pixels."""
    return landmarks[list(_INNER), :2].astype(np.float32)


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, int], *, shift: int = 2) -> np.ndarray:
    """(H, W) uint8 mask (0/255) of the inner-mouth opening, anti-aliased via sub-pixel drawing."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(inner_mouth_polygon(landmarks) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=shift)
    return mask


def lip_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean RGB of the lips (between outer and inner contour), float64 (3,)."""
    h, w = image.shape[:2]
    outer = np.zeros((h, w), np.uint8)
    cv2.fillPoly(outer, [np.round(landmarks[list(_OUTER), :2]).astype(np.int32)], 255)
    inner = mouth_mask(landmarks, (h, w))
    ring = (outer > 0) & (inner == 0)
    if ring.sum() < 10:
        return np.array([150.0, 90.0, 90.0])
    return image[ring].reshape(-1, 3).mean(0)


def driver_mouth(
    frame: np.ndarray,
    frame_landmarks: np.ndarray,
    target_landmarks: np.ndarray,
    roi: tuple[int, int, int, int],
    gain: np.ndarray,
) -> np.ndarray | None:
    """The driver's inner mouth mapped onto the target opening, cropped to ``roi`` (x0, y0, x1, y1).

    ``gain`` (3,) multiplies colours (driver lips → avatar lips). None when the fit degenerates.
    """
    src = inner_mouth_polygon(frame_landmarks)
    dst = inner_mouth_polygon(target_landmarks)
    x0, y0, x1, y1 = roi
    ones = np.ones((len(src), 1), np.float64)
    affine, *_ = np.linalg.lstsq(np.hstack([src, ones]), dst.astype(np.float64), rcond=None)
    m = affine.T.copy()  # (2, 3): dst = m @ [x, y, 1]
    if not np.all(np.isfinite(m)) or abs(np.linalg.det(m[:, :2])) < 1e-3:
        return None
    m[:, 2] -= (x0, y0)
    patch = cv2.warpAffine(frame, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(patch.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)


def synth_mouth(target_landmarks: np.ndarray, roi: tuple[int, int, int, int], skin: np.ndarray) -> np.ndarray:
    """Draw a mouth interior (cavity, teeth, tongue) for the target opening inside ``roi``.

    Sizes follow the mouth width (teeth show about an eighth of it), shades follow ``skin``
    (the avatar's mean face colour) so the inside is lit like the face around it.
    """
    x0, y0, x1, y1 = roi
    c0, c1 = target_landmarks[list(lm.INNER_MOUTH_CORNERS), :2].astype(np.float64)
    axis = c1 - c0
    width = max(np.linalg.norm(axis), 1.0)
    u_dir = axis / width
    v_dir = np.array([-u_dir[1], u_dir[0]])  # points to image +y for a level mouth
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    rel_x, rel_y = xs - c0[0], ys - c0[1]
    u = rel_x * u_dir[0] + rel_y * u_dir[1]
    v = rel_x * v_dir[0] + rel_y * v_dir[1]

    def contour(indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        rel = target_landmarks[list(indices), :2].astype(np.float64) - c0
        cu, cv = rel @ u_dir, rel @ v_dir
        order = np.argsort(cu)
        return cu[order], cv[order]

    up_u, up_v = contour(lm.LIPS_UPPER_INNER)
    lo_u, lo_v = contour(lm.LIPS_LOWER_INNER)
    top = np.interp(u, up_u, up_v)
    bottom = np.interp(u, lo_u, lo_v)
    gap = np.maximum(bottom - top, 1e-3)
    depth = (v - top) / gap  # 0 at the upper lip, 1 at the lower lip

    luma = float(np.clip(skin @ np.array([0.299, 0.587, 0.114]) / 170.0, 0.45, 1.3))
    cavity = np.array([70.0, 28.0, 30.0]) * luma
    teeth = np.array([228.0, 220.0, 205.0]) * min(luma, 1.05)
    tongue = np.array([175.0, 85.0, 88.0]) * luma
    img = np.empty(u.shape + (3,), np.float64)
    img[:] = cavity
    # Darker towards the corners, where the cheeks shade the cavity.
    across = np.clip(u / width, 0.0, 1.0)
    img *= (0.55 + 0.45 * np.sin(np.pi * across))[..., None]
    upper_teeth = (v - top) < min(0.13 * width, 0.5 * float(gap.max()))
    tooth_shade = (0.7 + 0.3 * np.sin(np.pi * across))[..., None]
    img = np.where(upper_teeth[..., None], teeth * tooth_shade, img)
    gap_ratio = float(gap.max()) / width
    if gap_ratio > 0.25:
        lower_teeth = (bottom - v) < 0.05 * width
        img = np.where(lower_teeth[..., None], teeth * 0.85 * tooth_shade, img)
        tongue_zone = (depth > 0.7) & ~lower_teeth
        img = np.where(tongue_zone[..., None], tongue * tooth_shade, img)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(0.6, width * 0.012))
    return np.clip(img, 0, 255).astype(np.uint8)


def blend(image: np.ndarray, patch: np.ndarray, mask: np.ndarray, roi: tuple[int, int, int, int]) -> None:
    """In place: image[roi] = mask·patch + (1 − mask)·image[roi]; mask is (h, w) uint8 0..255."""
    x0, y0, x1, y1 = roi
    a = (mask.astype(np.float32) / 255.0)[..., None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (a * patch.astype(np.float32) + (1.0 - a) * region + 0.5).astype(np.uint8)
