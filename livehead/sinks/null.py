"""The null sink: discards frames (benchmarks, tests)."""

from __future__ import annotations

import numpy as np

__all__ = ["NullSink"]


class NullSink:
    """Counts frames and keeps the last one for inspection."""

    name = "null"
    wants_overlays = False
    closed_by_user = False
    live = False

    def __init__(self, **_: object) -> None:
        self.frames = 0
        self.last: np.ndarray | None = None

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        """Count the frame and keep it as :attr:`last` (tests and benchmarks read it)."""
        self.frames += 1
        self.last = frame

    def close(self) -> None:
        """Nothing to release."""
        pass
