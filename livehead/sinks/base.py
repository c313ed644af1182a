"""The sink contract: a sink receives finished RGB output frames.

Each sink reports what it opened; one that cannot open raises :class:`SinkUnavailable` with the
exact fix, and :func:`livehead.sinks.open_sinks` decides whether the stream goes on without it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from livehead.errors import LiveHeadError

__all__ = ["Sink", "SinkUnavailable"]


class SinkUnavailable(LiveHeadError):
    """A sink could not be opened; the message names the fix."""


class Sink(Protocol):
    """Constructors take keyword arguments only."""

    name: str
    wants_overlays: bool  # the pipeline draws the preview overlays (stats, help, landmarks) on its frames
    closed_by_user: bool  # the user closed it (a preview window): the stream stops

    def send(self, frame: np.ndarray) -> None:
        """Deliver one (h, w, 3) uint8 RGB frame."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call twice."""
        ...
