#!/usr/bin/env python3
"""The GPU check of the neural engines (issue 11): one script, a few minutes on one CUDA GPU.

    make gpu-check-media   # once, where MediaPipe and ../shared/media are: the clip, its recorded
                           # tracking, the avatar as prepared, the golden fixtures -> gpu-check-media/
    make gpu-check         # on the CUDA machine -> gpu-check-results/ (every JSON, summary.md)

For fomm and fv2v (calibrated random weights of the public architecture, 256² crops, 1280×720 output):

1. memory-capped run: torch fp16 network-only frames under ``set_per_process_memory_fraction`` of
   an 8 GB card; it must run, not OOM; peak memory reported;
2. ``livehead bench`` network-only and pipeline (real clip, replayed tracking, unthrottled) for
   torch fp32, torch fp16 and inductor fp16 (the first inductor start compiles: cold cache);
3. the same pipeline paced like a 30 fps camera (inductor fp16): fps, dropped frames, latency;
4. sync-debug run: ``torch.cuda.set_sync_debug_mode("warn")`` over steady frames of the GPU frame
   path, counting host synchronisations (expected: none);
5. fp16 accuracy per graph, real fp16 on the GPU (``livehead.bench.fp16``): random weights and the
   golden fixtures when carried;
6. second start of inductor in a new process (warm compile cache): start-up times.

Steps run in that order of importance per engine and stop at ``--budget-s``; what did not fit is
listed as skipped. Without a CUDA GPU it says so and exits with status 2. MediaPipe is not needed
on the GPU machine: the pipeline replays the tracking recorded by ``prepare``
(:mod:`livehead.bench.replay`). With the device tool (only 8 files come back)::

    python3 tools/gpu_check.py run --media gpu-check-media --out /tmp/gc && cp /tmp/gc/summary.md /tmp/gc/results.json $OUT/
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLIP, PHOTO = "liveportrait_d20.mp4", "liveportrait_s1.jpg"  # a talking clip, a frontal photo (../shared/media)
FIXTURES = ("fomm_tiny.pth.tar", "fomm_tiny.yaml", "fv2v_tiny.pth.tar", "fv2v_tiny.yaml")
OUTPUT = (1280, 720)
CARD_GB = 8.0


@dataclass(frozen=True)
class Plan:
    """What a run measures. ``FULL`` on the GPU; ``SMOKE`` (``run --cpu-smoke``) walks the same code on
    the CPU with tiny counts, so CI checks the script itself (CUDA-only steps are left out)."""

    device: str = "cuda"
    crop: int = 256
    engines: tuple[str, ...] = ("fomm", "fv2v")
    variants: tuple[tuple[str, str], ...] = (("torch", "fp16"), ("inductor", "fp16"), ("torch", "fp32"))  # by importance
    network: tuple[int, int] = (100, 20)  # frames, warm-up
    pipeline: tuple[int, int] = (300, 30)
    paced: int = 240  # frames of the 30 fps camera run (0: none)
    cuda_steps: bool = True  # memory cap, sync debug, fp16 accuracy, second start


FULL = Plan()
SMOKE = Plan(device="cpu", crop=128, engines=("fomm",), variants=(("torch", "fp32"),), network=(2, 1), pipeline=(3, 1),
             paced=0, cuda_steps=False)
PLAN = FULL
NO_CUDA = ("gpu_check: no CUDA GPU visible to torch {torch} (built with CUDA {cuda}). This check measures the GPU "
           "path; run it on a machine with an NVIDIA GPU and a CUDA build of torch (make gpu-check).")


# ---- prepare (where MediaPipe and the media are) ------------------------------------------------
def prepare(media: Path, reference: Path, out: Path) -> None:
    """Copy the clip, record its tracking and the prepared avatar, copy the fixtures into ``out``."""
    from livehead.bench.replay import record_avatar, record_clip

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media / CLIP, out / CLIP)
    frames = record_clip(out / CLIP, out / "tracking.npz")
    record_avatar(media / PHOTO, OUTPUT, out / "avatar.npz")
    copied = [name for name in FIXTURES if (reference / name).is_file()]
    for name in copied:
        shutil.copyfile(reference / name, out / name)
    (out / "manifest.json").write_text(json.dumps({"clip": CLIP, "frames": frames, "avatar": PHOTO,
                                                   "output": OUTPUT, "fixtures": copied}, indent=1))
    print(f"{out}: {CLIP} ({frames} frames tracked), {PHOTO} at {OUTPUT[0]}x{OUTPUT[1]}, fixtures {copied}")


# ---- measuring -----------------------------------------------------------------------------------
class Check:
    """The results so far, the time budget, and the one place a step's failure is recorded."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out = out
        self.deadline = time.monotonic() + budget_s
        self.results: dict[str, Any] = {}
        self.skipped: list[str] = []
        self.errors: dict[str, str] = {}

    def step(self, name: str, fn: Callable[[], Any], *, needs_s: float = 0.0) -> Any:
        if time.monotonic() + needs_s > self.deadline:
            self.skipped.append(name)
            print(f"-- {name}: skipped (time budget)", flush=True)
            return None
        print(f"-- {name}", flush=True)
        t0 = time.monotonic()
        try:
            value = fn()
        except Exception as exc:  # one failed step must not lose the others' numbers
            self.errors[name] = f"{type(exc).__name__}: {exc}"
            print(f"   FAILED: {self.errors[name]}", flush=True)
            return None
        self.results[name] = value
        print(f"   done in {time.monotonic() - t0:.1f} s", flush=True)
        return value


