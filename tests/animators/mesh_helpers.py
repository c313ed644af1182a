"""Shared helpers for the mesh engine's behaviour tests: avatars, a measuring tracker, rendering."""

from __future__ import annotations

import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.animators.mesh.animator import MeshAnimator, MeshState
from livehead.config import MotionConfig
from livehead.stages.motion import Openness, to_local, transfer
from livehead.stages.tracking import FaceTracker
from livehead.types import FaceObservation

WORK = (1280, 720)  # the default output size: avatars are prepared at this working size


def demo_avatar() -> AvatarImage:
    """The bundled public-domain astronaut photo (scikit-image), tracked at the default working size."""
    from livehead.commands.demo import demo_avatar as make

    return make(WORK)


def photo(name: str) -> AvatarImage:
    """A photo from ../shared/media (the test skips with a reason when it is absent)."""
    from _media import media
    from livehead.avatars.photo import load_avatar

    return load_avatar(media(name), working_size=WORK)


def first_frame(clip: str) -> AvatarImage:
    """A clip's first frame from ../shared/media as the avatar (self-reenactment's avatar)."""
    from _media import media
    from helpers import read_clip
    from livehead.avatars.photo import avatar_from_array

    return avatar_from_array(read_clip(media(clip), limit=1)[0], name=clip, content_hash=f"{clip}-0")


def render(engine: MeshAnimator, state: MeshState, target: np.ndarray, *, observation: FaceObservation | None = None,
           frame: np.ndarray | None = None) -> np.ndarray:
    face = state.avatar.face
    return engine.render(state, Driving(observation=observation or face, reference=face, reference_id=1,
                                        target_landmarks=target, frame=frame))


def pose_target(avatar: AvatarImage, *, mouth: float = 0.0, eyes: tuple[float, float] = (1.0, 1.0),
                driver: FaceObservation | None = None) -> np.ndarray:
    """Avatar landmarks with the given opening (and the driver's change against the avatar's own face)."""
    face = avatar.face
    return transfer(face, face, driver or face, MotionConfig(), openness=Openness(mouth=mouth, eyes=eyes))


def measure(image: np.ndarray) -> FaceObservation:
    """The face in ``image`` as an independent detection sees it (MediaPipe, static-image mode)."""
    with FaceTracker(static_image_mode=True, max_faces=1) as tracker:
        seen = tracker.track(np.ascontiguousarray(image))
    assert seen is not None, "no face found in the rendered avatar"
    return seen


def local(observation: FaceObservation) -> np.ndarray:
    return to_local(observation)
