"""Watching the driver's face over time: a face leaving the frame counts as lost, and a long
absence is said once (in the log and on the stats overlay) instead of silently showing a still photo.

MediaPipe keeps tracking a face that slides out of the picture, extrapolating the landmarks it
cannot see; measured on a frontal clip shifted out sideways, its yaw drifted 5° once 60 % of the
landmarks were outside and 15° at 80 %, and the face size grew 10 %: the avatar warped for no
reason. So once more than :data:`CUT_FRACTION` of the landmarks lie outside the frame the face is
treated as lost (the avatar eases to neutral, as for a face that disappears), until it is back
below :data:`BACK_FRACTION` (the gap keeps a face on the edge from flickering between the two).
"""

from __future__ import annotations

import logging

import numpy as np

from livehead.types import FaceObservation

log = logging.getLogger(__name__)

__all__ = ["BACK_FRACTION", "CUT_FRACTION", "FaceWatch", "NO_FACE_WARN_S", "outside_fraction"]

CUT_FRACTION = 0.15  # share of landmarks outside the frame above which the face is leaving it
BACK_FRACTION = 0.08  # … and below which it is back in
NO_FACE_WARN_S = 3.0  # seconds (source clock) without a face before saying so


def outside_fraction(landmarks: np.ndarray, frame_size: tuple[int, int]) -> float:
    """Share of ``landmarks`` (N, 2+) in pixels outside the ``(width, height)`` frame (0 … 1)."""
    w, h = frame_size
    xy = np.asarray(landmarks)[:, :2]
    outside = (xy[:, 0] < 0) | (xy[:, 0] >= w) | (xy[:, 1] < 0) | (xy[:, 1] >= h)
    return float(outside.mean()) if len(xy) else 0.0


class FaceWatch:
    """Per-stream state; ``update`` once per new driver frame, in order, on one thread.

    Args:
        source: the source's name, for the messages.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames = 0
        self.faces = 0  # frames with a usable face
        self.cut = False  # the face is leaving (or has left) the frame
        self._missing_since: float | None = None
        self._warned = False

    def update(self, observation: FaceObservation | None, t: float) -> FaceObservation | None:
        """The observation to animate from for a frame at source time ``t`` (s): None when there is
        no face or it is leaving the frame."""
        self.frames += 1
        if observation is not None:
            share = outside_fraction(observation.landmarks, observation.frame_size)
            was_cut = self.cut
            self.cut = share > (BACK_FRACTION if was_cut else CUT_FRACTION)
            if self.cut and not was_cut:
                log.info("The face is leaving the frame of %s (%.0f %% outside): the avatar eases back to neutral "
                         "until it is in view again.", self.source, share * 100)
            if self.cut:
                observation = None
        if observation is None:
            if self._missing_since is None:
                self._missing_since = t
            elif not self._warned and t - self._missing_since >= NO_FACE_WARN_S:
                self._warn(t - self._missing_since)
            return None
        if self._warned:
            log.info("Face found again in %s.", self.source)
        self._missing_since, self._warned = None, False
        self.faces += 1
        return observation

    def _warn(self, seconds: float) -> None:
        self._warned = True
        since = "since the start" if self.faces == 0 else f"for {seconds:.0f} s"
        log.warning("No face in %s %s: the avatar stays in its neutral pose. Face the camera with light on your "
                    "face, or check that --source shows a face.", self.source, since)

    def missing_for(self, t: float) -> float:
        """Seconds without a usable face at source time ``t`` (0 while there is one)."""
        return 0.0 if self._missing_since is None else max(0.0, t - self._missing_since)

    def notices(self, t: float) -> tuple[str, ...]:
        """Short lines for the stats overlay."""
        out = []
        if self.cut:
            out.append("FACE LEAVING THE FRAME")
        missing = self.missing_for(t)
        if missing >= NO_FACE_WARN_S:
            out.append(f"NO FACE FOR {missing:.0f} S")
        return tuple(out)

    def finish(self) -> None:
        """At the end of the stream: a source that never showed a face is said even when it was short."""
        if self.frames and self.faces == 0 and not self._warned:
            self._warned = True
            log.warning("No face in any of the %d frames of %s: the output shows the still photo. Drive with a "
                        "clip or camera that shows a face.", self.frames, self.source)
