"""The recorder: the output as an H.264 video file (PyAV) that is true to time and survives crashes.

- **Checked before the run** (:func:`~livehead.sinks.output_path.check_recording_path`): a known
  container, a writable folder, not an input, no file replaced unless asked.
- **True to time**: each frame is shown from the timestamp the pipeline gives it (a file's own
  timestamps, or the camera's capture clock), so a recording lasts as long as the clip or the
  session did, whatever was dropped on the way; a frame lasts until the next one starts.
- **Crash-safe**: written to ``out.incomplete.mp4`` as fragmented MP4 (or Matroska clusters),
  flushed every :data:`FRAGMENT_S` seconds, so a kill or a power cut leaves a file that plays up to
  its last fragment; renamed to ``out.mp4`` only after it closed and read back completely.
- **Failures are kept**: a write error is raised from ``send`` (the pipeline then stops or, if
  someone watches a preview or virtual camera, says so and goes on) and remembered in ``error``;
  ``written`` is True only for a file that was closed and checked.
"""

from __future__ import annotations

import fractions
import logging
import os
import statistics
from collections import deque
from pathlib import Path

import numpy as np

from livehead.sinks.base import SinkUnavailable
from livehead.sinks.output_path import RECORDING_SUFFIXES, check_recording_path, partial_path

log = logging.getLogger(__name__)

__all__ = ["FRAGMENT_S", "RecorderSink", "read_back"]

FRAGMENT_S = 0.5  # seconds between flushes to disk: the most a crash can cost, plus the encoder's few frames
TICKS = 90_000  # time base of the video stream (the MPEG clock), fine enough for any capture jitter
# x264 without B-frames and with a short look-ahead holds back ≤ 8 frames, so what a kill loses is
# about one fragment; measured on a 480x480 talking clip: 20 % larger than the x264 defaults at CRF 20.
X264_PARAMS = "bframes=0:rc-lookahead=5:sync-lookahead=0:threads=4"


def _container_options(muxer: str) -> dict[str, str]:
    if muxer in ("mp4", "mov"):
        return {"movflags": "frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": str(int(FRAGMENT_S * 1e6)), "flush_packets": "1"}
    return {"cluster_time_limit": str(int(FRAGMENT_S * 1e3)), "flush_packets": "1"}