def _config(engine: str, backend: str, precision: str, *, realtime: bool = False):
    from livehead.config import LiveHeadConfig, with_overrides

    return with_overrides(LiveHeadConfig(), {
        "output.size": OUTPUT, "output.vcam": False, "output.preview": False, "engine.engine": engine,
        "engine.backend": backend, "engine.device": PLAN.device, "engine.precision": precision,
        "engine.crop_size": PLAN.crop, "capture.realtime": realtime})


def _finish(measured: dict, config, requested: dict, source: dict, avatar, out: Path, name: str) -> dict:
    from livehead.bench.report import finish, write_json
    from livehead.bench.resources import machine, memory

    result = finish(measured, requested=requested, source=source,
                    avatar={"name": avatar.name, "size": list(avatar.image.shape[1::-1])},
                    output_size=list(config.output.size), memory=memory(), machine=machine(None))
    write_json(result, out / f"{name}.json")
    return result


class Media:
    """The driving source, the tracker for it and the avatar, from the first that is there: media
    prepared by ``prepare`` (tracking replayed), ../shared/media (live MediaPipe), or the built-in
    scripted driver and demo avatar (live MediaPipe; no real clip)."""

    def __init__(self, folder: Path) -> None:
        from livehead.bench.replay import ReplayTracker, load_avatar_recording

        self.clip: Path | None = None
        self.tracker = None  # None: MediaPipe, as livehead runs
        self.fixtures = REPO.parent / "shared" / "reference"
        shared = REPO.parent / "shared" / "media"
        if (folder / "tracking.npz").is_file():
            self.clip, self.fixtures = folder / CLIP, folder
            self.avatar = load_avatar_recording(folder / "avatar.npz")
            self.tracker = lambda: ReplayTracker(folder / "tracking.npz")
            self.note = f"{CLIP}, tracking replayed from {folder / 'tracking.npz'}"
            return
        import importlib.util

        if importlib.util.find_spec("mediapipe") is None:
            raise SystemExit(f"gpu_check: no prepared media in {folder} and no MediaPipe to track a clip here: run "
                             "`make gpu-check-media` where MediaPipe and ../shared/media are, and bring that folder "
                             "along (it is git-ignored).")
        if (shared / CLIP).is_file():
            from livehead.avatars.photo import load_avatar

            self.clip, self.avatar = shared / CLIP, load_avatar(shared / PHOTO, working_size=OUTPUT)
            self.note = f"{CLIP}, live MediaPipe tracking"
        else:
            from livehead.avatars.demo import demo_avatar

            self.avatar = demo_avatar(OUTPUT)
            self.note = "scripted driver (no real clip: run make gpu-check-media where ../shared/media is), live MediaPipe"

    def open(self):
        """A looping source for one pipeline run (``size``, ``fps`` settable, ``close``)."""
        if self.clip is None:
            from livehead.bench.runs import ScriptedSource

            return ScriptedSource(size=(640, 480))
        from livehead.stages.capture import VideoFileSource

        return VideoFileSource(path=self.clip, loop=True)


