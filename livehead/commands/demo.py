"""``livehead demo``: animate a bundled public-domain portrait with scripted motion → demo.mp4.

Needs no camera, GPU or download: the avatar is scikit-image's astronaut photo (NASA, public
domain) and the driver is a scripted face — the avatar's own landmarks moved through a talk, nod,
turn and blink sequence — fed through the same frame path as a real camera.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np

from livehead.avatars.demo import ScriptedDriver, demo_avatar
from livehead.config import LiveHeadConfig, with_overrides

log = logging.getLogger(__name__)

__all__ = ["main"]


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