def read_back(path: str | Path) -> tuple[int, float, tuple[int, int]]:
    """(video packets, duration in seconds, (width, height)) of a recording; raises if it does not open."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        packets, end = 0, 0.0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            packets += 1
            if packet.pts is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return packets, end, (stream.codec_context.width, stream.codec_context.height)


class RecorderSink:
    """Record to ``path`` (.mp4, .m4v, .mov or .mkv); see the module docstring.

    Args:
        path: the finished recording; ``out.incomplete.mp4`` beside it is written meanwhile.
        width, height: frame size (even: H.264 4:2:0).
        fps: the expected rate: the encoder's rate hint, and the last frame's duration when no
            interval was seen.
        overwrite: replace an existing ``path``.
        inputs: ``(flag, path)`` of the run's input files, which the recording may not replace.
    """

    name = "record"
    closed_by_user = False
    live = False

    def __init__(self, *, path: str | Path, width: int, height: int, fps: float, codec: str = "libx264",
                 overlays: bool = False, overwrite: bool = False, inputs: tuple[tuple[str, str | None], ...] = ()) -> None:
        import av

        self.path = check_recording_path(path, overwrite=overwrite, inputs=inputs)
        self.partial = partial_path(self.path)
        self.wants_overlays = overlays
        self.size = (width, height)
        self.fps = fps
        self.frames = 0  # frames handed to the encoder
        self.duration = 0.0  # seconds covered by those frames
        self.error: str | None = None
        self.written = False
        self._overwrite = overwrite
        self._closed = False
        self._held: tuple[object, int] | None = None  # (av.VideoFrame, pts ticks) waiting for its successor
        self._durations: dict[int, int] = {}  # pts → duration (ticks) of frames inside the encoder
        self._intervals: deque[int] = deque(maxlen=15)
        muxer = RECORDING_SUFFIXES[self.path.suffix.lower()]
        try:
            self._container = av.open(str(self.partial), mode="w", format=muxer, options=_container_options(muxer))
            self._stream = self._container.add_stream(codec, rate=fractions.Fraction(round(fps * 1000), 1000))
        except (OSError, av.FFmpegError, ValueError) as exc:
            raise SinkUnavailable(f"Cannot write {self.partial}: {exc}. Choose another --output.") from None
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.time_base = fractions.Fraction(1, TICKS)
        self._stream.time_base = fractions.Fraction(1, TICKS)
        self._stream.options = {"crf": "20", "preset": "veryfast",
                                **({"x264-params": X264_PARAMS} if codec == "libx264" else {})}
        log.info("Recording to %s (%s %dx%d, renamed to %s when it closes).", self.partial, codec, width, height,
                 self.path.name)

    # ---- frames -----------------------------------------------------------------------------
    def send(self, frame: np.ndarray, timestamp: float) -> None:
        """Record ``frame`` shown from ``timestamp`` s; a frame not later than the one before replaces it.

        The first frame starts the recording at 0 whatever its timestamp (a file's first frames may
        have been dropped while the tracker started). Raises the write error, after which the
        recorder takes no more frames.
        """
        import av

        if self.error is not None:
            raise RuntimeError(f"recording already failed: {self.error}")
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        ticks = 0 if self._held is None and self.frames == 0 else round(max(timestamp, 0.0) * TICKS)
        if self._held is not None:
            held, held_ticks = self._held
            if ticks <= held_ticks:
                self._held = (picture, held_ticks)
                return
            self._encode(held, held_ticks, ticks - held_ticks)
            self._intervals.append(ticks - held_ticks)
        self._held = (picture, ticks)

    def _encode(self, picture, pts: int, duration: int) -> None:
        picture.pts = pts
        picture.time_base = self._stream.codec_context.time_base
        self._durations[pts] = duration
        try:
            self._mux(self._stream.encode(picture))
        except Exception as exc:
            self._fail(exc)
            raise
        self.frames += 1
        self.duration = (pts + duration) / TICKS

    def _mux(self, packets) -> None:
        for packet in packets:
            # the encoder does not carry a frame's duration through; the muxer needs it for the last one
            packet.duration = self._durations.pop(packet.pts, 0)
            self._container.mux(packet)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.error = f"{reason} (writing {self.partial} after {self.frames} frames, {self.duration:.1f} s)"
            log.error("Recording failed: %s", self.error)

    # ---- end --------------------------------------------------------------------------------
    def close(self) -> None:
        """Finish the file, read it back, and rename it to ``path``; idempotent.

        Never raises: a failure is left in ``error`` (and the partial file, when it holds frames)
        for the caller to report.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self.error is None and self._held is not None:
                picture, pts = self._held
                self._held = None
                last = round(statistics.median(self._intervals)) if self._intervals else round(TICKS / self.fps)
                self._encode(picture, pts, last)
            if self.error is None:
                self._mux(self._stream.encode())
        except Exception as exc:  # the error is recorded by _fail/_verify and reported by the caller
            self._fail(exc)
        try:
            self._container.close()
        except Exception as exc:
            self._fail(exc)
        if self.error is None:
            self._verify_and_rename()
        elif self.frames == 0:
            self.partial.unlink(missing_ok=True)  # nothing worth keeping

    def _verify_and_rename(self) -> None:
        if self.frames == 0:
            self.partial.unlink(missing_ok=True)
            self.error = "no frame was recorded (the stream ended before the first frame was rendered)"
            return
        try:
            packets, _, size = read_back(self.partial)
        except Exception as exc:
            self._fail(RuntimeError(f"the finished file does not read back: {exc}"))
            return
        if packets != self.frames or size != self.size:
            self._fail(RuntimeError(f"the finished file holds {packets} frames of {size[0]}x{size[1]}, "
                                    f"expected {self.frames} of {self.size[0]}x{self.size[1]}"))
            return
        if self.path.exists() and not self._overwrite:
            self._fail(RuntimeError(f"{self.path} appeared while recording; the recording stays in {self.partial}"))
            return
        try:
            os.replace(self.partial, self.path)
        except OSError as exc:
            self._fail(exc)
            return
        self.written = True
