"""Recorded face tracking, replayed: MediaPipe runs once on a clip (and on the avatar photo) where it
is installed; a benchmark elsewhere replays the observations, so the pipeline runs on a real clip
without MediaPipe (the GPU check's machine has a torch/numpy set that mediapipe 0.10.21 cannot join).

The replay finds each decoded frame's recording by its look (a 12×12 thumbnail, nearest in L1), so
it does not depend on frame indices or on bit-exact decoding by another OpenCV build.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livehead.stages.tracking import observation_from_landmarks
from livehead.types import NUM_LANDMARKS, FaceObservation

__all__ = ["ReplayTracker", "load_avatar_recording", "record_avatar", "record_clip", "thumbnail"]

_THUMB = 12


def thumbnail(image: np.ndarray) -> np.ndarray:
    """``(12, 12, 3)`` float32 summary of an (H, W, 3) frame: what the replay matches frames by."""
    return cv2.resize(image, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)


def record_clip(clip: str | Path, out: str | Path, *, max_frames: int | None = None) -> int:
    """Track every frame of ``clip`` with MediaPipe and save ``out`` (.npz); returns the frame count.

    Arrays: ``thumbs`` (N, 12, 12, 3), ``landmarks`` (N, 478, 3) float32 (NaN where no face),
    ``frame_size`` (w, h).
    """
    from livehead.stages.tracking import FaceTracker

    cap = cv2.VideoCapture(str(clip))
    thumbs, marks = [], []
    size = (0, 0)
    with FaceTracker() as tracker:
        while max_frames is None or len(thumbs) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            size = (rgb.shape[1], rgb.shape[0])
            obs = tracker.track(rgb, len(thumbs) / 25.0)
            thumbs.append(thumbnail(rgb))
            marks.append(np.full((NUM_LANDMARKS, 3), np.nan, np.float32) if obs is None else obs.landmarks)
    cap.release()
    if not thumbs:
        raise ValueError(f"could not decode any frame of {clip}")
    np.savez_compressed(out, thumbs=np.stack(thumbs), landmarks=np.stack(marks), frame_size=np.array(size))
    return len(thumbs)


class ReplayTracker:
    """A face tracker (``track(image, timestamp)``, ``close()``) answering from a :func:`record_clip` file."""

    def __init__(self, recording: str | Path) -> None:
        data = np.load(recording)
        self.thumbs = data["thumbs"].reshape(len(data["thumbs"]), -1)
        self.landmarks = data["landmarks"]
        self.frame_size = tuple(int(v) for v in data["frame_size"])

    def track(self, image: np.ndarray, timestamp: float = 0.0) -> FaceObservation | None:
        if (image.shape[1], image.shape[0]) != self.frame_size:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the recording {self.frame_size}")
        index = int(np.abs(self.thumbs - thumbnail(image).reshape(1, -1)).sum(1).argmin())
        marks = self.landmarks[index]
        if np.isnan(marks).any():
            return None
        return observation_from_landmarks(marks, timestamp=timestamp, frame_size=self.frame_size)

    def close(self) -> None:
        pass


def record_avatar(photo: str | Path, working_size: tuple[int, int], out: str | Path) -> None:
    """Save the avatar as LiveHead prepares it (decoded, fitted to ``working_size``, its face found)."""
    from livehead.avatars.photo import load_avatar

    avatar = load_avatar(photo, working_size=working_size)
    np.savez_compressed(out, image=avatar.image, landmarks=avatar.face.landmarks, name=np.array(avatar.name),
                        content_hash=np.array(avatar.content_hash), working_size=np.array(working_size))


def load_avatar_recording(path: str | Path):
    """The :class:`~livehead.animators.base.AvatarImage` saved by :func:`record_avatar` (no MediaPipe)."""
    from livehead.animators.base import AvatarImage

    data = np.load(path)
    image = data["image"]
    face = observation_from_landmarks(data["landmarks"], timestamp=0.0, frame_size=(image.shape[1], image.shape[0]))
    return AvatarImage(name=str(data["name"]), image=image, face=face, content_hash=str(data["content_hash"]))
