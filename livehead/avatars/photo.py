"""Avatar photos: safe decoding, working resolution, face detection → ``AvatarImage``.

Decoding is defensive because the file comes from the user: the pixel count is checked from the
header before any pixel is decoded (no decompression bombs), truncated files are refused instead
of being padded with grey, and every mode (RGBA, grayscale, 16-bit, palette, CMYK) becomes RGB.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import cv2
import numpy as np

from livehead.animators.base import AvatarImage
from livehead.stages.compose import fit_size
from livehead.errors import InputError, NoFaceError
from livehead.stages.tracking import FaceTracker, observation_from_landmarks

log = logging.getLogger(__name__)

__all__ = ["MAX_PIXELS", "decode_image", "fit_size", "load_avatar", "avatar_from_array"]

MAX_PIXELS = 50_000_000  # refuse larger photos outright (50 megapixels)


def decode_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, bytes]:
    """Decode an image file to (H, W, 3) uint8 RGB; returns the image and the file bytes.

    Raises InputError naming the problem: missing, not an image, truncated, too large.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"Avatar file not found: {path}. Check the path given to --avatar.")
    if not path.is_file():
        raise InputError(f"Avatar path is not a file: {path}. Give an image file (PNG or JPEG) to --avatar.")
    raw = path.read_bytes()
    if not raw:
        raise InputError(f"Avatar file is empty: {path}.")
    import io

    try:
        with Image.open(io.BytesIO(raw)) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise InputError(
                    f"Avatar image is too large: {w}x{h} = {w * h / 1e6:.0f} megapixels "
                    f"(limit {max_pixels / 1e6:.0f}). Resize it below that first, e.g. "
                    f"convert {path.name} -resize 4000x4000 smaller.png"
                )
            Image.MAX_IMAGE_PIXELS = max_pixels  # second guard inside Pillow's own decoder
            img = ImageOps.exif_transpose(img)
            img.load()
            rgb = _to_rgb(img)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"Not an image file: {path}. Use a PNG or JPEG portrait photo.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated or corrupt" if "truncat" in str(exc).lower() or isinstance(exc, OSError) else "unreadable"
        raise InputError(f"Avatar image is {reason}: {path} ({exc}). Re-export or re-download the photo.") from None
    except Image.DecompressionBombError as exc:
        # Pillow refuses more than twice its own limit while opening, before the size check above
        # can run; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "far more pixels than allowed"
        raise InputError(
            f"Avatar image is too large: {path} has {count} (limit {max_pixels / 1e6:.0f}). Resize it below that "
            f"first, e.g. convert {path.name} -resize 4000x4000 smaller.png"
        ) from None
    return rgb, raw


def _to_rgb(img) -> np.ndarray:
    """Any Pillow mode → (H, W, 3) uint8 RGB. Transparency is composited over white."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.clip(arr / arr.max() * 255.0, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def avatar_from_array(
    image: np.ndarray,
    *,
    name: str,
    content_hash: str,
    working_size: tuple[int, int] | None = None,
    tracker: FaceTracker | None = None,
) -> AvatarImage:
    """Resize an RGB image to its working size and find its face (largest, with a warning if several)."""
    h, w = image.shape[:2]
    if working_size is not None:
        tw, th = fit_size((w, h), working_size)
        if (tw, th) != (w, h):
            interp = cv2.INTER_AREA if tw < w else cv2.INTER_CUBIC
            image = cv2.resize(image, (tw, th), interpolation=interp)
    own = tracker is None
    tracker = tracker or FaceTracker(static_image_mode=True)
    try:
        face = tracker.track(image)
    finally:
        if own:
            tracker.close()
    if face is None:
        raise NoFaceError(
            f"No face found in avatar {name!r}. Use a photo where one face is clearly visible, "
            "roughly frontal, and at least about 100 pixels tall."
        )
    if face.num_faces > 1:
        log.warning("Avatar %s shows %d faces; animating the largest one.", name, face.num_faces)
    face = observation_from_landmarks(face.landmarks, timestamp=0.0, frame_size=face.frame_size)
    return AvatarImage(name=name, image=np.ascontiguousarray(image), face=face, content_hash=content_hash)


def load_avatar(path: str | Path, *, working_size: tuple[int, int] | None = None) -> AvatarImage:
    """Decode ``path`` safely and detect its face. ``working_size`` bounds the image (output size)."""
    image, raw = decode_image(path)
    return avatar_from_array(
        image,
        name=Path(path).name,
        content_hash=hashlib.sha256(raw).hexdigest(),
        working_size=working_size,
    )
