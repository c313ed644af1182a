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
from livehead.errors import InputError, NoFaceError
from livehead.stages.compose import fit_size
from livehead.stages.tracking import FaceTracker, observation_from_landmarks

log = logging.getLogger(__name__)

__all__ = ["MAX_PIXELS", "MIN_FACE_PX", "decode_image", "fit_size", "load_avatar", "avatar_from_array"]

MAX_PIXELS = 50_000_000  # refuse larger photos outright (50 megapixels)
MIN_FACE_PX = 100  # face height in the photo below which the animated face looks blurry (README: ~100 px)
_RETRY_SIDE = 1920  # longest side at which a face too small at the working size is looked for again


def decode_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, bytes]:
    """Decode an image file to (H, W, 3) uint8 RGB; returns the image and the file bytes.

    Raises InputError naming the problem: missing, not an image, truncated, too large.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise InputError(f"Avatar file {path} is a symbolic link to nothing (its target is missing, or it points "
                         "back to itself). Give the photo itself to --avatar.")
    if not path.exists():
        raise InputError(f"Avatar file not found: {path}. Check the path given to --avatar.")
    if not path.is_file():
        raise InputError(f"Avatar path is not a file: {path}. Give an image file (PNG or JPEG) to --avatar.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read avatar file {path}: {exc.strerror or exc}. Check its permissions.") from None
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
    original = image
    if working_size is not None:
        tw, th = fit_size((w, h), working_size)
        if (tw, th) != (w, h):
            interp = cv2.INTER_AREA if tw < w else cv2.INTER_CUBIC
            image = cv2.resize(image, (tw, th), interpolation=interp)
    scale = image.shape[1] / w  # working pixels per photo pixel
    own = tracker is None
    tracker = tracker or FaceTracker(static_image_mode=True)
    try:
        face = tracker.track(image)
        if face is None and scale < 1.0:
            _refuse_too_small_size(original, image.shape[1::-1], name, tracker)
    finally:
        if own:
            tracker.close()
    if face is None:
        raise NoFaceError(
            f"No face found in avatar {name!r}. Use a photo where one face is clearly visible, "
            f"roughly frontal, and at least about {MIN_FACE_PX} pixels tall."
        )
    if face.num_faces > 1:
        log.warning("Avatar %s shows %d faces; animating the largest one.", name, face.num_faces)
    face_px = (face.box[3] - face.box[1]) / scale
    if face_px < MIN_FACE_PX:
        log.warning("Avatar %s: the face is only %.0f px tall in the photo (at least about %d px recommended); the "
                    "animated face will look blurry. Use a larger or closer photo.", name, face_px, MIN_FACE_PX)
    face = observation_from_landmarks(face.landmarks, timestamp=0.0, frame_size=face.frame_size)
    return AvatarImage(name=name, image=np.ascontiguousarray(image), face=face, content_hash=content_hash)


def _refuse_too_small_size(original: np.ndarray, size: tuple[int, int], name: str, tracker: FaceTracker) -> None:
    """No face at the working size: when the photo itself has one, the output size is to blame, not the photo."""
    h, w = original.shape[:2]
    shrink = min(1.0, _RETRY_SIDE / max(w, h))
    larger = original if shrink == 1.0 else cv2.resize(original, (round(w * shrink), round(h * shrink)),
                                                       interpolation=cv2.INTER_AREA)
    face = tracker.track(larger)
    if face is None:
        return
    at_size = (face.box[3] - face.box[1]) * size[0] / larger.shape[1]
    raise InputError(
        f"The output size {size[0]}x{size[1]} is too small for avatar {name!r}: its face would be {at_size:.0f} px "
        f"tall, too small to find. Use a larger --size (e.g. 640x360); the photo is fine."
    )


def load_avatar(path: str | Path, *, working_size: tuple[int, int] | None = None) -> AvatarImage:
    """Decode ``path`` safely and detect its face. ``working_size`` bounds the image (output size)."""
    image, raw = decode_image(path)
    return avatar_from_array(
        image,
        name=Path(path).name,
        content_hash=hashlib.sha256(raw).hexdigest(),
        working_size=working_size,
    )
