"""The tracking thread: takes the newest captured frame, tracks the face, offers the result in a latest-wins slot."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from livehead.config import LiveHeadConfig
from livehead.pipeline.stats import RunStats
from livehead.stages.capture import CaptureThread, FrameSlot
from livehead.stages.tracking import FaceTracker
from livehead.types import FaceObservation, Frame

log = logging.getLogger(__name__)

__all__ = ["MAX_TRACKER_RESTARTS", "Tracked", "TrackingThread", "zoomed"]

MAX_TRACKER_RESTARTS = 5  # a tracker that keeps failing is a real error, surfaced by Pipeline.run()


@dataclass(frozen=True)
class Tracked:
    """A captured frame with the face found in it (None when lost) and the tracking time in ms."""
    frame: Frame
    observation: FaceObservation | None
    track_ms: float


def zoomed(frame: Frame, zoom: float) -> Frame:
    """The central 1/zoom of the frame (W/S keys); the tracker and the engines see only that."""
    if zoom <= 1.0:
        return frame
    h, w = frame.image.shape[:2]
    cw, ch = max(16, int(w / zoom)), max(16, int(h / zoom))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    crop = np.ascontiguousarray(frame.image[y0 : y0 + ch, x0 : x0 + cw])
    return Frame(image=crop, index=frame.index, capture_time=frame.capture_time, meta={**frame.meta, "zoom": zoom},
                 media_time=frame.media_time)


class TrackingThread:
    """Tracks the newest captured frame on its own thread; results go to a ``FrameSlot``.

    With ``every_frame`` (a file rendered frame by frame) the slot keeps every result until the
    render loop took it, instead of letting a newer one replace it.
    """

    def __init__(self, capture: CaptureThread, config: LiveHeadConfig, stats: RunStats, zoom=lambda: 1.0,
                 every_frame: bool = False) -> None:
        self.capture = capture
        self.zoom = zoom  # callable → current driver-crop magnification (1 = whole frame)
        self.config = config
        self.stats = stats
        self.slot = FrameSlot(keep_all=every_frame)
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livehead-tracking", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> "TrackingThread":
        """Start tracking on the ``livehead-tracking`` thread; returns self."""
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
                frame = zoomed(frame, self.zoom())
                t0 = time.perf_counter()
                try:
                    obs = tracker.track(frame.image, frame.time)
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
                if not self.slot.put(Tracked(frame, obs, ms), frame.index, stop=self._stop):
                    break
        except BaseException as exc:  # surfaced by the render loop, which owns error reporting
            self.error = exc
        finally:
            if tracker is not None:
                tracker.close()
            self.done.set()
            self.slot.close()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        self._thread.join(timeout)


