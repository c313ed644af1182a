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
from livehead.errors import EXIT_CODES, RunFailure

log = logging.getLogger(__name__)

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """``livehead demo``: the bundled portrait driven by the scripted driver, recorded to a video; no camera, GPU or download. Returns the exit code."""
    from livehead.animators import create_animator
    from livehead.config.loading import check_option
    from livehead.config.validation import Range, check_flag
    from livehead.pipeline.processor import FrameProcessor
    from livehead.sinks import RecorderSink, check_recording_path

    p = argparse.ArgumentParser(prog="livehead demo", description=__doc__.splitlines()[0], epilog=EXIT_CODES)
    p.add_argument("--output", default="demo.mp4", help="where to write the video: .mp4, .mkv, .mov or .m4v "
                                                          "(default demo.mp4)")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists (demo.mp4 always is)")
    p.add_argument("--seconds", type=float, default=ScriptedDriver.duration, help="length of the clip")
    p.add_argument("--frames", type=int, help="number of frames to write (instead of --seconds)")
    p.add_argument("--fps", default="30", help="frame rate")
    p.add_argument("--size", default="1280x720", help="output size WxH")
    p.add_argument("-v", "--verbose", action="store_true")
    ns = p.parse_args(argv)
    fps = check_option("output.fps", ns.fps, "--fps")
    w, h = check_option("output.size", ns.size, "--size")
    seconds = check_flag("--seconds", ns.seconds, Range(0, 3600, low_open=True, unit="seconds"))
    if ns.frames is not None:
        check_flag("--frames", ns.frames, Range(1, 1_000_000, unit="frames"))
    # the default name is the demo's own: running it again replaces it; a name the user chose is kept
    overwrite = ns.overwrite or (ns.output == "demo.mp4" and os.path.isfile(ns.output))
    check_recording_path(ns.output, overwrite=overwrite)
    config = with_overrides(LiveHeadConfig(), {"output.size": (w, h), "output.fps": fps})
    animator = create_animator("mesh", grid_step=config.engine.grid_step, mouth_fill="synth")
    info = animator.describe()
    print(f"Engine {info['engine']} ({info['detail']}), backend {info['backend']}, device {info['device']}.")
    avatar = demo_avatar(config.output.size)
    processor = FrameProcessor(config, animator, animator.prepare(avatar))
    driver = ScriptedDriver(avatar.face)
    sink = RecorderSink(path=ns.output, width=w, height=h, fps=fps, overwrite=overwrite)
    frames = ns.frames if ns.frames is not None else max(1, int(round(seconds * fps)))
    t0 = time.perf_counter()
    render_ms = []
    try:
        for i in range(frames):
            t = i / fps
            result = processor.process(None, driver.observation(t), now=t)
            render_ms.append(sum(result.timings_ms.values()))
            sink.send(result.output, t)
    except Exception:
        if sink.error is None:
            raise
        # a write error: the recorder kept the reason, reported below
    finally:
        sink.close()
    if not sink.written:
        raise RunFailure(f"Recording failed: {sink.error}.")
    took = time.perf_counter() - t0
    print(
        f"Wrote {frames} frames ({sink.duration:.1f} s, {w}x{h}) in {took:.1f} s; "
        f"median frame time {np.median(render_ms):.1f} ms."
    )
    print(f"Demo video: {sink.path.resolve()}")
    return 0
