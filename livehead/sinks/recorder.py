"""The recorder: the output as an H.264 video file (PyAV)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from livehead.sinks.base import SinkUnavailable

log = logging.getLogger(__name__)

__all__ = ["RecorderSink"]


class RecorderSink:
    """H.264 mp4 through PyAV. Frames are stamped at the output rate."""

    name = "record"
    closed_by_user = False

    def __init__(self, *, path: str | Path, width: int, height: int, fps: float, codec: str = "libx264",
                 overlays: bool = False) -> None:
        import fractions

        import av

        self.path = Path(path)
        self.wants_overlays = overlays
        if self.path.parent and not self.path.parent.exists():
            raise SinkUnavailable(f"Cannot write {self.path}: folder {self.path.parent} does not exist.")
        try:
            self._container = av.open(str(self.path), mode="w")
        except (OSError, av.FFmpegError) as exc:
            raise SinkUnavailable(f"Cannot write {self.path}: {exc}") from None
        rate = fractions.Fraction(round(fps * 1000), 1000)
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "20", "preset": "veryfast"}
        self.frames = 0
        self._closed = False
        log.info("Recording to %s (%s, %dx%d @ %.0f fps).", self.path, codec, width, height, fps)

    def send(self, frame: np.ndarray) -> None:
        import av

        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