def _random_models(engine: str):
    """The public architecture with the calibrated random weights the engines get (made once per process)."""
    from livehead.animators.neural.base import _random_state
    from livehead.models import PUBLIC_CONFIGS, build_models

    models = build_models(next(c for c in PUBLIC_CONFIGS.values() if c.engine == engine))
    for name, module in models.items():
        module.load_state_dict(_random_state(engine, None, 0, PLAN.crop)[name])
    return models


def _engine(engine: str, backend: str, precision: str):
    """(animator, seconds to build it): random-weight calibration (CPU, once per process) not counted."""
    from livehead.animators import animator_from_config
    from livehead.animators.neural.base import _random_state

    _random_state(engine, None, 0, PLAN.crop)
    t0 = time.perf_counter()
    animator = animator_from_config(_config(engine, backend, precision), random_weights=True)
    return animator, time.perf_counter() - t0


def bench_variant(check: Check, media: Media, engine: str, backend: str, precision: str, *, paced: bool) -> None:
    import torch

    from livehead.bench.runs import run_network, run_pipeline
    tag = f"{engine}_{backend}_{precision}"
    if PLAN.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    animator, engine_s = _engine(engine, backend, precision)
    requested = {"engine": engine, "backend": backend, "device": PLAN.device, "precision": precision,
                 "realtime": False, "camera_fps": None, "random_weights": True}

    def network():
        frames, warmup = PLAN.network
        m = run_network(_config(engine, backend, precision), animator=animator, avatar=media.avatar, frames=frames,
                        warmup=warmup)
        m["startup"] = {"engine_s": engine_s, **m.pop("startup")}
        return _finish(m, _config(engine, backend, precision), requested,
                       {"kind": "scripted", "name": "synthetic driving (ScriptedDriver)", "size": None}, media.avatar,
                       check.out, f"{tag}_network")

    def pipeline(realtime: bool):
        config = _config(engine, backend, precision, realtime=realtime)
        source = media.open()
        if realtime:
            source.fps = 30.0  # paced like a 30 fps camera
        try:
            frames, warmup = (PLAN.paced, PLAN.pipeline[1]) if realtime else PLAN.pipeline
            m = run_pipeline(config, source=source, animator=animator, avatar=media.avatar, frames=frames,
                             warmup=warmup, tracker_factory=media.tracker)
        finally:
            source.close()
        m["startup"] = {"engine_s": engine_s, **m.pop("startup")}
        return _finish(m, config, {**requested, "realtime": realtime, "camera_fps": 30.0 if realtime else None},
                       {"kind": "clip" if media.clip else "scripted", "name": media.note, "size": list(source.size)},
                       media.avatar, check.out,
                       f"{tag}_pipeline{'_30fps' if realtime else ''}")

    check.step(f"{tag} network", network)
    check.step(f"{tag} pipeline", lambda: pipeline(False), needs_s=10)
    if paced and PLAN.paced:
        check.step(f"{tag} pipeline 30 fps camera", lambda: pipeline(True), needs_s=15)
    animator = None  # frees the engine (and its GPU memory) before the next configuration loads


