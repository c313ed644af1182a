"""How ``livehead eval`` measures one image: a second FaceTracker in static-image mode.

Every output is measured the same way as the real frames it is compared with: independent
detections (no tracking prior), at the size of the avatar image the engine renders, so neither
side gets the benefit of temporal tracking.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from livehead.eval import metrics as M
from livehead.face import landmarks as lm
from livehead.stages.motion import eye_openness, mouth_openness, to_local
from livehead.stages.tracking import FaceTracker
from livehead.types import NUM_LANDMARKS, FaceObservation

__all__ = ["Measure", "Meter", "Series", "face_region", "measure_observation"]


@dataclass
class Measure:
    """One frame measured by the evaluation tracker (all NaN when it found no face)."""

    landmarks: np.ndarray  # (478, 3) pixels
    face_size: float
    rotation: np.ndarray  # (3, 3)
    mouth: float  # motion.mouth_openness, canonical units
    eye: float  # mean eye_openness ratio
    box: tuple[float, float, float, float] | None  # (x0, y0, x1, y1) pixels
    eyes: tuple[float, float] = (math.nan, math.nan)  # eye_openness of the subject's right, left eye
    mouth_luma: float = math.nan  # metrics.inner_mouth_luma (NaN: closed, or measured without the image)
    mouth_seam: float = math.nan  # metrics.mouth_seam at the inner lip line (NaN: closed)

    @property
    def found(self) -> bool:
        return self.box is not None


def measure_observation(obs: FaceObservation | None, image: np.ndarray | None = None) -> Measure:
    """The numbers eval compares, from one tracked face (None: no face, every number NaN).

    ``image``: the (H, W, 3) uint8 RGB frame ``obs`` was tracked in; with it the inside of the
    mouth is measured too (its brightness and the edge at the inner lip line).
    """
    if obs is None:
        return Measure(np.full((NUM_LANDMARKS, 3), np.nan), math.nan, np.full((3, 3), np.nan), math.nan, math.nan,
                       None)
    local = to_local(obs)
    eyes = tuple(float(e) for e in eye_openness(local))
    luma = seam = math.nan
    if image is not None:
        ring = obs.landmarks[list(lm.INNER_MOUTH_RING), :2]
        luma, seam = M.inner_mouth_luma(image, ring), M.mouth_seam(image, ring)
    return Measure(obs.landmarks.astype(np.float64), obs.face_size, np.asarray(obs.pose.rotation, np.float64),
                   mouth_openness(local), M.eye_opening(eyes), obs.box, eyes, luma, seam)


class Meter:
    """The evaluation tracker (static-image mode), with a cache for repeated images (the still baseline).

    Call it with an (H, W, 3) uint8 RGB image; ``close()`` releases the tracker.
    """

    def __init__(self) -> None:
        self.tracker = FaceTracker(static_image_mode=True, max_faces=1)
        self._cache: dict[bytes, Measure] = {}

    def __call__(self, image: np.ndarray) -> Measure:
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest() + bytes(str(image.shape), "ascii")
        hit = self._cache.get(key)
        if hit is None:
            image = np.ascontiguousarray(image)
            hit = measure_observation(self.tracker.track(image), image)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def close(self) -> None:
        self.tracker.close()


@dataclass
class Series:
    """Per-frame measurements of one sequence (driver or output)."""

    landmarks: list[np.ndarray] = field(default_factory=list)
    face_size: list[float] = field(default_factory=list)
    rotation: list[np.ndarray] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)
    eye: list[float] = field(default_factory=list)
    found: list[bool] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float] | None] = field(default_factory=list)
    eyes: list[tuple[float, float]] = field(default_factory=list)  # (right, left) eye opening
    mouth_luma: list[float] = field(default_factory=list)
    mouth_seam: list[float] = field(default_factory=list)

    def add(self, m: Measure) -> None:
        self.landmarks.append(m.landmarks)
        self.face_size.append(m.face_size)
        self.rotation.append(m.rotation)
        self.mouth.append(m.mouth)
        self.eye.append(m.eye)
        self.found.append(m.found)
        self.boxes.append(m.box)
        self.eyes.append(m.eyes)
        self.mouth_luma.append(m.mouth_luma)
        self.mouth_seam.append(m.mouth_seam)

    def __len__(self) -> int:
        return len(self.found)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(landmarks (T, 478, 3), face_size (T,))`` as float arrays, NaN where no face was found."""
        return np.asarray(self.landmarks), np.asarray(self.face_size)


def face_region(
    box: tuple[float, float, float, float] | None, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """A face box grown by a quarter each way, clipped to ``size`` = (w, h): where animation shows.

    Convention: boxes are ``(x0, y0, x1, y1)`` in pixels; None in, None out (no face, whole frame).
    """
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    return (int(max(0, x0 - mx)), int(max(0, y0 - my)), int(min(size[0], x1 + mx)), int(min(size[1], y1 + my)))
