"""The built-in demo material: a bundled public-domain portrait and a scripted driver.

``demo_avatar`` is scikit-image's astronaut photo (NASA, public domain) prepared like a user's
photo; ``ScriptedDriver`` moves a face's own landmarks through a talk, nod, turn and blink
sequence, so ``livehead demo``, ``livehead bench --source scripted`` and tests run with no camera,
clip or download.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from livehead.face.geometry import rotation_from_euler
from livehead.stages.motion import _set_eye_openness, _set_mouth_gap, from_local, to_local
from livehead.stages.tracking import observation_from_landmarks
from livehead.types import FaceObservation

__all__ = ["Keyframe", "ScriptedDriver", "demo_avatar", "demo_photo"]


@dataclass(frozen=True)
class Keyframe:
    """The scripted driver's pose (degrees), mouth gap and eye openness at one moment."""
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    mouth: float = 0.0  # inner-lip gap in canonical units (0.3 ≈ wide open)
    eyes: float = 1.0  # 1 open, 0 closed


class ScriptedDriver:
    """A synthetic driver: talks, nods, turns and blinks on a fixed script of ``duration`` seconds.

    ``observation(t)`` returns the driver's face at time t, built from ``face`` (any
    FaceObservation, usually the avatar's own) so no camera or tracker is needed.
    """

    duration = 10.0

    def __init__(self, face: FaceObservation) -> None:
        self.face = face
        self.local = to_local(face)

    def keyframe(self, t: float) -> Keyframe:
        """The script at time ``t`` seconds: talking, a nod, a look left and right, a tilt, four blinks."""
        syllables = 0.5 + 0.5 * math.sin(2 * math.pi * 3.7 * t) * math.sin(2 * math.pi * 0.9 * t)
        talking = 0.0
        if t < 3.0 or 7.0 <= t < 10.0:
            talking = 0.32 * max(0.0, syllables) ** 1.5
        yaw = pitch = roll = 0.0
        if 3.0 <= t < 5.0:  # nod
            pitch = 9.0 * math.sin(2 * math.pi * (t - 3.0))
        elif 5.0 <= t < 7.0:  # look left and right
            yaw = 16.0 * math.sin(math.pi * (t - 5.0))
        elif t >= 7.0:  # tilt while talking
            roll = 7.0 * math.sin(math.pi * (t - 7.0) / 1.5)
        eyes = 1.0
        for blink in (1.3, 4.2, 6.1, 8.6):
            d = abs(t - blink)
            if d < 0.09:
                eyes = min(eyes, d / 0.09)
        return Keyframe(yaw, pitch, roll, talking, eyes)

    def observation(self, t: float) -> FaceObservation:
        """The driver's face at time ``t``: :attr:`face` moved and animated as :meth:`keyframe` says."""
        k = self.keyframe(t)
        local = _set_mouth_gap(self.local, self.local, k.mouth)
        local = _set_eye_openness(local, self.local, (k.eyes, k.eyes))
        pose = self.face.pose
        rotation = rotation_from_euler(k.yaw, k.pitch, k.roll) @ pose.rotation
        pts = from_local(local, rotation, pose.scale, pose.translation)
        return observation_from_landmarks(pts, timestamp=t, frame_size=self.face.frame_size)


def demo_photo() -> np.ndarray:
    """The bundled portrait, (512, 512, 3) uint8 RGB: scikit-image's astronaut (NASA, public domain)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def demo_avatar(working_size: tuple[int, int]):
    """The bundled avatar: :func:`demo_photo` prepared like a user's photo."""
    from livehead.avatars.photo import avatar_from_array

    image = demo_photo()
    return avatar_from_array(
        image,
        name="astronaut (scikit-image, public domain)",
        content_hash=hashlib.sha256(image.tobytes()).hexdigest(),
        working_size=working_size,
    )
