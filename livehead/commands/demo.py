"""``livehead demo``: animate a bundled public-domain portrait with scripted motion → demo.mp4.

Needs no camera, GPU or download: the avatar is scikit-image's astronaut photo (NASA, public
domain) and the driver is a scripted face — the avatar's own landmarks moved through a talk, nod,
turn and blink sequence — fed through the same frame path as a real camera.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from livehead.config import LiveHeadConfig, with_overrides
from livehead.face.geometry import rotation_from_euler
from livehead.stages.motion import _set_eye_openness, _set_mouth_gap, from_local, to_local
from livehead.stages.tracking import observation_from_landmarks
from livehead.types import FaceObservation

log = logging.getLogger(__name__)

__all__ = ["ScriptedDriver", "demo_avatar", "demo_photo", "main"]


@dataclass(frozen=True)
class Keyframe:
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


def main(argv: list[str]) -> int:
    from livehead.animators import create_animator
    from livehead.pipeline.processor import FrameProcessor
    from livehead.sinks import RecorderSink

    p = argparse.ArgumentParser(prog="livehead demo", description=__doc__.splitlines()[0])
    p.add_argument("--output", default="demo.mp4", help="where to write the video (default demo.mp4)")
    p.add_argument("--seconds", type=float, default=ScriptedDriver.duration, help="length of the clip")
    p.add_argument("--frames", type=int, help="number of frames to write (instead of --seconds)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate")
    p.add_argument("--size", default="1280x720", help="output size WxH")
    p.add_argument("-v", "--verbose", action="store_true")
    ns = p.parse_args(argv)
    try:
        w, h = (int(v) for v in ns.size.lower().split("x"))
    except ValueError:
        from livehead.errors import InputError

        raise InputError(f"--size must look like 1280x720, got {ns.size!r}") from None
    config = with_overrides(LiveHeadConfig(), {"output.size": (w, h), "output.fps": ns.fps})
    animator = create_animator("mesh", grid_step=config.engine.grid_step, mouth_fill="synth")
    info = animator.describe()
    print(f"Engine {info['engine']} ({info['detail']}), backend {info['backend']}, device {info['device']}.")
    avatar = demo_avatar(config.output.size)
    processor = FrameProcessor(config, animator, animator.prepare(avatar))
    driver = ScriptedDriver(avatar.face)
    sink = RecorderSink(path=ns.output, width=w, height=h, fps=ns.fps)
    frames = ns.frames if ns.frames is not None else int(round(ns.seconds * ns.fps))
    if frames < 1:
        from livehead.errors import InputError

        raise InputError(f"--frames/--seconds must give at least one frame, got {frames}")
    t0 = time.perf_counter()
    render_ms = []
    try:
        for i in range(frames):
            t = i / ns.fps
            result = processor.process(None, driver.observation(t), now=t)
            render_ms.append(sum(result.timings_ms.values()))
            sink.send(result.output)
    finally:
        sink.close()
    took = time.perf_counter() - t0
    print(
        f"Wrote {frames} frames ({frames / ns.fps:.1f} s, {w}x{h}) in {took:.1f} s; "
        f"median frame time {np.median(render_ms):.1f} ms."
    )
    print(f"Demo video: {os.path.abspath(ns.output)}")
    return 0
