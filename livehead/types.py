"""Data passed between pipeline stages.

Convention: images are ``(H, W, 3) uint8`` **RGB** everywhere inside LiveHead; conversion from/to
OpenCV's BGR happens only at the edges (capture, preview, file writing). Landmarks are
``(478, 3) float32`` with x/y in pixels of the frame they were measured in and z in the same scale
(MediaPipe's z multiplied by the frame width), camera looking down +z.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUM_LANDMARKS = 478


@dataclass(frozen=True)
class HeadPose:
    """Similarity transform from the canonical face to the observed face.

    ``landmarks ≈ scale * canonical @ rotation.T + translation`` (row vectors).

    Convention: ``rotation`` is (3, 3), right-handed, x right, y down, z away from the camera
    (image axes). ``yaw_pitch_roll`` are degrees derived from it with R = Ry(yaw) @ Rx(pitch) @ Rz(roll);
    positive yaw turns the face towards image +x, positive pitch tilts the chin down (towards +y),
    positive roll rotates the face clockwise in the image.
    """

    rotation: np.ndarray  # (3, 3) float64
    translation: np.ndarray  # (3,) float64, pixels
    scale: float  # pixels per canonical unit
    yaw_pitch_roll: tuple[float, float, float]  # degrees


@dataclass(frozen=True)
class FaceObservation:
    """One tracked face in one frame. ``None`` in its place means "no face in this frame"."""

    landmarks: np.ndarray  # (478, 3) float32, pixels
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    pose: HeadPose
    confidence: float
    timestamp: float  # capture time, seconds (time.monotonic clock)
    frame_size: tuple[int, int]  # (width, height) of the frame the landmarks live in
    num_faces: int = 1

    @property
    def face_size(self) -> float:
        """Face size in pixels (the pose scale): the unit for normalising motion and jitter."""
        return float(self.pose.scale)


@dataclass
class Frame:
    """A captured frame with its identity, so readers can tell new frames from repeated ones."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    index: int  # 0, 1, 2 … in capture order (gaps = frames dropped by the slot)
    capture_time: float  # time.monotonic() when it was read (latency is measured from it)
    meta: dict = field(default_factory=dict)
    media_time: float | None = None  # a video file's own timestamp of this frame, s from its first frame; None for cameras

    @property
    def time(self) -> float:
        """When this frame happened on the source's clock (seconds): the file's timestamp, else the capture time.

        Tracking, smoothing and the recording use it, so a file rendered faster or slower than
        real time moves and lasts exactly as it did when filmed.
        """
        return self.capture_time if self.media_time is None else self.media_time
