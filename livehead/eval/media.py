"""The media ``livehead eval`` and ``livehead bench`` read: where it is, its frames, each clip's truth.

``default_media_dir`` is ``../shared/media`` when present; ``collect_media`` and ``first_media``
pick files from it (or from what the user named). ``prepare_clip`` decodes a driving clip once:
the driver as the live pipeline tracks it, and the real frames as the evaluation tracker
measures them (the truth every output is compared with). Frames are decoded again for each pass
(``iter_frames``) instead of being held in memory for every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from livehead.avatars.photo import fit_size
from livehead.errors import InputError
from livehead.eval import metrics as M
from livehead.eval.measure import Meter, Series
from livehead.eval.types import EvalSettings, Progress
from livehead.face.geometry import euler_from_rotation
from livehead.stages.capture import VideoFileSource
from livehead.stages.tracking import FaceTracker
from livehead.types import FaceObservation

__all__ = [
    "CLIP_SUFFIXES", "MEDIA_RELATIVE", "PHOTO_SUFFIXES", "ClipData", "collect_media", "default_media_dir",
    "first_media", "frame_at", "frames_at", "iter_frames", "prepare_clip", "resize", "sheet_indices", "strip_indices",
]

CLIP_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MEDIA_RELATIVE = Path("..") / "shared" / "media"


# ---- finding files ---------------------------------------------------------------------------
def default_media_dir() -> Path | None:
    """``../shared/media`` next to the working directory or next to this checkout, if present."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = (base / MEDIA_RELATIVE).resolve()
        if candidate.is_dir():
            return candidate
    return None


def first_media(names: tuple[str, ...], suffixes: tuple[str, ...]) -> Path | None:
    """The first of ``names`` in ``default_media_dir()``, else its first file with ``suffixes``
    (sorted by name), else None (no media folder, or nothing that fits)."""
    media = default_media_dir()
    if media is None:
        return None
    for name in names:
        if (media / name).is_file():
            return media / name
    found = sorted(f for f in media.iterdir() if f.suffix.lower() in suffixes)
    return found[0] if found else None


def collect_media(paths: list[str | Path], suffixes: tuple[str, ...], what: str) -> list[Path]:
    """Files with ``suffixes`` among ``paths`` (files, or folders searched one level deep), sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{what} not found: {p}. Give files or folders that exist.")
    return out


# ---- frames ----------------------------------------------------------------------------------
def iter_frames(path: Path, limit: int | None) -> Iterator[np.ndarray]:
    """The first ``limit`` frames of a clip ((H, W, 3) uint8 RGB each; None: all), decoded again
    on every call (cheaper in memory than holding every frame for every pass)."""
    source = VideoFileSource(path=path)
    try:
        n = 0
        while limit is None or n < limit:
            frame = source.read()
            if frame is None:
                return
            yield frame
            n += 1
    finally:
        source.close()


def frame_at(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a clip; IndexError when the clip is shorter."""
    for i, frame in enumerate(iter_frames(path, index + 1)):
        if i == index:
            return frame
    raise IndexError(f"{path} has no frame {index}")


