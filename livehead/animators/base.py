"""The Animator contract: every engine (mesh, fomm, fv2v) sits behind it.

``prepare`` runs once per avatar (slow work: encodings, keypoints); ``render`` runs per frame and
must only do what depends on the driver. The pipeline, tests and benchmarks treat engines alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol

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


AnimatorFactory = Callable[..., Animator]
ANIMATORS: dict[str, AnimatorFactory] = {}


def register_animator(name: str, factory: AnimatorFactory) -> None:
    """Make an engine selectable by name (``--engine NAME``)."""
    ANIMATORS[name] = factory


def animator_from_config(config: Any, *, engine: str | None = None) -> Animator:
    """The engine ``config.engine.engine`` (or ``engine``) built from a ``LiveHeadConfig``
    (engine section + motion strength): the one place the CLI, bench, eval and the pipeline's
    fallback build an engine."""
    import dataclasses

    options = {k: v for k, v in dataclasses.asdict(config.engine).items() if k != "engine"}
    return create_animator(engine or config.engine.engine, expression_strength=config.motion.expression_strength,
                           **options)


def create_animator(name: str, **kwargs: Any) -> Animator:
    """Build a registered engine; an unknown name lists the registered ones."""
    from livehead.animators import _register_builtin

    _register_builtin()
    if name not in ANIMATORS:
        known = ", ".join(sorted(ANIMATORS))
        from livehead.errors import LiveHeadError

        raise LiveHeadError(f"Unknown engine {name!r}. Choose one of: {known} (--engine NAME).")
    return ANIMATORS[name](**kwargs)