def memory_capped(check: Check, media: Media, engine: str) -> None:
    """torch fp16 on an emulated 8 GB card: the allocator refuses anything past the cap."""
    import torch

    from livehead.bench.runs import run_network

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.set_per_process_memory_fraction(min(1.0, CARD_GB * 2**30 / total))
    try:
        animator, _ = _engine(engine, "torch", "fp16")
        m = run_network(_config(engine, "torch", "fp16"), animator=animator, avatar=media.avatar, frames=30, warmup=5)
        torch.cuda.synchronize()
        return {"card_gb": CARD_GB, "ran": True, "animate_median_ms": m["stages_ms"]["animate"]["median"],
                "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20,
                "gpu_reserved_mb": torch.cuda.max_memory_reserved() / 2**20}
    except torch.cuda.OutOfMemoryError as exc:
        return {"card_gb": CARD_GB, "ran": False, "error": str(exc).splitlines()[0]}
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()


def sync_debug(media: Media, engine: str) -> dict:
    """Host synchronisations per steady frame of the GPU frame path (torch fp16, captured steps)."""
    import warnings

    import torch

    from livehead.animators.base import Driving
    from livehead.avatars.demo import ScriptedDriver
    from livehead.stages.compose import Compositor

    animator, _ = _engine(engine, "torch", "fp16")
    state = animator.prepare(media.avatar)
    driver = ScriptedDriver(media.avatar.face)
    ref = driver.observation(0.0)
    frame = media.avatar.image
    compositor = Compositor(size=OUTPUT)

    def render(i: int) -> None:
        obs = driver.observation(i / 30.0)
        animator.render_composed(state, Driving(observation=obs, reference=ref, reference_id=1, target_landmarks=obs.landmarks,
                                                frame=frame, reference_frame=frame, timestamp=i / 30.0), compositor)

    for i in range(5):  # calibration, eager first frame, capture
        render(i)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for i in range(5, 35):
                render(i)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    messages = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
    return {"frames": 30, "sync_warnings": len(messages), "first": messages[:3], "detail": animator.describe()["detail"]}


def accuracy(media: Media, engine: str) -> dict:
    from livehead.bench.fp16 import graph_errors
    from livehead.models import load_checkpoint, load_model_config
    from livehead.runtime.graphs import build_graphs

    out = {"random weights": graph_errors(build_graphs(_random_models(engine), image_size=PLAN.crop), device="cuda")}
    yaml, ckpt = media.fixtures / f"{engine}_tiny.yaml", media.fixtures / f"{engine}_tiny.pth.tar"
    if yaml.is_file() and ckpt.is_file():
        import yaml as pyyaml

        size = int(pyyaml.safe_load(yaml.read_text())["dataset_params"]["frame_shape"][0])
        fixture = load_checkpoint(str(ckpt), load_model_config(str(yaml), engine=engine)).models
        out["fixture"] = graph_errors(build_graphs(fixture, image_size=size), device="cuda")
    return out


def network_alone(engine: str) -> dict:
    """The networks alone (``livehead.bench.gpu``): keypoints + keypoint math + generator per frame."""
    from livehead.bench.gpu import run_benchmark

    return run_benchmark(engine, size=PLAN.crop, iters=100, warmup=10, models=_random_models(engine))


def second_start(engine: str, data_dir: str) -> dict:
    """A new process, the same data folder (so inductor's compile cache is warm)."""
    env = {**os.environ, "LIVEHEAD_DATA_DIR": data_dir, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, __file__, "startup", "--engine", engine], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def startup(engine: str) -> None:
    """Build inductor fp16, prepare the avatar, render 3 frames; print the start-up times as JSON."""
    import numpy as np

    from livehead.avatars.demo import demo_avatar
    from livehead.bench.runs import run_network

    t0 = time.perf_counter()
    animator, engine_s = _engine(engine, "inductor", "fp16")
    avatar = demo_avatar(OUTPUT)
    m = run_network(_config(engine, "inductor", "fp16"), animator=animator, avatar=avatar, frames=1, warmup=2)
    print(json.dumps({"engine_s": engine_s, **m["startup"], "total_s": time.perf_counter() - t0,
                      "detail": animator.describe()["detail"], "frames_ok": bool(np.isfinite(m["fps"]))}))


