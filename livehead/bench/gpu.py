"""Network-only GPU benchmark: per-frame latency of an engine on each GPU path.

    python -m livehead.bench.gpu --engine fomm [--size 256] [--iters 200] [--json out.json]

Measures the per-frame path (driving keypoints + keypoint math + generator, after the per-avatar
graphs ran once) with full-size networks (random weights calibrated like trained ones, or
``--checkpoint``) for: torch fp32 eager, torch fp16 (autocast, half conv weights) eager, torch
fp16 + CUDA graphs, inductor (torch.compile) fp16 + CUDA graphs when Triton is there, and
TensorRT fp16/fp32 when ``tensorrt`` imports and ``engines/`` holds plans
built on this machine for the same weights. Each iteration is timed between two
``torch.cuda.synchronize()`` calls, so launch overhead and GPU work both count; reported as median
and p95 in ms, with the max |difference| of each variant's prediction against fp32 eager on the
same frames. TF32 is off for fp32. Without a CUDA GPU it says so and exits with status 2.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

from livehead.bench.report import write_json

TARGET_MS = {"fomm": 3.0, "fv2v": 10.0}  # issue 4, on an H100


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def no_gpu_message() -> str | None:
    """None on a CUDA machine, else why this GPU-only benchmark cannot run here (torch build named)."""
    import torch

    if torch.cuda.is_available():
        return None
    return (f"gpu_bench: no CUDA GPU visible (torch {torch.__version__}, built with CUDA "
            f"{torch.version.cuda or 'none: this is a CPU-only torch'}). This benchmark measures GPU latency only; "
            "run it on a machine with an NVIDIA GPU and a CUDA build of torch.")


def time_frames(path, frames, *, warmup: int, iters: int) -> list[float]:
    """Per-iteration wall times (ms) of ``path.step`` cycling over ``frames``, each between two
    ``torch.cuda.synchronize()`` calls."""
    import torch

    for i in range(warmup):
        path.step(frames[i % len(frames)])
    torch.cuda.synchronize()
    times = []
    for i in range(iters):
        frame = frames[i % len(frames)]
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        path.step(frame)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def run_benchmark(engine: str, *, size: int = 256, iters: int = 200, warmup: int = 20, checkpoint: str | None = None,
                  config: str | None = None, engines_dir: str = "engines", seed: int = 0, frames: int = 4,
                  fp16_keypoints: bool = False, models=None) -> dict:
    """Run every available variant; returns a JSON-able dict (see the module docstring).

    ``models``: a ModelSet with calibrated random weights of ``seed`` already in it (saves the
    calibration when the caller has them, as ``tools/gpu_check.py`` does)."""
    import torch

    from livehead.models import PUBLIC_CONFIGS, build_models, load_checkpoint, load_model_config
    from livehead.models.random_init import randomize_
    from livehead.runtime import create_runner, probes
    from livehead.runtime.backend import BackendRequest
    from livehead.runtime.frame_path import FramePath
    from livehead.runtime.graphs import build_graphs, random_image
    from livehead.runtime.manifest import random_weights_id

    cfg = load_model_config(config, engine=engine) if config else next(
        c for c in PUBLIC_CONFIGS.values() if c.engine == engine)
    if checkpoint:
        loaded = load_checkpoint(checkpoint, cfg)
        base, sha = loaded.models, loaded.sha256
    elif models is not None:
        base, sha = models, random_weights_id(seed, size)
    else:
        base = build_models(cfg)
        randomize_(base, seed=seed, image_size=size)
        sha = random_weights_id(seed, size)  # matches plans from build_engines.py --random-weights --seed SEED
    gen = torch.Generator().manual_seed(seed + 1)
    source = random_image((1, 3, size, size), gen).cuda()
    driving = [random_image((1, 3, size, size), gen).cuda() for _ in range(frames)]

    variants = [("torch fp32 eager", "torch", "fp32", False), ("torch fp16 eager", "torch", "fp16", False),
                ("torch fp16 + CUDA graphs", "torch", "fp16", True)]
    why_not = probes.inductor(BackendRequest(device="cuda", precision="fp16"))
    if why_not is None:
        variants.append(("inductor fp16 + CUDA graphs", "inductor", "fp16", True))
    else:
        print(f"inductor fp16: skipped ({why_not})", flush=True)
    trt_status = {}
    for precision in ("fp16", "fp32"):
        why = probes.tensorrt(BackendRequest(device="cuda", precision=precision, engine=engine,
                                             engines_dir=Path(engines_dir), checkpoint_sha256=sha))
        why = None if why is None else str(why)
        trt_status[precision] = why or "benchmarked"
        if why is None:
            variants.append((f"tensorrt {precision} + CUDA graphs", "tensorrt", precision, True))
        else:
            print(f"tensorrt {precision}: skipped ({why})", flush=True)
    result = {"engine": engine, "size": size, "iters": iters, "device": torch.cuda.get_device_name(0),
              "torch": torch.__version__, "cuda": torch.version.cuda,
              "weights": checkpoint or f"random (seed {seed})", "variants": [], "tensorrt": trt_status}
    print(f"{engine} {size}x{size} on {result['device']} (torch {torch.__version__}, CUDA {torch.version.cuda}), "
          f"{iters} frames after {warmup} warm-up", flush=True)
    reference = None
    for label, backend, precision, cuda_graphs in variants:
        graphs = build_graphs(copy.deepcopy(base), image_size=size, checkpoint=checkpoint, checkpoint_sha256=sha,
                              fp16_keypoints=fp16_keypoints)
        runner = create_runner(backend, graphs, "cuda", precision, cuda_graphs=cuda_graphs, engines_dir=engines_dir)
        path = FramePath(runner, engine)
        path.prepare(source, driving[0])
        times = time_frames(path, driving, warmup=warmup, iters=iters)
        with torch.inference_mode():
            preds = torch.stack([path.step(d).float() for d in driving])
        torch.cuda.synchronize()
        if reference is None:
            reference = preds
        diff = (preds - reference).abs()
        row = {"variant": label, "median_ms": statistics.median(times), "p95_ms": _percentile(times, 0.95),
               "max_abs_err_vs_fp32_eager": float(diff.max()), "mean_abs_err_vs_fp32_eager": float(diff.mean()),
               "describe": runner.describe()}
        result["variants"].append(row)
        print(f"{label:34s} median {row['median_ms']:7.2f} ms   p95 {row['p95_ms']:7.2f} ms   "
              f"max|pred - fp32| {row['max_abs_err_vs_fp32_eager']:.2e}   mean {row['mean_abs_err_vs_fp32_eager']:.2e}",
              flush=True)
        runner.close()
        del runner, path, graphs
        torch.cuda.empty_cache()
    base_ms = result["variants"][0]["median_ms"]
    best = min(result["variants"][1:], key=lambda r: r["median_ms"])
    result["speedup_best_vs_fp32_eager"] = base_ms / best["median_ms"]
    result["target_ms"] = TARGET_MS[engine]
    result["meets_target"] = best["median_ms"] <= TARGET_MS[engine]
    print(f"best: {best['variant']} {best['median_ms']:.2f} ms = {result['speedup_best_vs_fp32_eager']:.1f}x fp32 eager; "
          f"target {TARGET_MS[engine]} ms on an H100 ({'met' if result['meets_target'] else 'not met'})")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m livehead.bench.gpu``: network-only GPU latency of an engine's graphs; exit 2 without CUDA."""
    p = argparse.ArgumentParser(prog="python -m livehead.bench.gpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", required=True, choices=["fomm", "fv2v"])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--checkpoint", default=None, help="real weights (default: calibrated random weights)")
    p.add_argument("--config", default=None, help="YAML model_params (default: the public vox-256 config)")
    p.add_argument("--engines-dir", default="engines", help="where TensorRT plans are looked up")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--fp16-keypoints", action="store_true", help="run the keypoint graphs in fp16 too")
    args = p.parse_args(argv)
    message = no_gpu_message()
    if message:
        print(message, file=sys.stderr)
        return 2
    result = run_benchmark(args.engine, size=args.size, iters=args.iters, warmup=args.warmup,
                           checkpoint=args.checkpoint, config=args.config, engines_dir=args.engines_dir,
                           fp16_keypoints=args.fp16_keypoints)
    if args.json:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
