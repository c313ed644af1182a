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
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from livehead.config import LiveHeadConfig, with_overrides
from livehead.errors import InputError
from livehead.pipeline.stats import STAGES, summarise

log = logging.getLogger(__name__)

__all__ = ["JSON_FIELDS", "SCHEMA", "ScriptedSource", "compare", "main", "run_network", "run_pipeline"]

SCHEMA = "livehead.bench/1"

# Every top-level field of the --json file and what it means (README "Measurement" lists them too).
JSON_FIELDS: dict[str, str] = {
    "schema": f"format version, '{SCHEMA}'",
    "mode": "'pipeline' (capture → tracking → render → null sink) or 'network' (Animator.render alone)",
    "created": "local time the run ended, ISO 8601",
    "machine": "platform, python, cpu model, cpu_count, load_avg_start / load_avg_end (1-min), gpu name or null",
    "engine": "what actually ran: engine, backend, device, precision (Animator.describe())",
    "requested": "engine, backend, device, precision, realtime (clip paced at its frame rate) as asked",
    "source": "driving input: kind ('clip' or 'scripted'), name, size [w, h]",
    "avatar": "avatar photo: name, working size [w, h]",
    "output_size": "[w, h] of the output frames",
    "frames": "frames measured (after warm-up)",
    "warmup": "frames run first and left out of every number",
    "stages_ms": "per stage {median, p95, mean, n} in ms: capture, tracking, smoothing, transfer, animate, "
                 "compose, sink (network mode: animate only)",
    "fps": "frames rendered per second of wall time, end to end",
    "latency_ms": "{median, p95, mean, n}: capture of a frame → its output handed to the sink (pipeline mode)",
    "dropped_frames": "frames captured but never rendered (latest-frame-wins skips them; unthrottled capture "
                      "reads faster than the pipeline renders, so this is expected to be large)",
    "engine_faults": "frames where the engine raised (the last good frame was repeated)",
    "duration_s": "wall time of the measured part",
    "memory": "rss_mb (resident now), peak_rss_mb (process peak), gpu_allocated_mb / gpu_peak_mb / "
              "gpu_reserved_mb (PyTorch CUDA allocator; null without CUDA)",
}

_CLIP_PREFERENCE = ("liveportrait_d20.mp4", "tpsmm_driving.mp4", "liveportrait_d0.mp4")
_PHOTO_PREFERENCE = ("liveportrait_s1.jpg", "aniportrait_Aragaki.png")


class ScriptedSource:
    """A looping video source made from the demo: the bundled avatar rendered by the mesh engine
    following ``ScriptedDriver`` (talk, nod, turn, blink). Needs no file, camera or media.
    """

    is_file = True
    loop = True

    def __init__(self, *, size: tuple[int, int] = (640, 480), seconds: float = 2.0, fps: float = 30.0) -> None:
        from livehead.animators import create_animator
        from livehead.commands.demo import ScriptedDriver, demo_avatar
        from livehead.pipeline.processor import FrameProcessor

        self.name = "scripted (demo avatar, ScriptedDriver)"
        self.fps = fps
        config = with_overrides(LiveHeadConfig(), {"output.size": size})
        animator = create_animator("mesh", grid_step=config.engine.grid_step, mouth_fill="synth")
        avatar = demo_avatar(size)
        processor = FrameProcessor(config, animator, animator.prepare(avatar))
        driver = ScriptedDriver(avatar.face)
        # The script's first seconds are speech, so the tracker sees the mouth move.
        self._frames = [
            processor.process(None, driver.observation(t), now=t).avatar_frame
            for t in (i / fps for i in range(int(round(seconds * fps))))
        ]
        self.size = (self._frames[0].shape[1], self._frames[0].shape[0])
        self._next = 0

    def read(self) -> np.ndarray:
        frame = self._frames[self._next]
        self._next = (self._next + 1) % len(self._frames)
        return frame

    def reopen(self) -> None:
        self._next = 0

    def close(self) -> None:
        pass


