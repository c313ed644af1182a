"""How a test drives a stage, so that its test reads like its use: the test settings (``config``), a
face at a known pose (``face_at``), the tracker over a list of frames (``track_frames``), the frame
processor over them (``run_frames``), how far the head moved (``rigid_deviation``), and the live
pipeline on a worker thread streaming into a recording virtual camera (``Live``, ``vcam_sink``).

Frames are (H, W, 3) uint8 RGB; ``None`` in a frame list is a read that gave nothing (the camera
lost). Times are the processor's clock in seconds; by default frame ``i`` is at ``i / fps``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from livehead.config import LiveHeadConfig, with_overrides
from livehead.face import landmarks as lm
from livehead.face.geometry import rotation_from_euler
from livehead.pipeline.pipeline import Pipeline
from livehead.pipeline.processor import ProcessResult
from livehead.sinks import VirtualCameraSink
from livehead.stages.compose import Compositor
from livehead.stages.tracking import FaceTracker, canonical_face, observation_from_landmarks
from livehead.types import FaceObservation

__all__ = ["OUTPUT_SIZE", "FrameRun", "Live", "composed", "config", "face_at", "mad", "rigid_deviation", "run_frames",
           "track_frames", "vcam_sink", "wait_until"]

OUTPUT_SIZE = (640, 360)  # (w, h): small enough for a loaded CPU, the shape of a real 16:9 output
_RIGID = lm.as_index(lm.RIGID)


def config(**overrides: object) -> LiveHeadConfig:
    """The settings tests run with: an ``OUTPUT_SIZE`` output and no preview window, then ``overrides``.

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


# ---------------------------------------------------------------------------------------------
# The live pipeline


def wait_until(condition: Callable[[], object], timeout: float, what: str, *,
               failed: Callable[[], BaseException | None] = lambda: None) -> None:
    """Poll ``condition`` every 5 ms until it holds. Raises what ``failed()`` returns as soon as it
    returns an error (a worker thread died), and an AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        error = failed()
        if error is not None:
            raise error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.005)


def vcam_sink(vcam_backend, cfg: LiveHeadConfig, *, overlays: bool = False) -> VirtualCameraSink:
    """The virtual camera sink as ``cfg``'s ``[output]`` opens it, on the ``vcam_backend`` fixture's recorder."""
    name, _ = vcam_backend
    out = cfg.output
    return VirtualCameraSink(width=out.size[0], height=out.size[1], fps=out.fps, backend=name, overlays=overlays)


def composed(image: np.ndarray, *, mirror: bool = False) -> np.ndarray:
    """``image`` as the compositor places it in an ``OUTPUT_SIZE`` frame."""
    return Compositor(size=OUTPUT_SIZE, mirror=mirror).compose(image)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, in grey levels."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


class Live:
    """A pipeline streaming on a worker thread, as the CLI runs it on the main thread; the test's
    thread presses keys (``Pipeline.handle_key``, as the preview window and the global hotkeys do)
    and waits for what reaches the recording virtual camera (``vcam_backend``, ``vcam_sink``).

    ``with Live(pipeline, backend_cls) as live:`` starts it and waits for the first output frame;
    leaving stops and closes the pipeline and re-raises what ``Pipeline.run`` raised.
    """

    def __init__(self, pipeline: Pipeline, backend_cls: type, *, max_seconds: float = 60.0) -> None:
        self.pipeline = pipeline
        self.backend_cls = backend_cls
        self.summary: dict | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(max_seconds,), name="test-render-loop", daemon=True)

    def _run(self, max_seconds: float) -> None:
        try:
            self.summary = self.pipeline.run(max_seconds=max_seconds)
        except BaseException as exc:  # re-raised on the test's thread in __exit__
            self.error = exc

    def __enter__(self) -> "Live":
        self._thread.start()
        self.wait(lambda: self.backend_cls.instances and len(self.vcam.times) > 0, 30.0, "the first output frame")
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        self.pipeline.stop()
        self._thread.join(5.0)
        self.pipeline.close()
        if exc_type is not None:
            return  # the test's own failure says more than anything found here
        if self.error is not None:
            raise self.error
        assert not self._thread.is_alive(), "Pipeline.run did not return within 5 s of stop()"

    @property
    def vcam(self):
        return self.backend_cls.instances[0]

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        wait_until(condition, timeout, what, failed=lambda: self.error)

    def count(self) -> int:
        return len(self.vcam.times)

    def wait_frames(self, n: int, timeout: float = 20.0) -> int:
        """Wait until ``n`` more frames reached the virtual camera; returns the count before."""
        start = self.count()
        self.wait(lambda: self.count() >= start + n, timeout, f"{n} more output frames")
        return start

    def first(self, shows: Callable[[np.ndarray], bool], after: int, timeout: float = 10.0) -> int:
        """Index of the first frame from ``after`` on for which ``shows(frame)`` holds.

        A key takes effect on the next rendered frame; until a new camera frame arrives the loop
        may repeat its previous output, so the change need not show in the very next frame.
        """
        index = after

        def found() -> bool:
            nonlocal index
            thumbs = self.vcam.thumbs
            while index < len(thumbs):
                if shows(thumbs[index]):
                    return True
                index += 1
            return False

        self.wait(found, timeout, "a frame showing the change")
        return index

    def key(self, key: str | int) -> int:
        """Press ``key``; returns the frame count before it (later frames may show its effect)."""
        before = self.count()
        assert self.pipeline.handle_key(key), f"key {key!r} is not bound"
        return before
