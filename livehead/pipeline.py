"""The conductor: capture thread → tracking thread → render loop → sinks.

Only wiring lives here. Each stage is its own module; the render loop runs on the caller's thread
(so Ctrl-C and the preview window work) and never waits on a queue: it takes the newest tracked
frame, and when none is new it keeps the sinks fed with the last frame (or eases the avatar back to
neutral when the face or the camera is gone).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from .animators.base import Animator, AvatarState
from .capture import CaptureThread, FrameSlot, Source
from .config import LiveHeadConfig
from .processor import FrameProcessor, ProcessResult
from .sinks import Sink
from .stats import RunStats
from .tracking import FaceTracker
from .types import FaceObservation, Frame

log = logging.getLogger(__name__)

__all__ = ["Pipeline", "Tracked", "TrackingThread"]

LOST_AFTER_S = 0.5  # no new camera frame for this long → treat the driver as lost
ENGINE_FALLBACK_AFTER = 10  # consecutive engine faults before handing over to the mesh engine


@dataclass(frozen=True)
class Tracked:
    frame: Frame
    observation: FaceObservation | None
    track_ms: float


class TrackingThread:
    """Tracks the newest captured frame on its own thread; results go to a ``FrameSlot``."""

    def __init__(self, capture: CaptureThread, config: LiveHeadConfig, stats: RunStats) -> None:
        self.capture = capture
        self.config = config
        self.stats = stats
        self.slot = FrameSlot()
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livehead-tracking", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> "TrackingThread":
        self._thread.start()
        return self

    def _run(self) -> None:
        cfg = self.config.tracking
        last = -1
        try:
            with FaceTracker(
                max_faces=cfg.max_faces,
                min_detection_confidence=cfg.min_detection_confidence,
                min_tracking_confidence=cfg.min_tracking_confidence,
            ) as tracker:
                while not self._stop.is_set():
                    frame: Frame | None = self.capture.slot.get(last, timeout=0.1)
                    if frame is None:
                        if self.capture.slot.closed:
                            break
                        continue
                    last = frame.index
                    t0 = time.perf_counter()
                    try:
                        obs = tracker.track(frame.image, frame.capture_time)
                    except ValueError as exc:  # e.g. a frame of the wrong shape from a broken source
                        log.warning("Tracking skipped a frame: %s", exc)
                        obs = None
                    ms = (time.perf_counter() - t0) * 1e3
                    self.stats.add("tracking", ms)
                    self.slot.put(Tracked(frame, obs, ms), frame.index)
        except BaseException as exc:  # surfaced by the render loop, which owns error reporting
            self.error = exc
        finally:
            self.done.set()
            self.slot.close()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


class Pipeline:
    """A running LiveHead stream. Use as a context manager, or call ``close()``.

    Args:
        config: the effective configuration.
        source: where driver frames come from (camera, file, or a test source).
        animator: the engine; ``states`` are its prepared avatars (index 0 is shown first).
        sinks: where output frames go.
        throttle: keep the sinks fed at ``config.output.fps`` even without new frames.
    """

    def __init__(
        self,
        config: LiveHeadConfig,
        *,
        source: Source,
        animator: Animator,
        states: list[AvatarState],
        sinks: list[Sink],
        throttle: bool = True,
    ) -> None:
        if not states:
            raise ValueError("Pipeline needs at least one prepared avatar")
        self.config = config
        self.source = source
        self.animator = animator
        self.states = list(states)
        self.sinks = list(sinks)
        self.throttle = throttle
        self.stats = RunStats()
        self.processor = FrameProcessor(config, animator, self.states[0])
        self.avatar_index = 0
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.last_output: np.ndarray | None = None
        self.last_result: ProcessResult | None = None
        self._fallback_used = False
        self._consecutive_faults = 0
        self.capture = CaptureThread(source, pace=config.capture.realtime, stats=self.stats)
        self.tracking = TrackingThread(self.capture, config, self.stats)
        self._started = False
        info = animator.describe()
        log.info("Engine %s on backend %s, device %s, precision %s.", info.get("engine"), info.get("backend"),
                 info.get("device"), info.get("precision"))

    # ---- control (any thread) --------------------------------------------------------------
    def post(self, action: str, argument: object = None) -> None:
        """Queue an action applied between frames: calibrate, select_avatar(i), quit, …"""
        self.commands.put((action, argument))

    def stop(self) -> None:
        self.stopping.set()

    def _apply_commands(self) -> None:
        while True:
            try:
                action, arg = self.commands.get_nowait()
            except queue.Empty:
                return
            if action == "calibrate":
                self.processor.calibrate()
            elif action == "select_avatar" and isinstance(arg, int) and 0 <= arg < len(self.states):
                self.avatar_index = arg
                self.processor.set_avatar(self.states[arg])
                log.info("Avatar %d: %s", arg + 1, self.states[arg].avatar.name)
            elif action == "add_avatar":
                self.states.append(arg)  # a prepared AvatarState from the background preparer
            elif action == "quit":
                self.stopping.set()
            else:
                log.debug("Ignored action %s(%r)", action, arg)

    # ---- run -------------------------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self.stats.started = time.monotonic()
            self.capture.start()
            self.tracking.start()
            self._started = True

    def _render(self, frame: np.ndarray | None, obs: FaceObservation | None, now: float) -> np.ndarray | None:
        """Process one frame; an engine fault repeats the last good frame and is counted."""
        try:
            result = self.processor.process(frame, obs, now=now)
        except Exception as exc:  # an engine fault must not end the stream: repeat, count, fall back
            self.stats.engine_faults += 1
            self._consecutive_faults += 1
            if self.stats.engine_faults == 1:
                log.error("Engine %s failed (%s); repeating the last good frame.", self.animator.describe()["engine"], exc)
            if self._consecutive_faults >= ENGINE_FALLBACK_AFTER and not self._fallback_used:
                self._fall_back_to_mesh()
            return self.last_output
        self._consecutive_faults = 0
        for stage, ms in result.timings_ms.items():
            self.stats.add(stage, ms)
        self.last_result = result
        return result.output

    def _fall_back_to_mesh(self) -> None:
        from .animators.mesh import MeshAnimator

        self._fallback_used = True
        failed = self.animator.describe()["engine"]
        mesh = MeshAnimator(grid_step=self.config.engine.grid_step, mouth_fill=self.config.engine.mouth_fill)
        self.states = [mesh.prepare(s.avatar) for s in self.states]
        self.animator = mesh
        self.processor.animator = mesh
        self.processor.set_avatar(self.states[self.avatar_index])
        log.error("Engine %s failed %d times in a row (%d in total); switched to the mesh engine.",
                  failed, ENGINE_FALLBACK_AFTER, self.stats.engine_faults)

    def _send(self, output: np.ndarray) -> None:
        t0 = time.perf_counter()
        for sink in list(self.sinks):
            try:
                sink.send(output)
            except Exception as exc:  # a broken sink is dropped, the others keep streaming
                log.error("Sink %s failed (%s); closing it and continuing without it.", sink.name, exc)
                self.sinks.remove(sink)
                try:
                    sink.close()
                except Exception:  # closing a failed device may fail too; nothing more to do
                    pass
            if getattr(sink, "closed_by_user", False):
                self.stopping.set()
        self.stats.add("sink", (time.perf_counter() - t0) * 1e3)
        self.stats.frames_out += 1
        self.last_output = output

    def run(self, *, max_frames: int | None = None, max_seconds: float | None = None) -> dict:
        """Stream until the source ends, ``stop()``/quit, or a limit; returns ``stats.summary()``."""
        self.start()
        interval = 1.0 / self.config.output.fps
        last_index = -1
        last_new = time.monotonic()
        last_sent = 0.0
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self.stopping.is_set():
                self._apply_commands()
                if self.tracking.error is not None:
                    raise self.tracking.error
                item: Tracked | None = self.tracking.slot.get(last_index, timeout=interval / 2)
                now = time.monotonic()
                output = None
                if item is not None:
                    last_index, last_new = item.frame.index, now
                    output = self._render(item.frame.image, item.observation, item.frame.capture_time)
                    if output is not None:
                        self.stats.frames_rendered += 1
                        self.stats.add_latency((time.monotonic() - item.frame.capture_time) * 1e3)
                elif self.tracking.done.is_set():
                    break
                elif self.throttle and now - last_sent >= interval and self.last_output is not None:
                    if now - last_new > LOST_AFTER_S:
                        output = self._render(None, None, now)  # camera gone: ease to neutral
                    else:
                        output = self.last_output
                    self.stats.repeats += 1
                if output is not None:
                    self._send(output)
                    last_sent = time.monotonic()
                if max_frames is not None and self.stats.frames_out >= max_frames:
                    break
                if deadline is not None and now >= deadline:
                    break
        finally:
            self.stats.finished = time.monotonic()
        summary = self.stats.summary()
        summary["dropped_frames"] = self.capture.dropped + self.tracking.slot.dropped
        summary["engine"] = self.animator.describe()
        return summary

    def close(self) -> None:
        """Stop threads (bounded waits), release the source and every sink. Idempotent."""
        self.stopping.set()
        self.capture.stop(timeout=1.0)
        self.tracking.stop(timeout=1.0)
        self.capture.source.close()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # keep closing the others
                log.warning("Closing sink %s failed: %s", sink.name, exc)
        self.sinks = []

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
