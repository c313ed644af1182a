"""Compositor: animated avatar → output frame (size, letterbox, mirror)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Compositor", "fit_size", "letterbox"]


def fit_size(size: tuple[int, int], bounds: tuple[int, int]) -> tuple[int, int]:
    """Largest (w, h) with ``size``'s aspect ratio inside ``bounds`` (w, h)."""
    w, h = size
    s = min(bounds[0] / w, bounds[1] / h)
    return max(1, round(w * s)), max(1, round(h * s))


def letterbox(
    image: np.ndarray,
    size: tuple[int, int],
    *,
    background: tuple[int, int, int] = (0, 0, 0),
    mirror: bool = False,
) -> np.ndarray:
    """Fit ``image`` (H, W, 3) inside ``size`` (w, h), centred, bars in ``background`` (RGB)."""
    w, h = size
    iw, ih = fit_size((image.shape[1], image.shape[0]), size)
    if (iw, ih) != (image.shape[1], image.shape[0]):
        interp = cv2.INTER_AREA if iw < image.shape[1] else cv2.INTER_LINEAR
        image = cv2.resize(image, (iw, ih), interpolation=interp)
    if mirror:
        image = cv2.flip(image, 1)
    x0, y0 = (w - iw) // 2, (h - ih) // 2
    return cv2.copyMakeBorder(image, y0, h - ih - y0, x0, w - iw - x0, cv2.BORDER_CONSTANT, value=tuple(background))


class Compositor:
    """Places frames into the output size; keeps one output buffer per call site for speed."""

    def __init__(self, *, size: tuple[int, int], mirror: bool = False, background: tuple[int, int, int] = (0, 0, 0)):
        if size[0] < 16 or size[1] < 16:
            raise ValueError(f"output size must be at least 16x16, got {size[0]}x{size[1]}")
        self.size = (int(size[0]), int(size[1]))
        self.mirror = mirror
        self.background = background

    def compose(self, image: np.ndarray) -> np.ndarray:
        """A new (h, w, 3) uint8 RGB output frame (a fresh array: sinks may keep it)."""
        return letterbox(image, self.size, background=self.background, mirror=self.mirror)

    def to_output(self, points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """Map (N, ≥2) pixel points of an image of ``image_size`` (w, h) into output pixels."""
        w, h = self.size
        iw, ih = fit_size(image_size, self.size)
        s = iw / image_size[0]
        out = np.asarray(points, dtype=np.float64)[:, :2] * s
        if self.mirror:
            out[:, 0] = iw - 1 - out[:, 0]
        out += ((w - iw) // 2, (h - ih) // 2)
        return out
