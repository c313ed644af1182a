"""Person and background layers of an avatar photo, made once per avatar.

A warp that moves the head also drags whatever lies around it: curtains, a flag or a picture
frame bend with a head turn. So the photo is split into the person (head, hair, neck, body: the
selfie segmentation) and a background *plate* — the photo with the person painted out — and each
frame the warped person is laid over the still plate. Where the head moves away, the plate shows
what was behind it (filled from the surrounding background, blurred like an out-of-focus wall).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehead.face import landmarks as lm

__all__ = ["Layers", "split_layers"]

PLATE_SIDE = 192  # px: the plate is filled at about this size, then scaled up (smooth anyway, and fast)


@dataclass(frozen=True)
class Layers:
    """``person``: (H, W) uint8 0–255 soft mask of the person; ``plate``: (H, W, 3) uint8 RGB background."""

    person: np.ndarray
    plate: np.ndarray


def split_layers(image: np.ndarray, landmarks: np.ndarray, probability: np.ndarray) -> Layers:
    """Person mask and background plate of ``image`` (H, W, 3) uint8 RGB.

    Args:
        landmarks: (478, 2|3) the photo's face landmarks, pixels; the face is always "person",
            whatever the segmentation says (it misses faces in paintings and cartoons).
        probability: (H, W) float in [0, 1] from ``tracking.person_mask``.
    """
    h, w = image.shape[:2]
    if probability.shape != (h, w):
        raise ValueError(f"probability must be {(h, w)}, got {probability.shape}")
    person = (np.clip(probability, 0, 1) * 255).astype(np.uint8)
    face = np.zeros((h, w), np.uint8)
    cv2.fillPoly(face, [np.round(landmarks[list(lm.FACE_OVAL), :2]).astype(np.int32)], 255)
    person = np.maximum(person, face)
    # Keep the largest blob: stray bits of a second person or a poster stay background.
    binary = (person >= 128).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count > 2:
        keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        person[(labels != keep) & (binary > 0)] = 0
    face_size = float(np.ptp(landmarks[list(lm.FACE_OVAL), 1]))
    soft = max(1.0, 0.01 * face_size)
    person = cv2.GaussianBlur(person, (0, 0), soft)
    return Layers(person=person, plate=_plate(image, person, face_size))


def _plate(image: np.ndarray, person: np.ndarray, face_size: float) -> np.ndarray:
    """The photo with the person inpainted from the background around it."""
    h, w = image.shape[:2]
    k = min(1.0, PLATE_SIDE / max(h, w))
    small = cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    # Grow the hole past the soft edge (and hair wisps) so no person colour seeds the fill.
    grow = max(1, int(round(0.08 * face_size * k)))
    hole = cv2.resize(person, small.shape[1::-1], interpolation=cv2.INTER_LINEAR) > 8
    hole = cv2.dilate(hole.astype(np.uint8) * 255, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    if hole.all():
        return np.full_like(image, int(np.median(image)))
    filled = cv2.inpaint(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), hole, max(3, grow), cv2.INPAINT_TELEA)
    filled = cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)
    filled = cv2.GaussianBlur(filled, (0, 0), 1.5)
    big = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    hole_big = cv2.resize(hole, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255.0
    return (hole_big * big + (1.0 - hole_big) * image + 0.5).astype(np.uint8)
