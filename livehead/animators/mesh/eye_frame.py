"""An eye's own frame, for moving its lids and iris (``eyes``) and measuring a photo's lid lines
(``lid_lines``): a corner as origin, ``s`` along the eye to the other corner and ``t`` across it
towards the lower lid; lids and brows as (s, t) curves; the image sampled at (s, t) points.
"""

from __future__ import annotations

import cv2
import numpy as np

from livehead.face import landmarks as lm

# (upper lid incl. corners, lower lid incl. corners, iris) per eye, subject's right first.
EYES = (
    (lm.as_index(lm.RIGHT_EYE_UPPER), lm.as_index(lm.RIGHT_EYE_LOWER), lm.as_index(lm.RIGHT_IRIS)),
    (lm.as_index(lm.LEFT_EYE_UPPER), lm.as_index(lm.LEFT_EYE_LOWER), lm.as_index(lm.LEFT_IRIS)),
)
BROWS_LOWER = (lm.as_index((46, 53, 52, 65, 55)), lm.as_index((276, 283, 282, 295, 285)))  # same order as EYES
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def whitest(samples: list[np.ndarray]) -> np.ndarray:
    """Per pixel, the brightest of ``samples`` (each (h, w, 3) float32 RGB of the same pixels)."""
    best, best_luma = samples[0], samples[0] @ LUMA
    for other in samples[1:]:
        luma = other @ LUMA
        brighter = luma > best_luma
        best, best_luma = np.where(brighter[..., None], other, best), np.where(brighter, luma, best_luma)
    return best


def middlemost(samples: list[np.ndarray]) -> np.ndarray:
    """Per pixel, the one of ``samples`` (each (h, w, 3) float32 RGB of the same pixels) with the
    median luma (of an odd number of samples)."""
    stack = np.stack(samples)
    order = np.argsort(stack @ LUMA, axis=0)[len(samples) // 2]
    return np.take_along_axis(stack, order[None, ..., None], axis=0)[0]


def frame(points: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The eye's own frame: corner ``c0`` (the upper lid's first point), unit axis along the eye to the
    other corner, unit normal towards the lower lid (image +y for a level eye), and the eye's length."""
    c0, c1 = points[upper[0], :2].astype(np.float64), points[upper[-1], :2].astype(np.float64)
    length = float(np.linalg.norm(c1 - c0))
    ax = (c1 - c0) / max(length, 1e-9)
    nm = np.array([-ax[1], ax[0]])
    if (points[lower[1:-1], :2].mean(0) - points[upper[1:-1], :2].mean(0)) @ nm < 0:
        nm = -nm
    return c0, ax, nm, length


def grid(roi: tuple[int, int, int, int], c0: np.ndarray, ax: np.ndarray, nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of ``roi`` (x0, y0, x1, y1) in the eye's frame: (s along the eye, t across it)."""
    x0, y0, x1, y1 = roi
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    rx, ry = xs - c0[0], ys - c0[1]
    return rx * ax[0] + ry * ax[1], rx * nm[0] + ry * nm[1]


def height(upper: tuple[np.ndarray, np.ndarray], lower: tuple[np.ndarray, np.ndarray]) -> float:
    """The open eye's largest lid gap (px, ≥ 1) between the lid curves (s, t)."""
    return max(float(np.max(np.interp(upper[0], *lower) - upper[1])), 1.0)


def iris_radius(iris: np.ndarray) -> float:
    """Radius (px, ≥ 1) of an iris given as (5, 2) points: centre, then four on the rim."""
    return max(float(np.linalg.norm(iris[1:] - iris[0], axis=1).mean()), 1.0)


def sample(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, s, t) -> np.ndarray:
    """``image`` (float32) at the eye-frame points (``s`` along, ``t`` across) of arrays of one shape."""
    return cv2.remap(image, (c0[0] + s * ax[0] + t * nm[0]).astype(np.float32),
                     (c0[1] + s * ax[1] + t * nm[1]).astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def curve(points: np.ndarray, idx: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks ``idx`` (a lid, a brow) as (s, t) in the eye's frame, sorted along the eye."""
    rel = points[idx, :2].astype(np.float64) - c0
    s, t = rel @ ax, rel @ nm
    order = np.argsort(s)
    return s[order], t[order]


def luma_across(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, s: float, t: np.ndarray) -> np.ndarray:
    """Luma of ``image``'s nearest pixels at ``t`` (array) across the eye, at ``s`` along it."""
    h, w = image.shape[:2]
    xs = np.clip(np.round(c0[0] + s * ax[0] + t * nm[0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(c0[1] + s * ax[1] + t * nm[1]).astype(int), 0, h - 1)
    return image[ys, xs].astype(np.float32) @ LUMA


def white_beside(s: np.ndarray, sides, radius: float, search: tuple[float, ...], limits: tuple[float, float],
                 take) -> np.ndarray:
    """The white on either side of an iris, blended across it along ``s``: at each of ``sides`` (left,
    then right: numbers or arrays of ``s``'s shape) the brightest of ``take(x)`` (an (h, w, 3) sample)
    at ``search`` iris radii outward, ``x`` kept within ``limits``. (A white taken from the iris's
    own edge paints a grey ghost iris.)"""
    flank = [whitest([take(np.clip(side + sign * k * radius, *limits)) for k in search])
             for side, sign in zip(sides, (-1.0, 1.0))]
    across = np.clip((s - sides[0]) / np.maximum(sides[1] - sides[0], 1e-6), 0.0, 1.0)[..., None]
    return (1.0 - across) * flank[0] + across * flank[1]
