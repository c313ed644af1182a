"""Person and background layers of an avatar photo, made once per avatar.

A warp that moves the head also drags whatever lies around it: curtains, a flag or a picture
frame bend with a head turn. So the photo is split into the person (head, hair, neck, body: the
selfie segmentation) and a background *plate* — the photo with the person painted out — and each
frame the warped person is laid over the still plate. Where the head moves away, the plate shows
what was behind it (filled smoothly from the surrounding background, like an out-of-focus wall).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livehead.face import landmarks as lm

__all__ = ["PERSON_FROM", "Layers", "split_layers"]

PERSON_FROM = 8  # mask value (0–255) from which a pixel belongs to the person layer
# A pyramid pixel whose support is this share known takes its colour from those known pixels,
# not from the coarser level: near the hole's edge the fill continues the background right
# beside it (a pink wall stays pink beside the head), and only deep inside does it blend into
# the average of the whole surrounding (with 1, a half-known pixel took half the coarse average:
# a beige band of mixed wall colours outlined the place the head uncovered).
PULL_GAIN = 4.0
GROW = 0.04  # share of the face's height the hole grows past the person's soft edge
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
    # Faint responses (a few per cent) are noise in the background, not person.
    person = (np.where(probability >= 0.1, np.clip(probability, 0, 1), 0.0) * 255).astype(np.uint8)
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
    grow = max(1, int(round(GROW * face_size * k)))
    hole = cv2.resize(person, small.shape[1::-1], interpolation=cv2.INTER_LINEAR) >= PERSON_FROM
    hole = cv2.dilate(hole.astype(np.uint8) * 255, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    if hole.all():
        return np.full_like(image, int(np.median(image)))
    filled = _push_pull(small.astype(np.float32), (hole == 0).astype(np.float32))
    big = cv2.resize(np.clip(filled + 0.5, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    # The fill replaces exactly what the composite treats as person (``PERSON_FROM``, which
    # includes the soft edge, whose pixels mix hair with the old background and would leave a
    # ghost outline behind a moving head): everywhere else the plate is the photo itself, so
    # where nothing moves the composite shows the photo exactly.
    plate = image.copy()
    inside = person >= PERSON_FROM
    plate[inside] = big[inside]
    return plate


def _push_pull(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown pixels of ``image`` (h, w, 3) float from the known ones (``known`` (h, w) 0/1).

    Push-pull: average the known pixels down an image pyramid, then fill each level's holes from
    the coarser level on the way back up. Holes get the smooth colour of the background around
    them (like an out-of-focus wall), without the streaks that line-by-line inpainting leaves.
    """
    levels = [(image * known[..., None], known)]
    while min(levels[-1][1].shape) > 4:
        premultiplied, weight = levels[-1]
        levels.append((cv2.pyrDown(premultiplied), cv2.pyrDown(weight)))
    premultiplied, weight = levels[-1]
    filled = premultiplied / np.maximum(weight, 1e-6)[..., None]
    for premultiplied, weight in reversed(levels[:-1]):
        up = cv2.pyrUp(filled, dstsize=(weight.shape[1], weight.shape[0]))
        alpha = np.clip(PULL_GAIN * weight, 0.0, 1.0)[..., None]
        filled = alpha * (premultiplied / np.maximum(weight, 1e-6)[..., None]) + (1.0 - alpha) * up
    return filled
