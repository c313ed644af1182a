"""The preview window (OpenCV): shows the output with the overlays and reads the hotkeys pressed in it."""

from __future__ import annotations

from typing import Callable

import numpy as np

from livehead.sinks.base import SinkUnavailable
from livehead.ui.display import display_problem

__all__ = ["PreviewSink"]


class PreviewSink:
    """An OpenCV window. ``poll_key`` returns the pressed key code (or -1) and notices the window closing.

    cv2.imshow aborts the process without a display, so the display is checked first and the
    window is only created on the first frame.
    """

    name = "preview"
    wants_overlays = True
    live = True

    def __init__(self, *, title: str = "LiveHead preview", on_key: Callable[[int], None] | None = None) -> None:
        problem = display_problem()
        if problem:
            raise SinkUnavailable(f"No preview window: {problem}. Or use --no-preview.")
        self.title = title
        self.on_key = on_key
        self._opened = False
        self.closed_by_user = False

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        """Show the frame in the preview window and handle any key pressed."""
        import cv2

        cv2.imshow(self.title, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self._opened = True
        self.poll_key()

    def poll_key(self) -> int:
        """The key pressed in the window since the last call (-1 for none); notes when the user closed the window."""
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
        """Destroy the window if it was opened."""
        if self._opened:
            import cv2

            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
            self._opened = False
