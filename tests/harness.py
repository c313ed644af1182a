"""How a test drives a stage, so that its test reads like its use: the test settings (``config``), a
face at a known pose (``face_at``), the tracker over a list of frames (``track_frames``), the frame
processor over them (``run_frames``), and how far the head moved (``rigid_deviation``).

Frames are (H, W, 3) uint8 RGB; ``None`` in a frame list is a read that gave nothing (the camera
lost). Times are the processor's clock in seconds; by default frame ``i`` is at ``i / fps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from livehead.config import LiveHeadConfig, with_overrides
from livehead.face import landmarks as lm
from livehead.face.geometry import rotation_from_euler
from livehead.pipeline.processor import ProcessResult
from livehead.stages.tracking import FaceTracker, canonical_face, observation_from_landmarks
from livehead.types import FaceObservation

__all__ = ["OUTPUT_SIZE", "FrameRun", "config", "face_at", "rigid_deviation", "run_frames", "track_frames"]

OUTPUT_SIZE = (640, 360)  # (w, h): small enough for a loaded CPU, the shape of a real 16:9 output
_RIGID = lm.as_index(lm.RIGID)


def config(**overrides: object) -> LiveHeadConfig:
    """The settings tests run with: a ``OUTPUT_SIZE`` output and no preview window, then ``overrides``.

    Keys are dotted setting names, as ``with_overrides`` takes them:
    ``config(**{"output.fps": 15.0, "capture.realtime": False})``.
    """
    return with_overrides(LiveHeadConfig(), {"output.size": OUTPUT_SIZE, "output.preview": False, **overrides})


def face_at(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, scale: float = 100.0,
            shift: Sequence[float] = (320.0, 240.0, 0.0), local: np.ndarray | None = None, *,
            timestamp: float = 0.0, frame_size: tuple[int, int] = (640, 480)) -> FaceObservation:
    """The canonical face (or ``local``, (478, 3) canonical units) posed in a frame: degrees,
    ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``, ``scale`` pixels per canonical unit (≈ inter-ocular
    distance), ``shift`` the pixel position of the canonical origin."""
    local = canonical_face() if local is None else local
    pts = scale * local @ rotation_from_euler(yaw, pitch, roll).T + np.asarray(shift)
    return observation_from_landmarks(pts, timestamp=timestamp, frame_size=frame_size)


def rigid_deviation(target: np.ndarray, neutral: np.ndarray, face_size: float) -> float:
    """Largest distance of a rigid (expression-free) landmark of ``target`` from ``neutral`` (both
    (478, ≥2) pixels), in face sizes: how far the head, not the expression, has moved."""
    return float(np.linalg.norm(target[_RIGID, :2] - neutral[_RIGID, :2], axis=1).max() / face_size)


def _times(n: int, fps: float, times: Sequence[float] | None) -> list[float]:
    if times is None:
        return [i / fps for i in range(n)]
    if len(times) != n:
        raise ValueError(f"{len(times)} times for {n} frames")
    return [float(t) for t in times]


def track_frames(frames: Sequence[np.ndarray | None], *, fps: float = 30.0, times: Sequence[float] | None = None,
                 every: int = 1) -> list[FaceObservation | None]:
    """The driver's face in each frame, as the live tracking thread sees it: one video-mode
    ``FaceTracker`` over the whole list, in order. Only every ``every``-th frame is tracked (the
    tracker never sees the others); skipped and ``None`` frames give None."""
    times = _times(len(frames), fps, times)
    with FaceTracker() as tracker:
        return [tracker.track(frame, t) if frame is not None and i % every == 0 else None
                for i, (frame, t) in enumerate(zip(frames, times))]


class Processor(Protocol):
    """A stage shaped like ``FrameProcessor``: one driver frame and its face in, one result out."""

    def process(self, frame: np.ndarray | None, observation: FaceObservation | None, now: float | None = None): ...


@dataclass
class FrameRun:
    """What ``run_frames`` fed the stage and what came out, index by index."""

    frames: list[np.ndarray | None]  # the driver frames
    times: list[float]  # the processor's clock at each frame, seconds
    observations: list[FaceObservation | None]  # the raw (unsmoothed) face handed to the stage
    results: list[ProcessResult]

    @property
    def outputs(self) -> list[np.ndarray]:
        """The (h, w, 3) uint8 output frames, output size."""
        return [r.output for r in self.results]

    @property
    def avatar_frames(self) -> list[np.ndarray]:
        """The engine's (H, W, 3) uint8 frames, the avatar's working size."""
        return [r.avatar_frame for r in self.results]

    @property
    def targets(self) -> np.ndarray:
        """(N, 478, 3) float32 target landmarks, avatar pixels."""
        return np.stack([r.target_landmarks for r in self.results])


def run_frames(processor: Processor, frames: Sequence[np.ndarray | None], *, fps: float = 30.0,
               times: Sequence[float] | None = None,
               observations: Sequence[FaceObservation | None] | None = None) -> FrameRun:
    """Drive ``processor`` over ``frames`` one by one, as the render loop does, without threads.

    ``observations`` are the faces in ``frames`` (None: no face); without them the frames are
    tracked here first (``track_frames``). ``times`` default to ``i / fps``.
    """
    frames = list(frames)
    times = _times(len(frames), fps, times)
    if observations is None:
        observations = track_frames(frames, times=times)
    elif len(observations) != len(frames):
        raise ValueError(f"{len(observations)} observations for {len(frames)} frames")
    results = [processor.process(frame, obs, now=t) for frame, obs, t in zip(frames, observations, times)]
    return FrameRun(frames, times, list(observations), results)