# ---- machine and memory ------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _cuda():
    """The torch module when this process has used CUDA, else None (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch


def _sync() -> None:
    torch = _cuda()
    if torch is not None:
        torch.cuda.synchronize()


def _memory() -> dict[str, float | None]:
    import psutil

    out: dict[str, float | None] = {"rss_mb": psutil.Process().memory_info().rss / 2**20, "peak_rss_mb": None}
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_mb"] = peak / 2**20 if platform.system() == "Darwin" else peak / 2**10  # bytes vs KiB
    except ImportError:  # Windows has no resource module
        pass
    torch = _cuda()
    out.update(gpu_allocated_mb=None, gpu_peak_mb=None, gpu_reserved_mb=None)
    if torch is not None:
        torch.cuda.synchronize()
        out.update(gpu_allocated_mb=torch.cuda.memory_allocated() / 2**20,
                   gpu_peak_mb=torch.cuda.max_memory_allocated() / 2**20,
                   gpu_reserved_mb=torch.cuda.memory_reserved() / 2**20)
    return out


def _machine(load_start: float | None) -> dict[str, Any]:
    torch = _cuda()
    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(), "load_avg_start": load_start, "load_avg_end": _load(),
        "gpu": torch.cuda.get_device_name() if torch is not None else None,
    }


# ---- the two modes -------------------------------------------------------------------------------
def run_pipeline(config: LiveHeadConfig, *, source, animator, avatar, frames: int, warmup: int) -> dict[str, Any]:
    """Full pipeline into a NullSink; numbers cover the ``frames`` after ``warmup`` frames."""
    from livehead.pipeline import Pipeline
    from livehead.sinks import NullSink

    state = animator.prepare(avatar)
    with Pipeline(config, source=source, animator=animator, states=[state], sinks=[NullSink()],
                  throttle=False) as pipeline:
        if warmup:
            pipeline.run(max_frames=warmup)
        stats = pipeline.stats
        marks = {k: len(v) for k, v in stats.stages.items()}
        latency_mark, rendered_mark = len(stats.latency_ms), stats.frames_rendered
        faults_mark, t0 = stats.engine_faults, time.monotonic()
        summary = pipeline.run(max_frames=warmup + frames)
        duration = max(stats.finished - t0, 1e-9)
        stages = {k: summarise(list(v)[marks.get(k, 0):]) for k, v in stats.stages.items()}
        latency = summarise(list(stats.latency_ms)[latency_mark:])
        rendered = stats.frames_rendered - rendered_mark
    ordered = {k: stages[k] for k in STAGES if k in stages}
    ordered.update({k: v for k, v in stages.items() if k not in ordered})
    return {
        "mode": "pipeline", "engine": summary["engine"], "frames": rendered, "warmup": warmup,
        "stages_ms": ordered, "fps": rendered / duration, "latency_ms": latency,
        "dropped_frames": summary["dropped_frames"], "engine_faults": stats.engine_faults - faults_mark,
        "duration_s": duration,
    }


def run_network(config: LiveHeadConfig, *, animator, avatar, frames: int, warmup: int) -> dict[str, Any]:
    """``Animator.render`` alone on synthetic driving: the avatar's own face moved by ``ScriptedDriver``.

    The driver frame handed to the engine is the avatar photo (its landmarks are where the
    scripted face is), so crop-based engines have real pixels to crop.
    """
    from livehead.animators.base import Driving
    from livehead.commands.demo import ScriptedDriver
    from livehead.stages.motion import transfer

    state = animator.prepare(avatar)
    driver = ScriptedDriver(avatar.face)
    h, w = avatar.image.shape[:2]
    reference = driver.observation(0.0)
    drivings = []
    for i in range(60):
        t = i / 30.0
        obs = driver.observation(t)
        target = transfer(avatar.face, reference, obs, config.motion, bounds=(w, h))
        drivings.append(Driving(observation=obs, reference=reference, reference_id=1, target_landmarks=target,
                                frame=avatar.image, reference_frame=avatar.image, timestamp=t))
    times = []
    t_start = 0.0
    for i in range(warmup + frames):
        if i == warmup:
            _sync()
            t_start = time.perf_counter()
        t0 = time.perf_counter()
        animator.render(state, drivings[i % len(drivings)])
        _sync()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    duration = max(time.perf_counter() - t_start, 1e-9)
    return {
        "mode": "network", "engine": dict(animator.describe()), "frames": frames, "warmup": warmup,
        "stages_ms": {"animate": summarise(times)}, "fps": frames / duration, "latency_ms": summarise([]),
        "dropped_frames": 0, "engine_faults": 0, "duration_s": duration,
    }


# ---- printing and comparing ----------------------------------------------------------------------
def _f(value: Any, spec: str = "{:.2f}") -> str:
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return spec.format(value)


def print_result(result: dict[str, Any], console) -> None:
    from rich.table import Table

    eng = result["engine"]
    src_size = f" {tuple(result['source']['size'])}" if result["source"]["size"] else ""
    console.print(
        f"Engine {eng.get('engine')} · backend {eng.get('backend')} · device {eng.get('device')} · "
        f"precision {eng.get('precision')}\nSource {result['source']['name']}{src_size} · "
        f"avatar {result['avatar']['name']} {tuple(result['avatar']['size'])} · "
        f"output {tuple(result['output_size'])} · "
        f"{result['frames']} frames after {result['warmup']} warm-up · mode {result['mode']}"
    )
    table = Table(title_justify="left")
    for col, justify in (("stage", "left"), ("median ms", "right"), ("p95 ms", "right"), ("n", "right")):
        table.add_column(col, justify=justify)
    for stage, s in result["stages_ms"].items():
        table.add_row(stage, _f(s["median"]), _f(s["p95"]), str(s["n"]))
    lat = result["latency_ms"]
    table.add_row("[bold]capture → sink latency[/bold]", _f(lat["median"]), _f(lat["p95"]), str(lat["n"]))
    console.print(table)
    mem = result["memory"]
    gpu = "" if mem["gpu_peak_mb"] is None else (
        f" · GPU {_f(mem['gpu_allocated_mb'], '{:.0f}')} MiB allocated, {_f(mem['gpu_peak_mb'], '{:.0f}')} MiB peak, "
        f"{_f(mem['gpu_reserved_mb'], '{:.0f}')} MiB reserved")
    m = result["machine"]
    console.print(
        f"[bold]{_f(result['fps'], '{:.1f}')} fps[/bold] end to end · {result['dropped_frames']} frames dropped · "
        f"{result['engine_faults']} engine faults · RSS {_f(mem['rss_mb'], '{:.0f}')} MiB "
        f"(peak {_f(mem['peak_rss_mb'], '{:.0f}')}){gpu}\n"
        f"{m['cpu']} × {m['cpu_count']} · load {_f(m['load_avg_start'])} → {_f(m['load_avg_end'])}"
        + (f" · GPU {m['gpu']}" if m["gpu"] else "")
    )


def _load_result(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Benchmark file not found: {path}. Write one with livehead bench --json {path}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON ({exc}). Give files written by livehead bench --json.") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("livehead.bench/"):
        raise InputError(f"{path} is not a livehead bench result (no schema '{SCHEMA}'). "
                         "Give files written by livehead bench --json.")
    return data


def compare(path_a: str, path_b: str, console) -> dict[str, Any]:
    """Print b / a for every stage's median and p95, fps, latency and memory; return the ratios."""
    from rich.table import Table

    a, b = _load_result(path_a), _load_result(path_b)

    def ratio(x: Any, y: Any) -> float:
        ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, y))
        return y / x if ok and x != 0 else math.nan

    def label(r: dict[str, Any]) -> str:
        e = r["engine"]
        return f"{e.get('engine')}/{e.get('backend')}/{e.get('device')}/{e.get('precision')}"

    console.print(f"a = {path_a} ({label(a)}, {a['mode']})\nb = {path_b} ({label(b)}, {b['mode']})\n"
                  "ratio = b / a: for ms and MiB below 1 means b is faster / smaller; "
                  "for fps above 1 means b is faster.")
    table = Table()
    for col, justify in (("measure", "left"), ("a", "right"), ("b", "right"), ("b / a", "right")):
        table.add_column(col, justify=justify)
    ratios: dict[str, float] = {}
    stages = list(a["stages_ms"]) + [s for s in b["stages_ms"] if s not in a["stages_ms"]]
    rows = []
    for stage in stages:
        for q in ("median", "p95"):
            x = a["stages_ms"].get(stage, {}).get(q)
            y = b["stages_ms"].get(stage, {}).get(q)
            rows.append((f"{stage} {q} ms", x, y))
    rows += [("latency median ms", a["latency_ms"].get("median"), b["latency_ms"].get("median")),
             ("latency p95 ms", a["latency_ms"].get("p95"), b["latency_ms"].get("p95")),
             ("fps", a.get("fps"), b.get("fps"))]
    rows += [(f"{k} MiB", a["memory"].get(k), b["memory"].get(k)) for k in ("peak_rss_mb", "gpu_peak_mb")]
    for name, x, y in rows:
        r = ratio(x, y)
        ratios[name] = r
        table.add_row(name, _f(x), _f(y), _f(r, "{:.3f}"))
    console.print(table)
    return ratios


