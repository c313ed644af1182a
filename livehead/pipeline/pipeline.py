"""The conductor: capture thread → tracking thread → render loop → sinks.

Only wiring lives here. Each stage is its own module; the render loop runs on the caller's thread
(so Ctrl-C and the preview window work) and never waits on a queue: it takes the newest tracked
frame, and when none is new it keeps the sinks fed with the last frame (or eases the avatar back to
neutral when the face or the camera is gone).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from livehead.ui import overlays
from livehead.animators.base import Animator, AvatarState
from livehead.stages.capture import CaptureThread, FrameSlot, Source
from livehead.config import LiveHeadConfig
from livehead.ui.controls import Command, ControlState, Dispatcher, apply, build_keymap
from livehead.pipeline.processor import FrameProcessor, ProcessResult
from livehead.errors import LiveHeadError
from livehead.sinks import Sink
from livehead.pipeline.stats import RunStats
from livehead.stages.tracking import FaceTracker
from livehead.types import FaceObservation, Frame

log = logging.getLogger(__name__)

__all__ = ["Pipeline", "Tracked", "TrackingThread"]

LOST_AFTER_S = 0.5  # no new camera frame for this long → treat the driver as lost
ENGINE_FALLBACK_AFTER = 10
MAX_TRACKER_RESTARTS = 5  # a tracker that keeps failing is a real error, surfaced by run()  # consecutive engine faults before handing over to the mesh engine


@dataclass(frozen=True)
class Tracked:
    frame: Frame
    observation: FaceObservation | None
    track_ms: float


def _zoomed(frame: Frame, zoom: float) -> Frame:
    """The central 1/zoom of the frame (W/S keys); the tracker and the engines see only that."""
    if zoom <= 1.0:
        return frame
    h, w = frame.image.shape[:2]
    cw, ch = max(16, int(w / zoom)), max(16, int(h / zoom))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    crop = np.ascontiguousarray(frame.image[y0 : y0 + ch, x0 : x0 + cw])
    return Frame(image=crop, index=frame.index, capture_time=frame.capture_time, meta={**frame.meta, "zoom": zoom})


class TrackingThread:
    """Tracks the newest captured frame on its own thread; results go to a ``FrameSlot``."""

    def __init__(self, capture: CaptureThread, config: LiveHeadConfig, stats: RunStats, zoom=lambda: 1.0) -> None:
        self.capture = capture
        self.zoom = zoom  # callable → current driver-crop magnification (1 = whole frame)
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

    def _new_tracker(self) -> FaceTracker:
        cfg = self.config.tracking
        return FaceTracker(
            max_faces=cfg.max_faces,
            min_detection_confidence=cfg.min_detection_confidence,
            min_tracking_confidence=cfg.min_tracking_confidence,
        )

    def _run(self) -> None:
        last = -1
        restarts = 0
        tracker = None
        try:
            tracker = self._new_tracker()
            while not self._stop.is_set():
                frame: Frame | None = self.capture.slot.get(last, timeout=0.1)
                if frame is None:
                    if self.capture.slot.closed:
                        break
                    continue
                last = frame.index
                frame = _zoomed(frame, self.zoom())
                t0 = time.perf_counter()
                try:
                    obs = tracker.track(frame.image, frame.capture_time)
                except ValueError as exc:  # e.g. a frame of the wrong shape from a broken source
                    log.warning("Tracking skipped a frame: %s", exc)
                    obs = None
                except RuntimeError as exc:  # MediaPipe's graph failed: start a fresh one
                    restarts += 1
                    if restarts > MAX_TRACKER_RESTARTS:
                        raise
                    log.error("Face tracker failed (%s); restarting it (%d/%d).", exc, restarts, MAX_TRACKER_RESTARTS)
                    tracker.close()
                    tracker = self._new_tracker()
                    obs = None
                ms = (time.perf_counter() - t0) * 1e3
                self.stats.add("tracking", ms)
                self.slot.put(Tracked(frame, obs, ms), frame.index)
        except BaseException as exc:  # surfaced by the render loop, which owns error reporting
            self.error = exc
        finally:
            if tracker is not None:
                tracker.close()
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
        states: list[AvatarState] | None = None,
        library=None,
        sinks: list[Sink],
        throttle: bool = True,
    ) -> None:
        self.library = library  # an AvatarLibrary preparing avatars in the background, or None
        states = list(states or []) or (library.ready() if library is not None else [])
        if not states:
            raise ValueError("Pipeline needs at least one prepared avatar")
        self.config = config
        self.source = source
        self.animator = animator
        self.states = states
        self.sinks = list(sinks)
        self.throttle = throttle
        self.stats = RunStats()
        self.processor = FrameProcessor(config, animator, self.states[0])
        self.keymap = build_keymap(config.controls.keymap)
        self.dispatcher = Dispatcher(self.keymap, self.commands_put)
        self.control = ControlState(mirror=config.output.mirror, num_avatars=len(self.states),
                                    eyes=config.engine.eyes, lips=config.engine.lips)
        self._pending_avatar: int | None = None
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.last_output: np.ndarray | None = None
        self.last_result: ProcessResult | None = None
        self._fallback_used = False
        self._consecutive_faults = 0
        self.capture = CaptureThread(source, pace=config.capture.realtime, stats=self.stats)
        self.tracking = TrackingThread(self.capture, config, self.stats, zoom=lambda: self.control.zoom)
        self._started = False
        info = animator.describe()
        log.info("Engine %s on backend %s, device %s, precision %s.", info.get("engine"), info.get("backend"),
                 info.get("device"), info.get("precision"))

    # ---- control (any thread) --------------------------------------------------------------
    @property
    def avatar_index(self) -> int:
        return self.control.avatar_index

    def commands_put(self, command: Command) -> None:
        self.commands.put(command)

    def post(self, action: str, argument: object = None) -> None:
        """Queue an action (see ``controls.ACTIONS``), applied between frames."""
        self.commands.put(Command(action, argument))

    def handle_key(self, key: str | int) -> bool:
        """A key from the preview window or global hotkeys; unknown keys are ignored."""
        return self.dispatcher.handle_key(key)

    def stop(self) -> None:
        self.stopping.set()

    def _sync_library(self) -> None:
        if self.library is None:
            return
        ready = self.library.ready()
        if len(ready) != len(self.states):
            self.states = ready
            self.control = dataclasses.replace(self.control, num_avatars=len(ready))

    def _switch_avatar(self, index: int) -> None:
        if 0 <= index < len(self.states):
            self.processor.set_avatar(self.states[index])
            self._pending_avatar = None
            # a pending switch lands after apply() refused it: keep A / D stepping from what is shown
            self.control = dataclasses.replace(self.control, avatar_index=index)
            log.info("Avatar %d: %s", index + 1, self.states[index].avatar.name)
        elif self._still_preparing(index):
            self._pending_avatar = index  # switch once the background preparation has it
        else:
            self._pending_avatar = None
            log.warning("Avatar %d could not be prepared; staying on avatar %d.", index + 1, self.avatar_index + 1)

    def _still_preparing(self, index: int | None) -> bool:
        """Whether avatar ``index`` (0-based) is not ready here yet but the library has it or works on it."""
        if self.library is None or index is None:
            return False
        pending = self.library.pending()  # before ready(): an avatar finishing in between counts twice, not never
        return len(self.states) <= index < pending + len(self.library.ready())

    def _apply_commands(self) -> None:
        self._sync_library()
        if self._pending_avatar is not None:
            self._switch_avatar(self._pending_avatar)
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            if command.action == "use_engine":
                self._use_engine(*command.argument)
                continue
            if command.action in ("select_avatar", "prev_avatar", "next_avatar"):
                self._pending_avatar = None  # the newest avatar request wins
                if command.action == "select_avatar" and self._still_preparing(command.argument):
                    self._pending_avatar = command.argument
                    log.info("Avatar %d is still being prepared; switching when it is ready.", command.argument + 1)
                    continue
            try:
                self.control, effects = apply(
                    self.control, command,
                    zoom_step=self.config.controls.zoom_step, ghost_step=self.config.controls.ghost_step,
                )
            except LiveHeadError as exc:
                log.warning("%s", exc)
                continue
            self.processor.compositor.mirror = self.control.mirror
            for effect in effects:
                if effect == "calibrate":
                    self.processor.calibrate()
                elif effect == "reset_smoothing":
                    self.processor.reset_filters()
                elif effect == "select_avatar":
                    self._switch_avatar(self.control.avatar_index)
                elif effect == "engine_controls":
                    self.processor.engine_controls = {"eyes": self.control.eyes, "lips": self.control.lips}
                    used = set(getattr(self.animator, "controls", ()))
                    log.info("Eyes %s, lips %s%s.", self.control.eyes, self.control.lips,
                             "" if {"eyes", "lips"} <= used else f" (engine {self.animator.describe().get('engine')} "
                             "ignores them; the liveportrait engine uses them)")
                elif effect == "reload_avatars" and self.library is not None:
                    self.library.reload()
                elif effect == "quit":
                    self.stopping.set()

    def switch_engine(self, animator: Animator) -> threading.Thread:
        """Prepare every avatar for ``animator`` in the background, then swap engines between frames.

        The stream keeps running on the old engine meanwhile; a failure is logged and the old engine stays.
        """

        def prepare() -> None:
            try:
                states = [animator.prepare(s.avatar) for s in list(self.states)]
            except Exception as exc:  # a broken checkpoint or OOM must not touch the running stream
                log.error("Could not switch to engine %s: %s", animator.describe().get("engine"), exc)
                return
            self.commands.put(Command("use_engine", (animator, states)))

        worker = threading.Thread(target=prepare, name="livehead-engine-switch", daemon=True)
        worker.start()
        return worker

    def _use_engine(self, animator: Animator, states: list[AvatarState]) -> None:
        """Swap engines between frames (prepared ``states`` belong to ``animator``)."""
        self.animator = animator
        self.states = states
        self.library = None  # its states belong to the previous engine
        self.processor.animator = animator
        self.processor.set_avatar(states[min(self.avatar_index, len(states) - 1)])
        self._consecutive_faults = 0
        info = animator.describe()
        log.info("Switched to engine %s on backend %s, device %s, precision %s.", info.get("engine"),
                 info.get("backend"), info.get("device"), info.get("precision"))

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
        from livehead.animators.mesh.animator import MeshAnimator

        self._fallback_used = True
        failed = self.animator.describe()["engine"]
        mesh = MeshAnimator(grid_step=self.config.engine.grid_step, mouth_fill=self.config.engine.mouth_fill)
        self._use_engine(mesh, [mesh.prepare(s.avatar) for s in self.states])
        log.error("Engine %s failed %d times in a row (%d in total); switched to the mesh engine.",
                  failed, ENGINE_FALLBACK_AFTER, self.stats.engine_faults)

    def decorate(self, output: np.ndarray, *, camera: np.ndarray | None, camera_lost: bool) -> np.ndarray:
        """The preview's view: output plus the overlays the controls switched on."""
        c = self.control
        frame = output
        if c.ghost_opacity > 0 and camera is not None:
            compositor = self.processor.compositor
            frame = overlays.draw_ghost(compositor.compose(camera), compositor.compose(self.processor.state.avatar.image),
                                        c.ghost_opacity)
        if c.show_landmarks and self.last_result is not None:
            image_size = self.processor.state.avatar.image.shape[1::-1]
            pts = self.processor.compositor.to_output(self.last_result.target_landmarks, image_size)
            frame = overlays.draw_landmarks(frame, pts)
        if c.show_stats:
            info = self.animator.describe()
            recent = self.stats.recent_ms()
            frame = overlays.draw_stats(
                frame, fps=self.stats.output_fps(), stage_ms=recent,
                engine=info.get("engine", "?"), backend=info.get("backend", "?"), device=info.get("device", "?"),
                precision=info.get("precision", "?"), dropped_frames=self.capture.dropped, camera_lost=camera_lost,
            )
        else:
            frame = overlays.draw_fps(frame, self.stats.output_fps())
        if c.show_help:
            frame = overlays.draw_help(frame, self.keymap)
        if c.needs_calibration:
            frame = overlays.draw_calibration_prompt(frame, self.keymap)
        return frame

    def _send(self, output: np.ndarray, *, camera: np.ndarray | None = None, camera_lost: bool = False) -> None:
        t0 = time.perf_counter()
        decorated = None
        for sink in list(self.sinks):
            frame = output
            if sink.name == "preview" or self.config.output.overlay_on_output:
                decorated = decorated if decorated is not None else self.decorate(output, camera=camera, camera_lost=camera_lost)
                frame = decorated
            try:
                sink.send(frame)
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
        self.stats.send_times.append(time.monotonic())
        self.stats.frames_out += 1
        self.last_output = output

    def run(self, *, max_frames: int | None = None, max_seconds: float | None = None) -> dict:
        """Stream until the source ends, ``stop()``/quit, or a limit; returns ``stats.summary()``."""
        self.start()
        interval = 1.0 / self.config.output.fps
        last_index = -1
        last_new = time.monotonic()
        last_sent = 0.0
        last_camera = None
        resolution_epoch = 0
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
                    last_index, last_new, last_camera = item.frame.index, now, item.frame.image
                    epoch = item.frame.meta.get("resolution_epoch", 0)
                    if epoch != resolution_epoch:  # the camera switched mode: the old reference no longer lines up
                        resolution_epoch = epoch
                        self.processor.calibrate()
                    if self.control.frozen and self.last_output is not None:
                        output = self.last_output
                    elif self.control.passthrough:
                        output = self.processor.compositor.compose(item.frame.image)
                    else:
                        output = self._render(item.frame.image, item.observation, item.frame.capture_time)
                    if output is not None:
                        self.stats.frames_rendered += 1
                        self.stats.add_latency((time.monotonic() - item.frame.capture_time) * 1e3)
                elif self.tracking.done.is_set():
                    if self.tracking.error is not None:  # the tracker died: say so, never end as if the file ended
                        raise self.tracking.error
                    break
                elif self.throttle and now - last_sent >= interval and self.last_output is not None:
                    # camera gone: ease the avatar to neutral, unless the user froze the picture or
                    # chose the real camera, where an animated avatar popping up would be a surprise
                    settled = self.last_result is not None and self.last_result.face_lost and self.last_result.amount == 0.0
                    if now - last_new > LOST_AFTER_S and not (self.control.frozen or self.control.passthrough or settled):
                        output = self._render(None, None, now)  # settled at neutral: repeat, don't re-render
                    else:
                        output = self.last_output
                    self.stats.repeats += 1
                if output is not None:
                    self._send(output, camera=last_camera, camera_lost=now - last_new > LOST_AFTER_S)
                    last_sent = time.monotonic()
                if max_frames is not None and self.stats.frames_out >= max_frames:
                    break
                if deadline is not None and now >= deadline:
                    break
        finally:
            self.stats.finished = time.monotonic()
            if self.stats.engine_faults:
                log.warning("Engine faults: %d frame(s) replaced by the previous good frame.", self.stats.engine_faults)
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
