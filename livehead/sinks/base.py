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
    """Constructors take keyword arguments only.

    Convention: ``timestamp`` is when the frame starts to be shown, in seconds since the stream
    began, on the source's own clock: a video file's timestamps (continuing across ``--loop``), or
    the capture clock of a camera. Timestamps never decrease; a frame repeated while no new one
    arrived gets the time it was sent at (so the next real frame may carry the same time, and then
    replaces it). Only a recorder uses them (a recording lasts exactly as long as the clip or the
    session); live sinks show each frame when it comes.
    """

    name: str
    wants_overlays: bool  # the pipeline draws the preview overlays (stats, help, landmarks) on its frames
    closed_by_user: bool  # the user closed it (a preview window): the stream stops
    live: bool  # someone watches it as it happens (virtual camera, preview): a video file is played in real time

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        """Deliver one (h, w, 3) uint8 RGB frame, shown from ``timestamp`` (see the class docstring).

        An exception means the sink is broken: the pipeline drops it, and stops when none is left.
        """
        ...

    def close(self) -> None:
        """Release the device or file; safe to call twice."""
        ...
