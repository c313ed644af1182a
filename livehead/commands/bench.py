"""``livehead bench``: speed of the full pipeline (or of the engine alone), per stage.

The pipeline runs exactly as ``livehead`` runs it — capture thread, tracking thread, render loop —
on a clip instead of a camera, unthrottled (the file is read as fast as it decodes, the render
loop never waits for the output clock; ``--realtime`` paces the clip like a camera instead) into
the null sink. It reports per-stage median/p95 ms,
end-to-end fps, capture-to-sink latency and memory. ``--network-only`` times ``Animator.render``
alone on synthetic driving (no camera, no tracker): for neural engines that is the networks plus
crop and paste-back; for mesh, the warp.

Timings are of this machine *now*: other processes compete for the CPU, so the load average at
start and end is recorded next to the numbers. GPU work is synchronised before a timer is read.

Numbers are never reported under the wrong name: when the engine that ran is not the one asked for
(it faulted and the pipeline fell back to mesh) or any frame faulted, bench says so in red and exits
with status 1. ``--random-weights`` benchmarks fomm / fv2v / liveportrait without a checkpoint.

This module is only the command line: the measurements are ``livehead.bench.runs``, memory and
machine ``livehead.bench.resources``, the JSON fields, table and ``--compare``
``livehead.bench.report``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from livehead.bench.report import JSON_FIELDS, compare, finish, mismatch, print_result, write_json
from livehead.bench.resources import machine, memory
from livehead.bench.runs import ScriptedSource, run_network, run_pipeline
from livehead.config import LiveHeadConfig, with_overrides
from livehead.errors import EXIT_CODES, RunFailure
from livehead.runtime.machine import load_average

log = logging.getLogger(__name__)

__all__ = ["build_parser", "main"]

# Defaults from ../shared/media when present: a talking clip and a frontal photo.
_CLIP_PREFERENCE = ("liveportrait_d20.mp4", "tpsmm_driving.mp4", "liveportrait_d0.mp4")
_PHOTO_PREFERENCE = ("liveportrait_s1.jpg", "aniportrait_Aragaki.png")


def build_parser() -> argparse.ArgumentParser:
    """The ``livehead bench`` options, with the JSON fields and exit codes in the epilog."""
    p = argparse.ArgumentParser(
        prog="livehead bench",
        description="Measure per-stage speed, end-to-end fps, latency and memory of the LiveHead pipeline.",
        epilog="JSON fields (--json):\n" + "\n".join(f"  {k}: {v}" for k, v in JSON_FIELDS.items()) + "\n\n"
               + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", metavar="CLIP", help="driving clip, or 'scripted' for the built-in synthetic driver "
                                                    "(default: a clip from ../shared/media, else scripted)")
    p.add_argument("--avatar", metavar="PHOTO", help="avatar photo (default: a photo from ../shared/media, else "
                                                     "the demo's astronaut)")
    p.add_argument("--engine", default="mesh", help="mesh (default) | fomm | fv2v | liveportrait")
    p.add_argument("--backend", choices=["auto", "torch", "inductor", "onnxruntime", "tensorrt"], default="auto",
                   help="network runtime for neural engines")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where neural engines run")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32", help="neural engine precision on CUDA")
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint for fomm / fv2v, weights folder for liveportrait")
    p.add_argument("--random-weights", action="store_true",
                   help="fomm / fv2v / liveportrait: the full public architecture with calibrated random weights instead of a "
                        "checkpoint (speed does not depend on the weights; the pictures mean nothing)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-weights (default 0)")
    p.add_argument("--crop-size", type=int, default=256, metavar="PX",
                   help="neural network input size (default 256, the public checkpoints' size)")
    p.add_argument("--frames", type=int, default=300, metavar="N", help="frames to measure (default 300)")
    p.add_argument("--warmup", type=int, default=10, metavar="N", help="frames run first, not measured (default 10)")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="output size (default 1280x720)")
    p.add_argument("--json", metavar="FILE", help="also write the numbers to FILE")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print ratios b / a of two --json files")
    p.add_argument("--realtime", action="store_true",
                   help="read the clip at its own frame rate, like a camera (default: as fast as it decodes)")
    p.add_argument("--camera-fps", type=float, metavar="FPS",
                   help="with --realtime: pace the clip at FPS instead of its own rate (emulate a 30 fps webcam)")
    p.add_argument("--network-only", action="store_true",
                   help="time Animator.render alone on synthetic driving (no capture, no tracker)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str]) -> int:
    """``livehead bench``: run the real pipeline into a null sink and print (and ``--json``) per-stage times, fps, latency and memory. Returns the exit code."""
    from rich.console import Console

    from livehead.animators import animator_from_config
    from livehead.config.loading import check_option
    from livehead.config.validation import Range, check_flag
    from livehead.sinks import check_output_file

    ns = build_parser().parse_args(argv)
    console = Console()
    if ns.compare:
        compare(ns.compare[0], ns.compare[1], console)
        return 0
    check_flag("--frames", ns.frames, Range(1, 1_000_000, unit="frames"))
    check_flag("--warmup", ns.warmup, Range(0, 100_000, unit="frames"))
    size = check_option("output.size", ns.size, "--size")
    if ns.camera_fps is not None:
        check_option("capture.fps", ns.camera_fps, "--camera-fps")
    if ns.json:  # said now, not after the measurement
        check_output_file(ns.json, "--json", suffixes=(".json",))
    load_start = load_average()
    config = with_overrides(LiveHeadConfig(), {
        "output.size": size, "output.vcam": False, "output.preview": False,
        "engine.engine": ns.engine, "engine.backend": ns.backend, "engine.device": ns.device,
        "engine.precision": ns.precision, "engine.checkpoint": ns.checkpoint, "capture.realtime": ns.realtime,
        "engine.crop_size": ns.crop_size,
    })
    t_engine = time.perf_counter()
    extra = {"random_weights": True, "seed": ns.seed} if ns.random_weights else {}
    animator = animator_from_config(config, **extra)
    engine_s = time.perf_counter() - t_engine
    described = animator.describe()
    if ns.device != "auto" and described.get("device") != ns.device:
        console.print(f"[yellow]Note:[/yellow] --device {ns.device} asked, engine {ns.engine} runs on "
                      f"{described.get('device')}.")

    avatar = _avatar(ns, size)
    source, source_info = _source(ns)
    try:
        if ns.network_only:
            result = run_network(config, animator=animator, avatar=avatar, frames=ns.frames, warmup=ns.warmup)
        else:
            result = run_pipeline(config, source=source, animator=animator, avatar=avatar, frames=ns.frames,
                                  warmup=ns.warmup)
    finally:
        if source is not None:
            source.close()
    result["startup"] = {"engine_s": engine_s, **result.pop("startup")}
    result = finish(
        result,
        requested={"engine": ns.engine, "backend": ns.backend, "device": ns.device, "precision": ns.precision,
                   "realtime": ns.realtime, "camera_fps": ns.camera_fps, "random_weights": ns.random_weights},
        source=source_info, avatar={"name": avatar.name, "size": list(avatar.image.shape[1::-1])},
        output_size=list(size), memory=memory(), machine=machine(load_start),
    )
    print_result(result, console)
    if ns.json:
        try:
            write_json(result, ns.json)
        except OSError as exc:
            raise RunFailure(f"Could not write {ns.json}: {exc.strerror or exc}. The table above holds the numbers.") from None
        console.print(f"Numbers written to {ns.json}")
    wrong = mismatch(result)
    if wrong:
        console.print(f"[bold red]{wrong}[/bold red]")
        return 1
    return 0


def _avatar(ns: argparse.Namespace, size: tuple[int, int]):
    """--avatar, else a photo from ../shared/media, else the demo's astronaut."""
    from livehead.avatars.demo import demo_avatar
    from livehead.avatars.photo import load_avatar
    from livehead.eval.media import first_media

    path = Path(ns.avatar) if ns.avatar else first_media(_PHOTO_PREFERENCE, (".png", ".jpg", ".jpeg"))
    return load_avatar(path, working_size=size) if path else demo_avatar(size)


def _source(ns: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(the opened source or None in --network-only mode, its ``source`` field for the result).

    --source CLIP, else a clip from ../shared/media, else (or with ``--source scripted``) ScriptedSource.
    """
    from livehead.eval.media import first_media
    from livehead.stages.capture import VideoFileSource

    if ns.network_only:
        return None, {"kind": "scripted", "name": "synthetic driving (ScriptedDriver)", "size": None}
    clip = None if ns.source == "scripted" else (
        Path(ns.source) if ns.source else first_media(_CLIP_PREFERENCE, (".mp4", ".mov", ".avi", ".mkv")))
    source = VideoFileSource(path=clip, loop=True) if clip else ScriptedSource()
    if ns.camera_fps and clip:
        source.fps = float(ns.camera_fps)  # the capture thread paces files at source.fps
    return source, {"kind": "clip" if clip else "scripted", "name": source.name, "size": list(source.size)}