# ---- command line --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livehead bench",
        description="Measure per-stage speed, end-to-end fps, latency and memory of the LiveHead pipeline.",
        epilog="JSON fields (--json):\n" + "\n".join(f"  {k}: {v}" for k, v in JSON_FIELDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", metavar="CLIP", help="driving clip, or 'scripted' for the built-in synthetic driver "
                                                    "(default: a clip from ../shared/media, else scripted)")
    p.add_argument("--avatar", metavar="PHOTO", help="avatar photo (default: a photo from ../shared/media, else "
                                                     "the demo's astronaut)")
    p.add_argument("--engine", default="mesh", help="mesh (default) | fomm | fv2v | liveportrait")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime", "tensorrt"], default="auto",
                   help="network runtime for neural engines")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where neural engines run")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32", help="neural engine precision on CUDA")
    p.add_argument("--checkpoint", metavar="PATH", help="checkpoint for fomm / fv2v, weights folder for liveportrait")
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


def _default_media(names: tuple[str, ...], suffixes: tuple[str, ...]) -> Path | None:
    from livehead.commands.eval import default_media_dir

    media = default_media_dir()
    if media is None:
        return None
    for name in names:
        if (media / name).is_file():
            return media / name
    found = sorted(f for f in media.iterdir() if f.suffix.lower() in suffixes)
    return found[0] if found else None