# ---- summary -------------------------------------------------------------------------------------
def _ms(result: dict | None, stage: str = "animate", q: str = "median") -> str:
    value = None if result is None else (result.get("stages_ms", {}).get(stage) or {}).get(q)
    return "–" if value is None else f"{value:.2f}"


def summary_table(results: dict[str, Any], gpu: str) -> str:
    """The markdown table for the README: one row per engine and variant."""
    lines = [f"GPU: **{gpu}**. Calibrated random weights, {PLAN.crop}² crops, {OUTPUT[0]}×{OUTPUT[1]} output; median ms "
             "unless noted.", "",
             "| engine | backend / precision | networks alone ms | animate ms, network-only (p95) | "
             "animate ms in pipeline | end-to-end fps | 30 fps camera: fps / dropped / latency p95 ms | GPU peak MB | "
             "first frames ms (compile) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for engine in ("fomm", "fv2v"):
        for backend, precision in PLAN.variants:
            tag = f"{engine}_{backend}_{precision}"
            net, pipe = results.get(f"{tag} network"), results.get(f"{tag} pipeline")
            paced = results.get(f"{tag} pipeline 30 fps camera")
            if net is None and pipe is None:
                continue
            cam = "–" if paced is None else (f"{paced['fps']:.1f} / {paced['dropped_frames']} / "
                                             f"{paced['latency_ms']['p95']:.1f}")
            fps = "–" if pipe is None else f"{pipe['fps']:.1f}"
            peak = max((r["memory"]["gpu_peak_mb"] or 0) for r in (net, pipe) if r)
            first = "–" if net is None else ", ".join(f"{v:.0f}" for v in net["startup"]["first_frames_ms"])
            alone = _alone(results.get(f"{engine} network alone"), backend, precision)
            lines.append(f"| {engine} | {backend} {precision} | {alone} | {_ms(net)} ({_ms(net, q='p95')}) | "
                         f"{_ms(pipe)} | {fps} | {cam} | {peak:.0f} | {first} |")
    lines += ["", "| check | fomm | fv2v |", "|---|---|---|"]
    for label, key, fmt in (("8 GB card (torch fp16): ran, peak MB", "memory-capped", _fmt_cap),
                            ("host syncs in 30 steady frames", "sync-debug", lambda r: str(r["sync_warnings"])),
                            ("inductor second start: engine s + first frames ms", "second start", _fmt_start),
                            ("fp16 max abs err per graph (random weights)", "fp16 accuracy", _fmt_acc("random weights")),
                            ("fp16 max abs err per graph (fixture)", "fp16 accuracy", _fmt_acc("fixture"))):
        cells = []
        for engine in ("fomm", "fv2v"):
            r = results.get(f"{engine} {key}")
            cells.append("–" if r is None else fmt(r))
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _alone(result: dict | None, backend: str, precision: str) -> str:
    """The matching ``livehead.bench.gpu`` variant (with CUDA graphs where it has them): median ms."""
    if not result:
        return "–"
    rows = [v for v in result["variants"] if v["variant"].startswith(f"{backend} {precision}")]
    best = min(rows, key=lambda v: v["median_ms"]) if rows else None
    return "–" if best is None else f"{best['median_ms']:.2f} (max err {best['max_abs_err_vs_fp32_eager']:.3f})"


def _fmt_cap(r: dict) -> str:
    return f"yes, {r['gpu_peak_mb']:.0f}" if r["ran"] else f"NO: {r['error']}"


def _fmt_start(r: dict) -> str:
    return f"{r['engine_s']:.1f} s + {', '.join(f'{v:.0f}' for v in r['first_frames_ms'])}"


def _fmt_acc(which: str) -> Callable[[dict], str]:
    def fmt(r: dict) -> str:
        rows = r.get(which)
        if not rows:
            return "–"
        return "; ".join(f"{x['graph']}.{x['output']} {x['max_abs']:.3f}" for x in rows if x["precision"] == "fp16")

    return fmt


# ---- main ----------------------------------------------------------------------------------------
def run(media_dir: Path, out: Path, budget_s: float, *, smoke: bool = False) -> int:
    global PLAN
    from livehead.extras import missing_extra_error, missing_modules

    if missing := missing_modules("neural"):
        print(f"gpu_check: {missing_extra_error('neural', 'the GPU check', missing)}", file=sys.stderr)
        return 2
    import torch

    PLAN = SMOKE if smoke else FULL
    if PLAN.device == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA.format(torch=torch.__version__, cuda=torch.version.cuda or "none: a CPU-only torch"),
              file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"  # a fresh data folder: the first inductor start compiles from a cold cache
    shutil.rmtree(data, ignore_errors=True)
    os.environ["LIVEHEAD_DATA_DIR"] = str(data)
    os.environ.setdefault("LIVEHEAD_CONFIG_DIR", str(out / "config"))
    gpu = torch.cuda.get_device_name(0) if PLAN.device == "cuda" else "none (CPU smoke run)"
    check = Check(out, budget_s)
    media = Media(media_dir)
    print(f"gpu_check on {gpu} (torch {torch.__version__}, CUDA {torch.version.cuda}); media: {media.note}", flush=True)
    for engine in PLAN.engines:
        if PLAN.cuda_steps:
            check.step(f"{engine} memory-capped", lambda: memory_capped(check, media, engine), needs_s=20)
        for backend, precision in PLAN.variants:
            bench_variant(check, media, engine, backend, precision, paced=backend == "inductor")
        if PLAN.cuda_steps:
            check.step(f"{engine} network alone", lambda: network_alone(engine), needs_s=30)
            check.step(f"{engine} sync-debug", lambda: sync_debug(media, engine), needs_s=10)
            check.step(f"{engine} fp16 accuracy", lambda: accuracy(media, engine), needs_s=15)
    for engine in PLAN.engines if PLAN.cuda_steps else ():
        check.step(f"{engine} second start", lambda: second_start(engine, str(data)), needs_s=60)
    table = summary_table(check.results, gpu)
    if check.skipped or check.errors:
        table += "\nSkipped (time budget): " + (", ".join(check.skipped) or "none") + "\n"
        table += "".join(f"\nFAILED {k}: {v}" for k, v in check.errors.items()) + "\n"
    (out / "summary.md").write_text(table, encoding="utf-8")
    from livehead.eval.report import json_ready

    bundle = {"gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda, "media": media.note,
              "results": check.results, "skipped": check.skipped, "errors": check.errors}
    (out / "results.json").write_text(json.dumps(json_ready(bundle), indent=1), encoding="utf-8")
    print(table)
    return 1 if check.errors else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/gpu_check.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("prepare", help="record the media (needs MediaPipe and ../shared)")
    pre.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    pre.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    pre.add_argument("--out", type=Path, default=REPO / "gpu-check-media")
    go = sub.add_parser("run", help="run the check on the CUDA GPU")
    go.add_argument("--media", type=Path, default=REPO / "gpu-check-media")
    go.add_argument("--out", type=Path, default=REPO / "gpu-check-results")
    go.add_argument("--budget-s", type=float, default=330.0, help="stop starting steps after this long (default 330)")
    go.add_argument("--cpu-smoke", action="store_true", help="walk the script on the CPU with tiny counts (CI)")
    st = sub.add_parser("startup", help="(internal) one inductor start, printed as JSON")
    st.add_argument("--engine", required=True, choices=["fomm", "fv2v"])
    args = p.parse_args(argv)
    if args.command == "prepare":
        prepare(args.media, args.reference, args.out)
        return 0
    if args.command == "startup":
        startup(args.engine)
        return 0
    return run(args.media, args.out, args.budget_s, smoke=args.cpu_smoke)


if __name__ == "__main__":
    sys.exit(main())
