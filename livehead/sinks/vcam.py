"""The virtual camera (pyvirtualcam): what meeting apps see as "LiveHead Camera"; owns the set-up fix text."""

from __future__ import annotations

import logging
import platform

import numpy as np

from livehead.sinks.base import SinkUnavailable

log = logging.getLogger(__name__)

__all__ = ["VCAM_LABEL", "VirtualCameraSink", "virtual_camera_fix"]

VCAM_LABEL = "LiveHead Camera"


def virtual_camera_fix(system: str | None = None) -> str:
    """How to get a virtual camera device on this OS (``platform.system()`` names)."""
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
    closed_by_user = False

    def __init__(self, *, width: int, height: int, fps: float, device: str | None = None, backend: str | None = None,
                 overlays: bool = False) -> None:
        import pyvirtualcam

        try:
            self._cam = pyvirtualcam.Camera(
                width=width, height=height, fps=fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device, backend=backend
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise SinkUnavailable(f"{virtual_camera_fix()} (pyvirtualcam said: {exc})") from None
        self.wants_overlays = overlays
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