def main(argv: list[str]) -> int:
    from rich.console import Console

    from livehead.animators import animator_from_config
    from livehead.avatars.photo import load_avatar
    from livehead.stages.capture import VideoFileSource
    from livehead.commands.demo import demo_avatar
    from livehead.commands.eval import parse_size

    ns = build_parser().parse_args(argv)
    console = Console()
    if ns.compare:
        compare(ns.compare[0], ns.compare[1], console)
        return 0
    if ns.frames < 1 or ns.warmup < 0:
        raise InputError(f"--frames must be ≥ 1 and --warmup ≥ 0, got {ns.frames} and {ns.warmup}")
    size = parse_size(ns.size)
    load_start = _load()
    config = with_overrides(LiveHeadConfig(), {
        "output.size": size, "output.vcam": False, "output.preview": False,
        "engine.engine": ns.engine, "engine.backend": ns.backend, "engine.device": ns.device,
        "engine.precision": ns.precision, "engine.checkpoint": ns.checkpoint, "capture.realtime": ns.realtime,
    })
    animator = animator_from_config(config)
    described = animator.describe()
    if ns.device != "auto" and described.get("device") != ns.device:
        console.print(f"[yellow]Note:[/yellow] --device {ns.device} asked, engine {ns.engine} runs on "
                      f"{described.get('device')}.")

    avatar_path = Path(ns.avatar) if ns.avatar else _default_media(_PHOTO_PREFERENCE, (".png", ".jpg", ".jpeg"))
    avatar = load_avatar(avatar_path, working_size=size) if avatar_path else demo_avatar(size)

    source, source_info = None, {"kind": "scripted", "name": "synthetic driving (ScriptedDriver)", "size": None}
    if not ns.network_only:
        clip = None if ns.source == "scripted" else (
            Path(ns.source) if ns.source else _default_media(_CLIP_PREFERENCE, (".mp4", ".mov", ".avi", ".mkv")))
        source = VideoFileSource(path=clip, loop=True) if clip else ScriptedSource()
        if ns.camera_fps and clip:
            source.fps = float(ns.camera_fps)  # the capture thread paces files at source.fps
        source_info = {"kind": "clip" if clip else "scripted", "name": source.name, "size": list(source.size)}
    try:
        if ns.network_only:
            result = run_network(config, animator=animator, avatar=avatar, frames=ns.frames, warmup=ns.warmup)
        else:
            result = run_pipeline(config, source=source, animator=animator, avatar=avatar, frames=ns.frames,
                                  warmup=ns.warmup)
    finally:
        if source is not None:
            source.close()
    result = {
        "schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result,
        "requested": {"engine": ns.engine, "backend": ns.backend, "device": ns.device, "precision": ns.precision,
                      "realtime": ns.realtime, "camera_fps": ns.camera_fps},
        "source": source_info, "avatar": {"name": avatar.name, "size": list(avatar.image.shape[1::-1])},
        "output_size": list(size), "memory": _memory(), "machine": _machine(load_start),
    }
    result = {k: result[k] for k in JSON_FIELDS if k in result}
    print_result(result, console)
    if ns.json:
        from livehead.eval.report import json_ready

        Path(ns.json).write_text(json.dumps(json_ready(result), indent=1, allow_nan=False), encoding="utf-8")
        console.print(f"Numbers written to {ns.json}")
    return 0
