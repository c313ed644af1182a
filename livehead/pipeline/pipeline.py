"""The conductor: capture thread → tracking thread → render loop → sinks.

Only wiring lives here. Each stage is its own module; the render loop runs on the caller's thread
(so Ctrl-C and the preview window work) and never waits on a queue: it takes the newest tracked
frame, and when none is new it keeps the sinks fed with the last frame (or eases the avatar back to
neutral when the face or the camera is gone). Control effects come from the table in
:mod:`livehead.ui.controls`, overlays from :mod:`livehead.ui.overlays`, engines from the registry.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import queue
import threading
import time

import numpy as np

from livehead.animators.base import Animator, AvatarState
from livehead.animators.registry import animator_from_config
from livehead.config import LiveHeadConfig
from livehead.errors import LiveHeadError
from livehead.pipeline.avatars import AvatarSelection
from livehead.pipeline.face_watch import FaceWatch
from livehead.pipeline.processor import FrameProcessor, ProcessResult
from livehead.pipeline.stats import RunStats
from livehead.pipeline.tracking_thread import Tracked, TrackingThread
from livehead.sinks import Sink
from livehead.stages.capture import CaptureThread, Source
from livehead.types import FaceObservation
from livehead.ui import overlays
from livehead.ui.controls import ControlState, apply, carry_out
from livehead.ui.keymap import Command, Dispatcher, build_keymap

log = logging.getLogger(__name__)

__all__ = ["ENGINE_FALLBACK_AFTER", "FALLBACK_ENGINE", "LOST_AFTER_S", "Pipeline"]

LOST_AFTER_S = 0.5  # no new camera frame for this long → treat the driver as lost
ENGINE_FALLBACK_AFTER = 10  # consecutive engine faults before handing over to the fallback engine
FALLBACK_ENGINE = "mesh"  # needs no weights and no GPU


def _describe(animator: Animator) -> str:
    info = animator.describe()
    return (f"engine {info.get('engine')} on backend {info.get('backend')}, device {info.get('device')}, "
            f"precision {info.get('precision')}")


class Pipeline:
    """A running LiveHead stream. Use as a context manager, or call ``close()``.

    Args:
        config: the effective configuration.
        source: where driver frames come from (camera, file, or a test source).
        animator: the engine; ``states`` are its prepared avatars (index 0 is shown first).
        library: an :class:`~livehead.avatars.library.AvatarLibrary` preparing avatars in the
            background (its ready avatars are used when ``states`` is empty), or None.
        sinks: where output frames go. A sink that fails is dropped (and listed in ``failed_sinks``);
            the stream stops when none is left.
        throttle: keep the sinks fed at ``config.output.fps`` even without new frames.
        tracker_factory: makes the face tracker (default MediaPipe's); benchmarks replay recorded tracking.

    A video file is rendered frame by frame, in order and without repeats (``every_frame``), when
    ``config.capture.realtime`` is false, or "auto" and no sink is ``live``; otherwise it plays in
    real time like a camera. Either way each frame reaches the sinks with its time on the source's
    clock (see :class:`livehead.sinks.base.Sink`).
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
        tracker_factory=None,
    ) -> None:
        states = list(states or []) or (library.ready() if library is not None else [])
        if not states:
            raise ValueError("Pipeline needs at least one prepared avatar")
        for sink in sinks:
            missing = [a for a in ("name", "wants_overlays", "closed_by_user", "live", "send", "close")
                       if not hasattr(sink, a)]
            if missing:
                raise TypeError(f"sink {type(sink).__name__} lacks {', '.join(missing)} (see livehead.sinks.base.Sink)")
        self.config = config
        self.animator = animator
        self.avatars = AvatarSelection(states, library)
        self.sinks = list(sinks)
        self.failed_sinks: list[tuple[str, str]] = []  # (name, reason) of sinks that failed mid-stream
        realtime = config.capture.realtime
        self.every_frame = source.is_file and (realtime is False or (realtime == "auto" and not any(s.live for s in sinks)))
        self.throttle = throttle and not self.every_frame
        self.stats = RunStats()
        self.watch = FaceWatch(source.name)
        self.processor = FrameProcessor(config, animator, states[0])
        self.keymap = build_keymap(config.controls.keymap)
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.dispatcher = Dispatcher(self.keymap, self.commands.put)
        self.control = ControlState(mirror=config.output.mirror, num_avatars=len(states), eyes=config.engine.eyes,
                                    lips=config.engine.lips)
        self._engine_swaps: queue.SimpleQueue[tuple[Animator, list[AvatarState]]] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.last_output: np.ndarray | None = None
        self.last_result: ProcessResult | None = None
        self._last_camera: np.ndarray | None = None
        self._fallback_used = False
        self._consecutive_faults = 0
        self._origin: float | None = None  # source time at which the stream starts (sink timestamps count from it)
        self._last_frame: tuple[float, float] | None = None  # (source time, capture time) of the newest frame
        self._last_stamp = 0.0  # timestamp of the last frame sent (they never go back)
        self.capture = CaptureThread(source, pace=not self.every_frame, stats=self.stats)
        self.tracking = TrackingThread(self.capture, config, self.stats, zoom=lambda: self.control.zoom,
                                       every_frame=self.every_frame, tracker_factory=tracker_factory)
        self._started = False
        self._frozen = False  # start-up objects moved out of the collector's reach (start)
        log.info("Running %s.", _describe(animator))
        if source.is_file:
            log.info("%s: %s.", source.name, "every frame rendered in order (no preview or virtual camera to keep pace "
                     "with)" if self.every_frame else "played in real time, frames dropped when rendering falls behind")

    # ---- control (any thread) --------------------------------------------------------------
    @property
    def avatar_index(self) -> int:
        """Index of the avatar on screen, in the order of :attr:`states`."""
        return self.control.avatar_index

    @property
    def states(self) -> list[AvatarState]:
        """Every prepared avatar the stream can switch to."""
        return self.avatars.states

    def post(self, action: str, argument: object = None) -> None:
        """Queue an action (see :data:`livehead.ui.keymap.ACTIONS`), applied between frames."""
        self.commands.put(Command(action, argument))

    def handle_key(self, key: str | int) -> bool:
        """A key from the preview window or global hotkeys; unknown keys are ignored."""
        return self.dispatcher.handle_key(key)

    def stop(self) -> None:
        """Ask the render loop to finish after the current frame (any thread)."""
        self.stopping.set()

    def switch_engine(self, animator: Animator) -> threading.Thread:
        """Prepare every avatar for ``animator`` in the background, then swap engines between frames.

        The stream keeps running on the old engine meanwhile; a failure is logged and the old engine stays.
        """

        def prepare() -> None:
            try:
                states = [animator.prepare(s.avatar) for s in list(self.avatars.states)]
            except Exception as exc:  # a broken checkpoint or OOM must not touch the running stream
                log.error("Could not switch to engine %s: %s", animator.describe().get("engine"), exc)
                return
            self._engine_swaps.put((animator, states))

        worker = threading.Thread(target=prepare, name="livehead-engine-switch", daemon=True)
        worker.start()
        return worker

    # ---- control effects (ui.controls.EFFECTS), called between frames ------------------------
    def calibrate(self, state: ControlState) -> None:
        """Effect ``calibrate``: the driver's next face becomes the neutral reference."""
        self.processor.calibrate()

    def reset_smoothing(self, state: ControlState) -> None:
        """Effect ``reset_smoothing``: the One Euro filters forget their history."""
        self.processor.reset_filters()

    def select_avatar(self, state: ControlState) -> None:
        """Effect ``select_avatar``: show the avatar at ``state.avatar_index``."""
        self._show_avatar(state.avatar_index)

    def reload_avatars(self, state: ControlState) -> None:
        """Effect ``reload_avatars``: rescan the avatar folder (new photos are prepared in the background)."""
        if self.avatars.library is not None:
            self.avatars.library.reload()

    def engine_controls(self, state: ControlState) -> None:
        """Effect ``engine_controls``: pass the eyes/lips switches to the engine, saying when it ignores them."""
        self.processor.engine_controls = {"eyes": state.eyes, "lips": state.lips}
        used = set(getattr(self.animator, "controls", ()))
        log.info("Eyes %s, lips %s%s.", state.eyes, state.lips,
                 "" if {"eyes", "lips"} <= used else f" (engine {self.animator.describe().get('engine')} "
                 "ignores them; the liveportrait engine uses them)")

    def mirror(self, state: ControlState) -> None:
        """Effect ``mirror``: flip the output left to right."""
        self.processor.compositor.mirror = state.mirror

    def quit(self, state: ControlState) -> None:
        """Effect ``quit``: stop the stream after the current frame."""
        self.stopping.set()

    def _show_avatar(self, index: int) -> None:
        chosen = self.avatars.get(index, current=self.avatar_index)
        if chosen is not None:
            self.processor.set_avatar(chosen)
            # a pending switch lands after apply() refused it: keep A / D stepping from what is shown
            self.control = dataclasses.replace(self.control, avatar_index=index)

    def _apply_commands(self) -> None:
        while True:
            try:
                self._use_engine(*self._engine_swaps.get_nowait())
            except queue.Empty:
                break
        self.avatars.sync()
        if len(self.avatars.states) != self.control.num_avatars:
            self.control = dataclasses.replace(self.control, num_avatars=len(self.avatars.states))
        if self.avatars.pending is not None:
            self._show_avatar(self.avatars.pending)
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            if self.avatars.defer(command):
                continue
            try:
                self.control, effects = apply(self.control, command, zoom_step=self.config.controls.zoom_step,
                                              ghost_step=self.config.controls.ghost_step)
            except LiveHeadError as exc:
                log.warning("%s", exc)
                continue
            carry_out(self, self.control, effects)

    def _use_engine(self, animator: Animator, states: list[AvatarState]) -> None:
        """Swap engines between frames (prepared ``states`` belong to ``animator``)."""
        self.animator = animator
        self.avatars.replace(states)
        self.processor.animator = animator
        self.processor.set_avatar(states[min(self.avatar_index, len(states) - 1)])
        self._consecutive_faults = 0
        log.info("Switched to %s.", _describe(animator))

    # ---- run -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the capture and tracking threads (idempotent); :meth:`run` calls it."""
        if not self._started:
            # A full collection walks every object alive; with the engine, tracker and avatars
            # loaded that took 70-80 ms with the GIL held: a dropped frame each time it ran
            # mid-stream. Collected once here and frozen, start-up objects are left out of it.
            gc.collect()
            gc.freeze()
            self._frozen = True
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
                self._fall_back()
            return self.last_output
        self._consecutive_faults = 0
        for stage, ms in result.timings_ms.items():
            self.stats.add(stage, ms)
        self.last_result = result
        return result.output

    def _fall_back(self) -> None:
        self._fallback_used = True
        failed = self.animator.describe()["engine"]
        fallback = animator_from_config(self.config, engine=FALLBACK_ENGINE)
        self._use_engine(fallback, [fallback.prepare(s.avatar) for s in self.avatars.states])
        log.error("Engine %s failed %d times in a row (%d in total); switched to the %s engine.",
                  failed, ENGINE_FALLBACK_AFTER, self.stats.engine_faults, FALLBACK_ENGINE)

    def _overlay_inputs(self, camera_lost: bool) -> overlays.OverlayInputs:
        last = self.last_result
        return overlays.OverlayInputs(
            compositor=self.processor.compositor, avatar=self.processor.state.avatar.image, camera=self._last_camera,
            target_landmarks=None if last is None else last.target_landmarks, fps=self.stats.output_fps(),
            stage_ms=self.stats.recent_ms(), engine=self.animator.describe(), dropped_frames=self.capture.dropped,
            camera_lost=camera_lost, notices=self._notices(),
        )

    def _notices(self) -> tuple[str, ...]:
        failed = tuple(f"{name.upper()} FAILED" for name, _ in self.failed_sinks)
        return failed + (self.watch.notices(self._clock(time.monotonic())) if self._last_frame else ())

    def _clock(self, now: float) -> float:
        """Source time at monotonic ``now``: the newest frame's time plus what has passed since it was read."""
        if self._last_frame is None:
            return now
        frame_time, captured = self._last_frame
        return frame_time + (now - captured)

    def _send(self, output: np.ndarray, timestamp: float, *, camera_lost: bool = False) -> None:
        t0 = time.perf_counter()
        decorated = None
        for sink in list(self.sinks):
            frame = output
            if sink.wants_overlays:
                if decorated is None:
                    decorated = overlays.decorate(output, self.control, self.keymap, self._overlay_inputs(camera_lost))
                frame = decorated
            try:
                sink.send(frame, timestamp)
            except Exception as exc:  # a broken sink is dropped; the others keep streaming while any is left
                self.sinks.remove(sink)
                self.failed_sinks.append((sink.name, str(exc) or type(exc).__name__))
                left = ", ".join(s.name for s in self.sinks)
                log.error("Sink %s failed (%s); %s.", sink.name, exc,
                          f"continuing with {left}" if left else "nothing is left to send to, so the stream stops")
                if not self.sinks:
                    self.stopping.set()
                try:
                    sink.close()
                except Exception:  # closing a failed device may fail too; nothing more to do
                    pass
            if sink.closed_by_user:
                self.stopping.set()
        self.stats.add("sink", (time.perf_counter() - t0) * 1e3)
        self.stats.send_times.append(time.monotonic())
        self.stats.frames_out += 1
        self.last_output = output

    def _output_for(self, item: Tracked, observation: FaceObservation | None) -> np.ndarray | None:
        """The output for a newly tracked frame, honouring freeze and passthrough."""
        if self.control.frozen and self.last_output is not None:
            return self.last_output
        if self.control.passthrough:
            return self.processor.compositor.compose(item.frame.image)
        return self._render(item.frame.image, observation, item.frame.time)

    def _output_without_new_frame(self, now: float, since_new: float) -> np.ndarray | None:
        """Camera gone: ease the avatar to neutral, unless the user froze the picture or chose the real
        camera (an animated avatar popping up would be a surprise) or it already settled there."""
        last = self.last_result
        settled = last is not None and last.face_lost and last.amount == 0.0
        self.stats.repeats += 1
        if since_new > LOST_AFTER_S and not (self.control.frozen or self.control.passthrough or settled):
            return self._render(None, None, self._clock(now))
        return self.last_output

    def run(self, *, max_frames: int | None = None, max_seconds: float | None = None) -> dict:
        """Stream until the source ends, ``stop()``/quit, or a limit; returns ``stats.summary()``."""
        self.start()
        interval = 1.0 / self.config.output.fps
        last_index = -1
        last_new = time.monotonic()
        last_sent = 0.0
        resolution_epoch = 0
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        ended = False
        try:
            while not self.stopping.is_set():
                self._apply_commands()
                if self.tracking.error is not None:
                    raise self.tracking.error
                item: Tracked | None = self.tracking.slot.get(last_index, timeout=interval / 2)
                now = time.monotonic()
                output = None
                if item is not None:
                    last_index, last_new, self._last_camera = item.frame.index, now, item.frame.image
                    self._last_frame = (item.frame.time, item.frame.capture_time)
                    if self._origin is None:  # a file counts from its start, a camera from its first frame
                        self._origin = 0.0 if item.frame.media_time is not None else item.frame.time
                    epoch = item.frame.meta.get("resolution_epoch", 0)
                    if epoch != resolution_epoch:  # the camera switched mode: the old reference no longer lines up
                        resolution_epoch = epoch
                        self.processor.calibrate()
                    output = self._output_for(item, self.watch.update(item.observation, item.frame.time))
                    stamp = item.frame.time
                    if output is not None:
                        self.stats.frames_rendered += 1
                        self.stats.add_latency((time.monotonic() - item.frame.capture_time) * 1e3)
                elif self.tracking.done.is_set():
                    if self.tracking.error is not None:  # the tracker died: say so, never end as if the file ended
                        raise self.tracking.error
                    ended = True
                    break
                elif (self.throttle and now - last_sent >= interval and self.last_output is not None
                      and not self.capture.ended.is_set()):  # a file's last frames are on their way: no repeats past its end
                    output = self._output_without_new_frame(now, now - last_new)
                    stamp = self._clock(now)
                if output is not None:
                    # A repeat is stamped with the time it was sent; a real frame that was still being tracked
                    # then may be a little older: it is shown no earlier than the frame before it.
                    self._last_stamp = max(self._last_stamp, stamp - (self._origin or 0.0))
                    self._send(output, self._last_stamp, camera_lost=now - last_new > LOST_AFTER_S)
                    last_sent = time.monotonic()
                if max_frames is not None and self.stats.frames_out >= max_frames:
                    break
                if deadline is not None and now >= deadline:
                    break
        finally:
            self.stats.finished = time.monotonic()
            if ended or self.stopping.is_set():  # the stream is over (not just this call's frame limit)
                self.watch.finish()
            if self.stats.engine_faults:
                log.warning("Engine faults: %d frame(s) replaced by the previous good frame.", self.stats.engine_faults)
        summary = self.stats.summary()
        summary["dropped_frames"] = self.capture.dropped + self.tracking.slot.dropped
        summary["engine"] = self.animator.describe()
        return summary

    def close(self) -> None:
        """Stop threads (bounded waits), release the source and every sink. Idempotent."""
        if self._frozen:
            gc.unfreeze()  # what start() froze may be freed again (a process that runs more streams)
            self._frozen = False
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

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
