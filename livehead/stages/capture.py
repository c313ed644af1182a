"""Sources (webcam, video file) and the capture thread (latest-frame-wins).

The capture thread reads as fast as the source delivers and keeps only the newest frame in a
one-slot buffer, stamped with its index and capture time: a slow consumer skips frames (they are
counted as dropped) instead of falling behind through a queue. A source that stops delivering is
retried with backoff; streaming resumes by itself when frames come back.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from livehead.errors import InputError
from livehead.types import Frame

log = logging.getLogger(__name__)

__all__ = ["CameraSource", "CaptureThread", "FrameSlot", "Source", "VideoFileSource", "open_source"]


class Source(Protocol):
    """Something that yields RGB frames. ``read`` returns None on end-of-file or a failed read.

    A file source may also have ``media_time``: its own timestamp (s) of the frame ``read`` last
    returned, counted from the first frame and continuing across a loop. Without it a frame's time
    is when it was read.
    """

    name: str
    fps: float | None  # nominal rate of a file (its pace when played in real time); None for cameras
    is_file: bool

    def read(self) -> np.ndarray | None:
        """The next frame, (H, W, 3) uint8 RGB, or None at end-of-file or on a failed read."""

    def reopen(self) -> None:
        """Open the device or file again after repeated failed reads (capture retries with backoff)."""

    def close(self) -> None:
        """Release the device or file."""


def _capture_api() -> int:
    return cv2.CAP_V4L2 if platform.system() == "Linux" else cv2.CAP_ANY


class CameraSource:
    """A webcam through OpenCV. Frames are converted BGR → RGB here, at the edge."""

    is_file = False
    fps = None

    def __init__(self, *, index: int, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        self.index = index
        self.name = f"camera {index}"
        self._request = (width, height, fps)
        self._cap = self._open()
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            raise InputError(self._unavailable_message())
        self.size = (frame.shape[1], frame.shape[0])
        log.info("Opened %s at %dx%d.", self.name, *self.size)

    def _open(self) -> cv2.VideoCapture:
        from livehead.stages.cameras import quiet_opencv

        with quiet_opencv():  # an absent index is reported by our own message, not by OpenCV's warnings
            cap = cv2.VideoCapture(self.index, _capture_api())
        w, h, fps = self._request
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's own queue adds latency
        return cap

    def _unavailable_message(self) -> str:
        from livehead.stages.cameras import list_cameras

        others = [c for c in list_cameras() if c.works and c.index != self.index]
        if others:
            listing = ", ".join(f"{c.index} ({c.width}x{c.height})" for c in others)
            return f"Camera {self.index} cannot be opened. Cameras that open: {listing}. Use --camera N."
        return (
            f"Camera {self.index} cannot be opened and no other camera was found. Check that a webcam is "
            "connected and not used by another program, or drive from a video file with --source clip.mp4."
        )

    def read(self) -> np.ndarray | None:
        """The next camera frame as RGB, or None when the driver gave none."""
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def reopen(self) -> None:
        """Release and reopen the camera (a replugged or stalled webcam)."""
        self._cap.release()
        self._cap = self._open()

    def close(self) -> None:
        """Release the camera."""
        self._cap.release()


def _unreadable_clip(path: Path) -> str:
    """Why a clip gave OpenCV no frame, in the words a user can act on (asked of FFmpeg through PyAV)."""
    if path.stat().st_size == 0:
        return f"Video file is empty (0 bytes): {path}. The copy or download failed; get it again."
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                others = ", ".join(f"{s.type} ({s.codec_context.name})" for s in container.streams) or "no streams"
                return (f"Video file has no video stream: {path} holds {others}. Drive with a clip that shows "
                        "a face (--source talk.mp4).")
            decoded = next(container.decode(video=0), None)
    except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
        return (f"Video file cannot be read: {path} ({exc}). It may be truncated or not a video; re-encode it, "
                "e.g. ffmpeg -i in.mov -c:v libx264 out.mp4")
    if decoded is None:
        return f"Video file has a video stream but no frame in it: {path}. Use a clip that plays."
    return (f"Video file cannot be read: {path}. It may be truncated or use a codec OpenCV lacks; "
            "re-encode it, e.g. ffmpeg -i in.mov -c:v libx264 out.mp4")


class VideoFileSource:
    """A video file; with ``loop`` it restarts at the end.

    ``media_time`` follows the file's own timestamps (a variable-rate clip keeps its timing), from 0
    at the first frame and going on across loops; a file without usable timestamps counts
    ``1 / fps`` per frame.
    """

    is_file = True

    def __init__(self, *, path: str | Path, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.loop = loop
        if not self.path.is_file():
            raise InputError(f"Video file not found: {self.path}. Check the path given to --source.")
        self._cap = cv2.VideoCapture(str(self.path))
        ok, frame = (self._cap.read() if self._cap.isOpened() else (False, None))
        if not ok or frame is None:
            self._cap.release()
            raise InputError(_unreadable_clip(self.path))
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1.0 <= fps <= 240.0 else 30.0
        self.size = (frame.shape[1], frame.shape[0])
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.media_time: float | None = None
        self._origin: float | None = None  # the file's timestamp of its first frame
        self._loop_offset = 0.0
        self._first: tuple[np.ndarray, float] | None = (frame, self._stamp())

    def _stamp(self) -> float:
        """The media time of the frame just decoded."""
        raw = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if self._origin is None:
            self._origin = raw
        t = raw - self._origin + self._loop_offset
        if self.media_time is not None and not t > self.media_time:  # no timestamps, or they went backwards
            t = self.media_time + 1.0 / self.fps
        return t

    def read(self) -> np.ndarray | None:
        """The next frame as RGB with ``media_time`` set to its timestamp; None at the end (unless looping)."""
        if self._first is not None:
            (frame, self.media_time), self._first = self._first, None
        else:
            ok, frame = self._cap.read()
            if (not ok or frame is None) and self.loop:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._cap.read()
                if ok and frame is not None and self.media_time is not None:
                    # the next lap starts one frame after this one ended
                    self._loop_offset, self._origin = self.media_time + 1.0 / self.fps, None
            if not ok or frame is None:
                return None
            self.media_time = self._stamp()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def reopen(self) -> None:
        """Open the file again from its start."""
        self._cap.release()
        self._cap = cv2.VideoCapture(str(self.path))

    def close(self) -> None:
        """Release the file."""
        self._cap.release()


def open_source(*, camera: int = 0, source: str | None = None, loop: bool = False,
                width: int = 1280, height: int = 720, fps: float = 30.0) -> Source:
    """The video file when ``source`` is given, else the webcam ``camera``."""
    if source is not None:
        return VideoFileSource(path=source, loop=loop)
    return CameraSource(index=camera, width=width, height=height, fps=fps)


def _is_rgb_frame(image: object) -> bool:
    """(H, W, 3) uint8 with H, W > 0: the only frames capture hands on."""
    return (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            and image.shape[0] > 0 and image.shape[1] > 0)


class FrameSlot:
    """One-item buffer: ``put`` overwrites, ``get`` waits for an item newer than the caller's last.

    Items carry an increasing ``index``; overwritten, never-read items are counted in ``dropped``.
    With ``keep_all`` (rendering a file frame by frame) ``put`` instead waits until the previous
    item was read, so the producer runs at most one item ahead and nothing is dropped.
    """

    def __init__(self, *, keep_all: bool = False) -> None:
        self._cond = threading.Condition()
        self._item = None
        self._index = -1
        self._read_index = -1
        self.keep_all = keep_all
        self.dropped = 0
        self.closed = False

    def put(self, item, index: int, stop: threading.Event | None = None) -> bool:
        """Offer ``item``; False when it was not stored (``keep_all``: the slot closed or ``stop`` was set)."""
        with self._cond:
            if self.keep_all:
                while self._index > self._read_index and not self.closed and not (stop is not None and stop.is_set()):
                    self._cond.wait(0.1)
                if self.closed or (stop is not None and stop.is_set()):
                    return False
            if self._item is not None and self._index > self._read_index:
                self.dropped += 1
            self._item, self._index = item, index
            self._cond.notify_all()
            return True

    def get(self, after: int, timeout: float):
        """The newest item with index > ``after``, or None after ``timeout`` seconds / on close."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._index <= after and not self.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._index <= after:
                return None
            self._read_index = self._index
            self._cond.notify_all()  # a producer may be waiting in wait_taken
            return self._item

    def close(self) -> None:
        """Mark the slot closed and wake every waiting reader and writer."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class CaptureThread:
    """Reads ``source`` on a background thread into a ``FrameSlot`` of ``Frame``s.

    Args:
        pace: for files, play at the file's own frame rate (real time) instead of as fast as possible.
            An unpaced file is read one frame ahead of its reader (a ``keep_all`` slot), so every frame
            is used and none is decoded only to be dropped (decoding ahead spun a whole core on a
            2-core machine).
        max_backoff_s: longest wait between retries of a failing source.
    """

    def __init__(self, source: Source, *, pace: bool = True, max_backoff_s: float = 2.0, stats=None) -> None:
        self.source = source
        self.pace = pace and source.is_file and source.fps is not None
        self.every_frame = source.is_file and not pace
        self.slot = FrameSlot(keep_all=self.every_frame)
        self.max_backoff_s = max_backoff_s
        self.ended = threading.Event()
        self.lost = threading.Event()  # set while the source delivers nothing
        self.stats = stats  # a RunStats receiving "capture" timings, or None
        self.failures = 0
        self.resolution_changes = 0  # frames carry it as meta["resolution_epoch"]: readers see a mode switch
        self._size: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livehead-capture", daemon=True)
        self._index = 0
        self._errors_logged = 0

    def start(self) -> "CaptureThread":
        """Start reading frames on the ``livehead-capture`` thread; returns self."""
        self._thread.start()
        return self

    def _read(self) -> np.ndarray | None:
        """The source's next frame, or None (end, driver error or a malformed frame, logged)."""
        try:
            image = self.source.read()
        except Exception as exc:  # a driver error must not kill capture: the caller retries
            image = None
            if self._errors_logged < 3:
                log.warning("Reading %s failed: %s", self.source.name, exc)
                self._errors_logged += 1
        if image is not None and not _is_rgb_frame(image):
            # An empty frame leaves MediaPipe's graph failed for good, so it never gets that far.
            if self._errors_logged < 3:
                log.warning("%s gave a malformed frame (%s %s, expected (H, W, 3) uint8); skipping it.",
                            self.source.name, getattr(image, "shape", None), getattr(image, "dtype", type(image)))
                self._errors_logged += 1
            image = None
        return image

    def _run(self) -> None:
        interval = 1.0 / self.source.fps if self.pace else 0.0
        once = self.source.is_file and not getattr(self.source, "loop", False)
        next_time = time.monotonic()
        backoff = 0.05
        ahead: list = []  # a paced file's next frame, read before waiting for its time (see below)
        while not self._stop.is_set():
            t0 = time.perf_counter()
            image = ahead.pop() if ahead else self._read()
            if image is None:
                if once:
                    log.info("End of %s.", self.source.name)
                    self.ended.set()
                    break
                self.failures += 1
                if not self.lost.is_set() and self.failures >= 3:
                    log.warning("%s delivers no frames; retrying every ≤ %.1f s.", self.source.name, self.max_backoff_s)
                    self.lost.set()
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2.0, self.max_backoff_s)
                if self.failures % 5 == 0:
                    try:
                        self.source.reopen()
                    except Exception as exc:
                        log.debug("Reopening %s failed: %s", self.source.name, exc)
                continue
            now = time.monotonic()
            if self.lost.is_set():
                log.info("%s delivers frames again.", self.source.name)
                self.lost.clear()
            self.failures, backoff = 0, 0.05
            if self.stats is not None:
                self.stats.add("capture", (time.perf_counter() - t0) * 1e3)
            size = (image.shape[1], image.shape[0])
            if self._size is not None and size != self._size:
                self.resolution_changes += 1
                log.info("%s now delivers %dx%d frames (was %dx%d).", self.source.name, *size, *self._size)
            self._size = size
            meta = {"resolution_epoch": self.resolution_changes}
            frame = Frame(image=image, index=self._index, capture_time=now, meta=meta,
                          media_time=getattr(self.source, "media_time", None))  # optional, see Source
            if not self.slot.put(frame, self._index, stop=self._stop):
                break
            self._index += 1
            if interval:
                next_time = max(next_time + interval, now - interval)
                if once:
                    # Read the next frame now, so the end of the file is known (``ended``) as the last
                    # frame goes out, not a frame time later: a live output would fill that time
                    # with repeats stamped past the clip's end.
                    ahead.append(self._read())
                    if ahead[0] is None:
                        continue
                self._stop.wait(max(0.0, next_time - time.monotonic()))
        self.slot.close()

    @property
    def dropped(self) -> int:
        """Frames replaced in the slot before the tracker took them."""
        return self.slot.dropped

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        self._thread.join(timeout)

    def close(self) -> None:
        """Stop the thread, then release the source."""
        self.stop()
        self.source.close()
