"""Which cameras this machine has: the one place that probes them (``livehead cameras``, ``doctor``,
and the "camera N cannot be opened" message all use :func:`list_cameras`).

On Linux only existing ``/dev/videoN`` nodes are opened, with OpenCV's log level lowered, so a
probe prints nothing; v4l2loopback devices are virtual-camera outputs, not inputs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from livehead.checks import Check

__all__ = ["CAMERA_FIX", "CameraInfo", "doctor_checks", "list_cameras", "loopback_devices", "quiet_opencv"]

# sysfs folder of v4l2loopback devices; a module constant so tests can point it at a fake tree
VIRTUAL_VIDEO_DIR = Path("/sys/devices/virtual/video4linux")


@dataclass(frozen=True)
class CameraInfo:
    """A camera index as ``cv2.VideoCapture(index)`` sees it; ``width``/``height`` from a real frame."""

    index: int
    opened: bool
    width: int = 0
    height: int = 0
    name: str = ""
    note: str = ""

    @property
    def works(self) -> bool:
        """True when the camera opened and delivered a frame of non-zero size."""
        return self.opened and self.width > 0


def _v4l2_name(index: int) -> str:
    try:
        return Path(f"/sys/class/video4linux/video{index}/name").read_text().strip()
    except OSError:
        return ""


def loopback_devices() -> list[tuple[str, str]]:
    """``[(/dev/videoN, card label)]`` for v4l2loopback devices, in device-number order."""
    nodes = glob.glob(str(VIRTUAL_VIDEO_DIR / "video*"))
    nodes.sort(key=lambda p: int(re.sub(r"\D", "", Path(p).name) or 0))
    devices = []
    for node in nodes:
        try:
            label = (Path(node) / "name").read_text().strip()
        except OSError:
            label = "?"
        devices.append((f"/dev/{Path(node).name}", label))
    return devices


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """OpenCV's log level lowered to errors while cameras are opened: an absent index prints
    "can't open camera by index" warnings that would bury LiveHead's own message about it."""
    import cv2

    previous = cv2.getLogLevel()
    cv2.setLogLevel(2)  # LOG_LEVEL_ERROR
    try:
        yield
    finally:
        cv2.setLogLevel(previous)


def _is_loopback(index: int) -> bool:
    return (VIRTUAL_VIDEO_DIR / f"video{index}").exists()


def list_cameras(max_index: int = 10) -> list[CameraInfo]:
    """Probe camera indices ``0 .. max_index-1``; on Linux only existing ``/dev/videoN`` nodes.

    v4l2loopback devices are returned with ``opened=False`` and a note: they are virtual-camera
    outputs (maybe LiveHead's own), not cameras to drive from.
    """
    import cv2

    linux = sys.platform.startswith("linux")
    if linux:
        indices = sorted(
            int(m.group(1))
            for p in glob.glob("/dev/video*")
            if (m := re.fullmatch(r"/dev/video(\d+)", p)) and int(m.group(1)) < max_index
        )
    else:
        indices = list(range(max_index))
    cameras: list[CameraInfo] = []
    with quiet_opencv():
        for index in indices:
            name = _v4l2_name(index) if linux else ""
            if linux and _is_loopback(index):
                cameras.append(CameraInfo(index, False, name=name, note="v4l2loopback virtual camera (an output)"))
                continue
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2) if linux else cv2.VideoCapture(index)
            try:
                if not cap.isOpened():
                    if linux:
                        note = "cannot open" + ("" if os.access(f"/dev/video{index}", os.R_OK) else " (permission denied)")
                        cameras.append(CameraInfo(index, False, name=name, note=note))
                    continue
                ok, frame = cap.read()
                if ok and frame is not None:
                    cameras.append(CameraInfo(index, True, frame.shape[1], frame.shape[0], name))
                else:
                    cameras.append(CameraInfo(index, True, name=name, note="opens but delivers no frame (in use? metadata node?)"))
            finally:
                cap.release()
    return cameras


CAMERA_FIX = (
    "connect a webcam and close other apps that hold it; on Linux check `ls /dev/video*` and that you are in "
    "the video group (`sudo usermod -a -G video $USER`, then log in again); to drive from a clip instead: "
    "livehead --source clip.mp4"
)


def doctor_checks(cameras: list[CameraInfo] | None = None) -> list[Check]:
    """At least one camera must deliver frames (the main job's input)."""
    try:
        cameras = list_cameras() if cameras is None else cameras
    except ImportError as exc:
        return [Check("camera", "cameras", "fail", f"cannot probe cameras: {exc}", "pip install --force-reinstall opencv-contrib-python")]
    working = [c for c in cameras if c.works]
    if working:
        listing = ", ".join(f"{c.index}: {c.width}x{c.height}" + (f" {c.name}" if c.name else "") for c in working)
        return [Check("camera", "cameras", "ok", f"{len(working)} camera(s) deliver frames: {listing} (--camera N)")]
    tried = [c for c in cameras if not c.note.startswith("v4l2loopback")]
    detail = "no camera delivers frames"
    if tried:
        detail += ": " + "; ".join(f"index {c.index} {c.note}" for c in tried)
    elif sys.platform.startswith("linux"):
        detail += " (no /dev/video* camera devices)"
    return [Check("camera", "cameras", "fail", detail, CAMERA_FIX)]


