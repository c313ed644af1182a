"""The virtual camera (pyvirtualcam): what meeting apps see as "LiveHead Camera"; owns the set-up fix text."""

from __future__ import annotations

import logging
import os
import platform
import sys
from pathlib import Path

import numpy as np

from livehead.checks import Check
from livehead.sinks.base import SinkUnavailable
from livehead.stages import cameras

log = logging.getLogger(__name__)

__all__ = ["VCAM_LABEL", "V4L2LOOPBACK_FIX", "VirtualCameraSink", "doctor_checks", "virtual_camera_fix"]

VCAM_LABEL = "LiveHead Camera"
V4L2LOOPBACK_FIX = f'sudo modprobe v4l2loopback devices=1 card_label="{VCAM_LABEL}" exclusive_caps=1'
V4L2LOOPBACK_INSTALL = (
    "if modprobe says the module is not found, install it first: Debian/Ubuntu `sudo apt install "
    "v4l2loopback-dkms`, Fedora `sudo dnf install v4l2loopback`, Arch `sudo pacman -S v4l2loopback-dkms`"
)
# sysfs folder of the loaded module; a module constant so tests can point it at a fake tree
V4L2LOOPBACK_MODULE = Path("/sys/module/v4l2loopback")


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
    live = True

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

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        """Hand the frame (H, W, 3) uint8 RGB to the virtual camera device."""
        self._cam.send(frame)

    def close(self) -> None:
        """Close the device once; later calls do nothing."""
        if not self._closed:
            self._closed = True
            self._cam.close()


# ---------------------------------------------------------------------------------------------
# doctor


def check_virtual_camera_linux() -> list[Check]:
    """Doctor lines for v4l2loopback: module present, loaded, a device LiveHead can open, with the modprobe fix."""
    module = V4L2LOOPBACK_MODULE
    if not module.exists():
        return [
            Check(
                "virtual camera", "v4l2loopback", "fail",
                "the v4l2loopback kernel module is not loaded, so there is no virtual camera for Zoom/Meet to select",
                f"{V4L2LOOPBACK_FIX}  ({V4L2LOOPBACK_INSTALL})",
            )
        ]
    devices = cameras.loopback_devices()
    if not devices:
        return [
            Check(
                "virtual camera", "v4l2loopback", "fail", "the module is loaded but has no devices",
                f"sudo modprobe -r v4l2loopback && {V4L2LOOPBACK_FIX}",
            )
        ]
    try:
        exclusive = (module / "parameters/exclusive_caps").read_text().strip().split(",")
    except OSError:
        exclusive = []
    checks = []
    for i, (dev, label) in enumerate(devices):
        flag = exclusive[i] if i < len(exclusive) else "?"
        name = f"{dev} \"{label}\""
        if not os.access(dev, os.W_OK):
            checks.append(
                Check("virtual camera", name, "fail", f"{dev} is not writable by this user",
                      "sudo usermod -a -G video $USER, then log out and in again")
            )
        elif flag.upper() in ("N", "0"):
            checks.append(
                Check("virtual camera", name, "warn",
                      "exclusive_caps is off: Chrome, Zoom and Teams may not list this device",
                      f"sudo modprobe -r v4l2loopback && {V4L2LOOPBACK_FIX}")
            )
        else:
            checks.append(Check("virtual camera", name, "ok", f"v4l2loopback device, exclusive_caps={flag}"))
    return checks


def check_virtual_camera_obs() -> list[Check]:
    """Doctor lines for the OBS virtual camera (Windows, macOS), with where to get OBS."""
    fix = (
        "install OBS Studio 30 or newer (https://obsproject.com), open it once and click Start Virtual Camera, "
        "then Stop; on macOS also allow the OBS system extension in System Settings > Privacy & Security"
    )
    try:
        import pyvirtualcam
    except ImportError as exc:
        return [Check("virtual camera", "OBS Virtual Camera", "fail", f"pyvirtualcam is not usable: {exc}", "pip install pyvirtualcam")]
    try:
        with pyvirtualcam.Camera(width=640, height=480, fps=30) as cam:
            device = f"{cam.backend}: {cam.device}"
    except RuntimeError as exc:
        return [Check("virtual camera", "OBS Virtual Camera", "fail", str(exc), fix)]
    return [Check("virtual camera", "OBS Virtual Camera", "ok", f"opened {device}")]


def doctor_checks() -> list[Check]:
    """A virtual camera to send to: a writable v4l2loopback device on Linux, OBS Virtual Camera elsewhere."""
    if sys.platform.startswith("linux"):
        return check_virtual_camera_linux()
    if sys.platform in ("win32", "darwin"):
        return check_virtual_camera_obs()
    return [Check("virtual camera", "virtual camera", "fail", f"no virtual camera backend for {sys.platform}",
                  "use --no-vcam --output out.mp4 or the preview window")]
