"""Whether a desktop display is there for windows and global hotkeys: the one place that knows.

The preview window (OpenCV's bundled Qt uses the X11/xcb platform) and pynput's global hotkeys
both need an X display; under Wayland they work through XWayland, which sets ``DISPLAY``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["display_problem"]


def display_problem(platform: str | None = None, environ: dict[str, str] | None = None) -> str | None:
    """None when an X display is available (always on Windows/macOS), else why not, with the fix."""
    platform = sys.platform if platform is None else platform
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return None
    if env.get("DISPLAY"):
        return None
    if env.get("WAYLAND_DISPLAY"):
        return ("this is a Wayland session without an X display (DISPLAY is not set); the preview window and "
                "global hotkeys need XWayland: install it (e.g. sudo apt install xwayland) and log in again")
    return "there is no display (DISPLAY is not set): run LiveHead from a desktop session"
