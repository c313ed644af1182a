"""Contact sheets: face, mouth and eyes of driver and output, frame by frame, in one image.

A number says a mouth is 30 % too dark; a contact sheet shows whether it is a pasted box, a
smear or teeth in the wrong place. Pure functions on RGB arrays and MediaPipe landmarks; the
caller writes the sheet (PNG) and puts it in its report.

Layout: one column per frame, one row per (region, source): driver face, output face, driver
mouth, output mouth, driver eyes, output eyes. Crops are scaled to a common height per region so
columns line up whatever the face sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from livehead.face import landmarks as lm

__all__ = ["FACE_SCALED", "REGIONS", "SheetFrame", "contact_sheet", "region_box", "region_crop"]

_EYES = lm.RIGHT_EYE + lm.LEFT_EYE + lm.RIGHT_BROW + lm.LEFT_BROW
# Landmarks that bound each region and how much room is left around them (fraction of the box).
REGIONS: dict[str, tuple[tuple[int, ...], float, tuple[int, int]]] = {
    "face": (lm.FACE_OVAL, 0.08, (120, 140)),  # (indices, pad, crop size (w, h))
    "mouth": (lm.LIPS, 0.1, (150, 90)),
    "eyes": (_EYES, 0.12, (180, 60)),
}
# Regions framed at the face's own scale: the crop is at least this many outer-eye-corner
# distances wide (growing only when the region needs more: a wide-open mouth), its top this many
# above the region's top, so it opens downwards as a jaw does. Framed by the lips' box alone, a
# mouth crop zoomed out as the mouth opened (an opening looked smaller than it was) and in on a
# pout, and a closed smile (wide and thin) took in the nose.
FACE_SCALED = {"mouth": (1.2, 0.08)}
_EYE_CORNERS = (33, 263)


@dataclass(frozen=True)
class SheetFrame:
    """One column: a driver frame and the output rendered from it, each with its landmarks.

    ``*_landmarks`` are (478, 2|3) pixels of the image they go with (MediaPipe order); the
    output's may be the engine's target landmarks when no tracker measured the output.
    """

    label: str
    driver: np.ndarray
    driver_landmarks: np.ndarray
    output: np.ndarray
    output_landmarks: np.ndarray


def region_box(landmarks: np.ndarray, region: str, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer box of ``region`` with the aspect ratio of its crop, clipped to the image.

    ``image_size`` is (w, h). The box keeps the crop's aspect, so crops are scaled, never squashed;
    regions in ``FACE_SCALED`` keep the face's scale from frame to frame.
    """
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)}")
    indices, pad, (cw, ch) = REGIONS[region]
    all_pts = np.asarray(landmarks, dtype=np.float64)
    pts = all_pts[list(indices), :2]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    w, h = (x1 - x0) * (1 + 2 * pad), (y1 - y0) * (1 + 2 * pad)
    aspect = cw / ch
    width, above = FACE_SCALED.get(region, (0.0, None))
    eyes = float(np.linalg.norm(all_pts[_EYE_CORNERS[1], :2] - all_pts[_EYE_CORNERS[0], :2]))
    w = max(w, h * aspect, width * eyes, 4.0)
    h = max(h, w / aspect, 4.0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    if above is not None:
        cy = max(cy, y0 - above * eyes + h / 2)
    bx0, by0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    bx1, by1 = int(round(cx + w / 2)), int(round(cy + h / 2))
    iw, ih = image_size
    return max(bx0, 0), max(by0, 0), min(max(bx1, bx0 + 1), iw), min(max(by1, by0 + 1), ih)


def region_crop(image: np.ndarray, landmarks: np.ndarray, region: str) -> np.ndarray:
    """The ``region`` of ``image`` (H, W, 3) RGB, scaled to the region's crop size (see ``REGIONS``)."""
    x0, y0, x1, y1 = region_box(landmarks, region, (image.shape[1], image.shape[0]))
    size = REGIONS[region][2]
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        return np.zeros((size[1], size[0], 3), np.uint8)
    interp = cv2.INTER_AREA if crop.shape[1] > size[0] else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(crop), size, interpolation=interp)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def contact_sheet(frames: Sequence[SheetFrame], *, regions: Sequence[str] = ("face", "mouth", "eyes"),
                  title: str = "", gap: int = 2) -> np.ndarray:
    """(H, W, 3) uint8 RGB sheet: a column per frame, driver and output rows per region.

    Each driver tile is labelled with the frame's label, each row's first tile with what it shows.
    """
    if not frames:
        raise ValueError("contact_sheet needs at least one frame")
    rows = []
    for region in regions:
        for source in ("driver", "output"):
            tiles = []
            for k, f in enumerate(frames):
                image = f.driver if source == "driver" else f.output
                points = f.driver_landmarks if source == "driver" else f.output_landmarks
                tile = region_crop(image, points, region)
                parts = [f"{source} {region}"] if k == 0 else []
                if source == "driver" and region == regions[0]:
                    parts.append(f.label)  # the frame's label heads its column
                tiles.append(_label(tile, " ".join(parts)) if parts else tile)
            sep = np.full((tiles[0].shape[0], gap, 3), 255, np.uint8)
            row = tiles[0]
            for t in tiles[1:]:
                row = np.hstack([row, sep, t])
            rows.append(row)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    sep = np.full((gap, width, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    if title:
        head = np.full((18, width, 3), 255, np.uint8)
        cv2.putText(head, title, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        parts.append(head)
    for i, r in enumerate(rows):
        parts.append(r)
        if i % 2 == 1 and i < len(rows) - 1:
            parts.append(np.full((gap * 3, width, 3), 255, np.uint8))
        elif i < len(rows) - 1:
            parts.append(sep)
    return np.vstack(parts)
