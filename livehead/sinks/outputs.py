"""Frame sinks: virtual camera, preview window, mp4 recorder, null (benchmarks).

A sink receives finished RGB output frames. Each reports what it opened; a sink that cannot open
raises ``SinkUnavailable`` with the exact fix, and the caller decides whether to go on without it.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from livehead.errors import LiveHeadError

log = logging.getLogger(__name__)

__all__ = [
    "NullSink", "PreviewSink", "RecorderSink", "SINKS", "Sink", "SinkUnavailable", "VirtualCameraSink",
    "register_sink", "virtual_camera_fix",
]

VCAM_LABEL = "LiveHead Camera"


class SinkUnavailable(LiveHeadError):
    """A sink could not be opened; the message names the fix."""


class Sink(Protocol):
    name: str

    def send(self, frame: np.ndarray) -> None:
        """Deliver one (h, w, 3) uint8 RGB frame."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call twice."""
        ...


def virtual_camera_fix(system: str | None = None) -> str:
    """How to get a virtual camera device on this OS."""
    system = system or platform.system()
    if system == "Linux":
        return (
            "No virtual camera device found. On Linux run: sudo modprobe v4l2loopback devices=1 "
            f'card_label="{VCAM_LABEL}" exclusive_caps=1 (install it with: sudo apt install v4l2loopback-dkms). '
            "If a device exists but cannot be opened, add yourself to the video group: "
            "sudo usermod -a -G video $USER, then log in again."
        )
    if system in ("Windows", "Darwin"):
        return (
            "No virtual camera found. Install OBS Studio (https://obsproject.com) and start its Virtual Camera "
            "once (Tools → Start Virtual Camera); LiveHead then appears as 'OBS Virtual Camera' in meeting apps."
        )
    return f"Virtual cameras are not supported on {system}; use --output out.mp4 or --no-vcam."


class VirtualCameraSink:
    """pyvirtualcam output. The device label is set by v4l2loopback's card_label (Linux)."""

    name = "vcam"

    def __init__(self, *, width: int, height: int, fps: float, device: str | None = None, backend: str | None = None):
        import pyvirtualcam

        try:
            self._cam = pyvirtualcam.Camera(
                width=width, height=height, fps=fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device, backend=backend
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise SinkUnavailable(f"{virtual_camera_fix()} (pyvirtualcam said: {exc})") from None
        self.device = self._cam.device
        self.backend = self._cam.backend
        log.info("Virtual camera: %s via %s, %dx%d @ %.0f fps.", self.device, self.backend, width, height, fps)
        self._closed = False

    def send(self, frame: np.ndarray) -> None:
        self._cam.send(frame)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cam.close()


class PreviewSink:
    """An OpenCV window. ``poll_key`` returns the pressed key code (or -1) and notices the window closing.

    cv2.imshow aborts without a display, so the display is checked first and the window is only
    created on the first frame.
    """

    name = "preview"

    def __init__(self, *, title: str = "LiveHead preview", on_key: Callable[[int], None] | None = None) -> None:
        import os

        if platform.system() == "Linux" and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise SinkUnavailable("No display for the preview window (DISPLAY is not set). Use --no-preview.")
        self.title = title
        self.on_key = on_key
        self._opened = False
        self.closed_by_user = False

    def send(self, frame: np.ndarray) -> None:
        import cv2

        cv2.imshow(self.title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self._opened = True
        self.poll_key()

    def poll_key(self) -> int:
        import cv2

        if not self._opened:
            return -1
        key = cv2.waitKeyEx(1)  # full codes: waitKey keeps the low byte, turning arrows into letters
        if key != -1 and self.on_key is not None:
            self.on_key(key)
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.closed_by_user = True
        return key

    def close(self) -> None:
        if self._opened:
            import cv2

            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._opened = False


class RecorderSink:
    """H.264 mp4 through PyAV. Frames are stamped at the output rate."""

    name = "record"

    def __init__(self, *, path: str | Path, width: int, height: int, fps: float, codec: str = "libx264") -> None:
        import fractions

        import av

        self.path = Path(path)
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


class NullSink:
    """Discards frames (benchmarks); counts them and keeps the last one for inspection."""

    name = "null"

    def __init__(self, **_: object) -> None:
        self.frames = 0
        self.last: np.ndarray | None = None

    def send(self, frame: np.ndarray) -> None:
        self.frames += 1
        self.last = frame

    def close(self) -> None:
        pass


SINKS: dict[str, Callable[..., Sink]] = {
    "vcam": VirtualCameraSink,
    "preview": PreviewSink,
    "record": RecorderSink,
    "null": NullSink,
}


def register_sink(name: str, factory: Callable[..., Sink]) -> None:
    """Make another sink available by name."""
    SINKS[name] = factory