def frames_at(path: Path, indices: set[int] | list[int], size: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
    """Frames ``indices`` of a clip in one pass (index -> (H, W, 3) uint8 RGB), resized to ``size``
    = (w, h) when given; indices past the clip's end are missing from the result."""
    wanted, out = set(indices), {}
    if not wanted:
        return out
    for i, frame in enumerate(iter_frames(path, max(wanted) + 1)):
        if i in wanted:
            out[i] = frame if size is None else resize(frame, size)
    return out


def resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` at ``size`` = (w, h) (area interpolation); the same array when it already is."""
    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


# ---- one driving clip ------------------------------------------------------------------------
@dataclass
class ClipData:
    """A driver clip prepared once for every engine: its tracked faces and its real frames as measured."""
    name: str
    path: Path
    fps: float
    native: tuple[int, int]  # (w, h) of the clip
    work: tuple[int, int]  # (w, h) the avatar (its first frame) is rendered at
    observations: list[FaceObservation | None]  # the driver, tracked as the live pipeline tracks it
    truth: Series  # real frames at ``work`` size, measured by the evaluation tracker
    still: np.ndarray  # (T,) bool
    calib: int  # first frame with a tracked driver face (the calibration frame)
    strip_at: list[int]
    sheet_at: list[int]  # columns of the contact sheets

    @property
    def frames(self) -> int:
        return len(self.observations)


def prepare_clip(path: Path, settings: EvalSettings, meter: Meter, progress: Progress | None) -> ClipData:
    """Track the clip's first ``settings.frames`` frames twice: as the pipeline does, and with ``meter``."""
    source = VideoFileSource(path=path)
    fps, native = source.fps, source.size
    source.close()
    fits = native[0] <= settings.size[0] and native[1] <= settings.size[1]
    work = native if fits else fit_size(native, settings.size)
    obs: list[FaceObservation | None] = []
    truth = Series()
    with FaceTracker(static_image_mode=False, max_faces=1) as tracker:
        for i, frame in enumerate(iter_frames(path, settings.frames)):
            obs.append(tracker.track(frame, i / fps))
            truth.add(meter(resize(frame, work)))
    if progress is not None:
        progress.advance(0, f"tracked {path.name}")
    lms, sizes = truth.arrays()
    still = M.still_mask(lms, sizes, threshold=settings.still_threshold) if len(obs) >= 2 else np.zeros(len(obs), bool)
    calib = next((i for i, o in enumerate(obs) if o is not None), -1)
    strip_at = strip_indices(truth, calib, settings.strip_frames)
    sheet_at = sheet_indices(truth, settings.sheet_frames)
    return ClipData(path.stem, path, fps, native, work, obs, truth, still, calib, strip_at, sheet_at)


def strip_indices(truth: Series, calib: int, count: int) -> list[int]:
    """Frames worth looking at: widest mouth, largest head turn, and the middle of the clip.

    At most ``count`` indices, sorted, never frame 0 (the avatar itself) and never repeated.
    """
    n = len(truth)
    if n == 0 or count <= 0:
        return []
    picks = []
    mouth = np.asarray(truth.mouth, dtype=np.float64)
    if np.isfinite(mouth).any():
        picks.append(int(np.nanargmax(mouth)))
    if calib >= 0 and truth.found[calib]:
        turn = [M.geodesic_deg(r, truth.rotation[calib]) if f else -1.0 for r, f in zip(truth.rotation, truth.found)]
        picks.append(int(np.argmax(turn)))
    picks.append(n // 2)
    out: list[int] = []
    for p in picks:
        if p not in out and p > 0:
            out.append(p)
    return sorted(out[:count])


def sheet_indices(truth: Series, count: int) -> list[int]:
    """Columns for a contact sheet: the widest mouth, the most closed eye of each side and the
    largest yaw either way (the hard cases), then evenly spread frames up to ``count``.

    Only frames where the evaluation tracker found the driver's face (landmarks to crop by);
    sorted, never frame 0 (the avatar itself), never repeated.
    """
    found = [i for i in range(1, len(truth)) if truth.found[i]]
    if not found or count <= 0:
        return []
    picks: list[int] = []
    mouth = np.array([truth.mouth[i] for i in found], dtype=np.float64)
    eyes = np.array([truth.eyes[i] for i in found], dtype=np.float64).reshape(-1, 2)
    yaw = np.array([euler_from_rotation(truth.rotation[i])[0] for i in found], dtype=np.float64)
    for series, pick in ((mouth, np.nanargmax), (eyes[:, 0], np.nanargmin), (eyes[:, 1], np.nanargmin),
                         (yaw, np.nanargmax), (yaw, np.nanargmin)):
        if np.isfinite(series).any():
            picks.append(found[int(pick(series))])
    for k in np.linspace(0, len(found) - 1, count).round().astype(int):
        picks.append(found[int(k)])
    out: list[int] = []
    for p in picks:
        if p not in out and len(out) < count:
            out.append(p)
    return sorted(out)
