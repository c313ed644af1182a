"""The Animator contract: every engine (mesh, fomm, fv2v) sits behind it.

``prepare`` runs once per avatar (slow work: encodings, keypoints); ``render`` runs per frame and
must only do what depends on the driver. The pipeline, tests and benchmarks treat engines alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from livehead.types import FaceObservation


@dataclass(frozen=True)
class AvatarImage:
    """A decoded avatar photo with its detected face, before any engine touched it.

    ``image`` is (H, W, 3) uint8 RGB at working resolution; ``face`` is measured in that image.
    """

    name: str
    image: np.ndarray
    face: FaceObservation
    content_hash: str  # sha256 of the file bytes (cache key)


@dataclass(frozen=True)
class Driving:
    """Everything an engine may use to render one frame.

    ``target_landmarks`` are the avatar's landmarks moved by the motion transfer, in avatar
    pixels (478, 3): the mesh engine warps to them. Neural engines crop ``frame`` around
    ``observation`` and compare with ``reference_frame`` (the calibration frame);
    ``reference_id`` changes whenever the user recalibrates so engines can cache reference work.
    """

    observation: FaceObservation
    reference: FaceObservation
    reference_id: int
    target_landmarks: np.ndarray
    frame: np.ndarray | None = None
    reference_frame: np.ndarray | None = None
    timestamp: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)


class AvatarState(Protocol):
    """Engine-specific cached work for one avatar; must expose the source avatar."""

    avatar: AvatarImage


class Animator(Protocol):
    """An animation engine. Constructors take keyword arguments only."""

    name: ClassVar[str]

    def prepare(self, avatar: AvatarImage) -> AvatarState:
        """Run once per avatar: cache everything that does not depend on the driver."""
        ...

    def render(self, state: AvatarState, driving: Driving) -> np.ndarray:
        """Return the animated avatar, (H, W, 3) uint8 RGB, same size as ``state.avatar.image``."""
        ...

    def describe(self) -> dict[str, str]:
        """What is actually running: {'engine', 'backend', 'device', 'precision'}."""
        ...
