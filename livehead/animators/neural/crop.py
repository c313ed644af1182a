"""Where the networks look: the square face crop of the avatar and the driver, and the paste-back of the
generated crop into the full photo (pure functions on uint8 RGB arrays), plus the array ↔ tensor edge."""

from __future__ import annotations

import cv2
import numpy as np

from livehead.types import FaceObservation

__all__ = ["CROP_LIFT", "CROP_SCALE", "crop", "face_crop_box", "paste_back", "to_image", "to_tensor"]

CROP_SCALE = 1.9  # crop side / landmark-box side: the vox datasets frame the whole head with some hair
CROP_LIFT = 0.12  # move the crop up by this share of its side: landmarks start at the brows


def face_crop_box(face: FaceObservation, image_size: tuple[int, int]) -> np.ndarray:
    """Square crop (cx, cy, side) in pixels around a face; may extend past the image (padded later)."""
    x0, y0, x1, y1 = face.box
    side = CROP_SCALE * max(x1 - x0, y1 - y0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1) - CROP_LIFT * side
    return np.array([cx, cy, side], dtype=np.float64)


def _crop_matrix(box: np.ndarray, size: int) -> np.ndarray:
    """2×3 affine: image pixels → crop pixels (``size``²)."""
    cx, cy, side = box
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]])


def crop(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 crop; outside the image the border is replicated."""
    return cv2.warpAffine(image, _crop_matrix(box, size), (size, size), flags=cv2.INTER_AREA if box[2] > size else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _feather_mask(size: int) -> np.ndarray:
    """(size, size) float32 in [0, 1]: 1 in the middle, fading to 0 over the outer ~12 %."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / (0.12 * size), 0.0, 1.0)
    mask = np.outer(ramp, ramp).astype(np.float32)
    return mask * mask * (3 - 2 * mask)


def paste_back(avatar: np.ndarray, result: np.ndarray, box: np.ndarray, source_crop: np.ndarray) -> np.ndarray:
    """Put the generated crop back into the full avatar photo.

    Colour matching: the network shifts colours slightly; the per-channel mean difference between
    the generated and the source crop, measured where the mask fades (mostly background and hair),
    is removed before blending, so the seam disappears.
    """
    size = result.shape[0]
    mask = _feather_mask(size)
    ring = (mask > 0.05) & (mask < 0.6)
    shift = source_crop[ring].astype(np.float32).mean(0) - result[ring].astype(np.float32).mean(0)
    corrected = np.clip(result.astype(np.float32) + shift, 0, 255)
    h, w = avatar.shape[:2]
    inverse = cv2.invertAffineTransform(_crop_matrix(box, size))
    warped = cv2.warpAffine(corrected, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    out = alpha * warped + (1.0 - alpha) * avatar.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def to_tensor(image: np.ndarray, device: str):
    """(H, W, 3) uint8 RGB → (1, 3, H, W) float32 in [0, 1] on ``device``."""
    import torch

    return torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_image(tensor) -> np.ndarray:
    """(1, 3, H, W) float tensor in [0, 1] → (H, W, 3) uint8 RGB; non-finite values are an error."""
    arr = tensor[0].float().permute(1, 2, 0).cpu().numpy()
    if not np.all(np.isfinite(arr)):
        raise FloatingPointError("the generator produced non-finite values")
    return np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)


