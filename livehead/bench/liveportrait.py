"""Per-stage speed of LivePortrait's networks (full size, calibrated random weights or real ones).

    python -m livehead.bench.liveportrait [--size 256] [--device cpu|cuda] [--precision fp32|fp16]
                                          [--iters 20] [--threads N] [--checkpoint DIR] [--json out.json]

Times each network on its own, as the engine calls it per frame (M on the driver crop, the
stitching MLP, W, G) and once per avatar (F), plus the per-frame sum. On CUDA it then times the
engine's per-frame graphs through the torch runner (half weights, autocast, CUDA graphs: exactly
what ``--backend torch --device cuda`` runs), every iteration between two
``torch.cuda.synchronize()`` calls, TF32 off for fp32; the fp16 image is compared with fp32 on the
same inputs. Reports the median and p95 in ms. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from livehead.bench.report import write_json

# issue 15: on an H100/H200-class GPU in fp16, M + W + G + stitching per frame
TARGET_NETWORK_MS = 5.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _time(fn, *, iters: int, warmup: int, cuda: bool) -> list[float]:
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def minimum_crop(models) -> int:
    """Smallest crop (and step between crops) the networks take: F halves the image once per down
    block and W's hourglass halves F's feature volume once per block, down to one pixel."""
    from livehead.models.blocks import DownBlock

    halvings = sum(isinstance(m, DownBlock) for name in ("appearance_feature_extractor", "warping_module")
                   for m in getattr(models, name).modules())
    return 2**halvings


def run_benchmark(*, size: int = 256, device: str = "cpu", precision: str = "fp32", iters: int = 20, warmup: int = 3,
                  checkpoint: str | None = None, calibration_size: int = 128, seed: int = 0) -> dict:
    """Time F, M, stitching, W and G; returns a JSON-able dict."""
    import contextlib

    import torch

    from livehead.models.liveportrait import keypoints as lpk
    from livehead.models.random_init import random_image, random_models
    from livehead.runtime.graphs import prepare_for_inference

    if checkpoint:
        from livehead.models import load_checkpoint

        models, weights = load_checkpoint(checkpoint, "liveportrait").models, checkpoint
    else:
        models = random_models("liveportrait", seed=seed, image_size=calibration_size)
        weights = f"random (seed {seed}, calibrated at {calibration_size})"
    prepare_for_inference(models)
    smallest = minimum_crop(models)
    if size % smallest:
        raise ValueError(f"--size {size} does not fit these networks' down-sampling: use a multiple of {smallest} "
                         f"(the public weights use 256)")
    cuda = device == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    for _, module in models.items():
        module.to(device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.float16)) if precision == "fp16" else contextlib.nullcontext
    gen = torch.Generator().manual_seed(seed + 1)
    source = random_image((1, 3, size, size), gen).to(device)
    driver = random_image((1, 3, size, size), gen).to(device)
    stitching = models.stitching_retargeting_module.stitching
    with torch.inference_mode():
        f_s = models.appearance_feature_extractor(source)
        x_s = lpk.transform_keypoint(lpk.refine_motion(models.motion_extractor(source)))
        x_d = lpk.transform_keypoint(lpk.refine_motion(models.motion_extractor(driver)))
        warped = models.warping_module(f_s, x_d, x_s)["out"]
        stages = {
            # M stays fp32 in every precision (the graphs' keypoint islands), as FasterLivePortrait builds it.
            "motion_extractor (M)": lambda: models.motion_extractor(driver),
            "stitching (S)": lambda: lpk.stitch(stitching, x_s, x_d),
            "warping_module (W)": lambda: _autocast_call(autocast, models.warping_module, f_s, x_d, x_s),
            "spade_generator (G)": lambda: _autocast_call(autocast, models.spade_generator, warped),
            "appearance_feature_extractor (F, per avatar)": lambda: _autocast_call(
                autocast, models.appearance_feature_extractor, source),
        }
        rows = {}
        for name, fn in stages.items():
            times = _time(fn, iters=iters, warmup=warmup, cuda=cuda)
            rows[name] = {"median_ms": statistics.median(times), "p95_ms": _percentile(times, 0.95)}
            print(f"{name:46s} median {rows[name]['median_ms']:9.2f} ms   p95 {rows[name]['p95_ms']:9.2f} ms",
                  flush=True)
        image = _autocast_call(autocast, models.spade_generator, warped).float()
        fp16_error = None
        if precision == "fp16":
            fp32 = models.spade_generator(models.warping_module(f_s, x_d, x_s)["out"])
            fp16 = _autocast_call(autocast, models.spade_generator,
                                  _autocast_call(autocast, models.warping_module, f_s, x_d, x_s)["out"]).float()
            fp16_error = {"max_abs": float((fp16 - fp32).abs().max()), "mean_abs": float((fp16 - fp32).abs().mean())}
            print(f"fp16 W+G image vs fp32: max |diff| {fp16_error['max_abs']:.3g}, mean {fp16_error['mean_abs']:.3g}")
    per_frame = sum(rows[k]["median_ms"] for k in list(stages)[:4])
    runner_rows = _time_runner(models, size, device, precision, iters=iters, warmup=warmup) if cuda else None
    result = {
        "size": size, "output": tuple(image.shape[-2:]), "device": device, "precision": precision,
        "gpu": torch.cuda.get_device_name(0) if cuda else None, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "weights": weights, "stages": rows,
        "per_frame_network_ms": per_frame, "fp16_vs_fp32": fp16_error, "runner_graphs": runner_rows,
        "target_ms": TARGET_NETWORK_MS if cuda and precision == "fp16" else None,
    }
    print(f"per frame (M + S + W + G, sum of medians): {per_frame:.1f} ms = {1e3 / per_frame:.1f} fps network-only"
          + (f"; target {TARGET_NETWORK_MS} ms on an H100/H200" if result["target_ms"] else ""))
    return result


def _time_runner(models, size: int, device: str, precision: str, *, iters: int, warmup: int) -> dict:
    """The per-frame graphs through the torch runner (modifies the networks: fp16 halves their weights)."""
    from livehead.runtime import create_runner
    from livehead.runtime.graphs import build_graphs

    for _, module in models.items():
        module.cpu()  # example inputs come from the per-avatar graph run on the CPU
    graphs = build_graphs(models, image_size=size)
    names = ("motion_extractor", "stitching", "generator")
    examples = {name: graphs.example_inputs(name) for name in names}
    runner = create_runner("torch", graphs, device, precision)
    rows = {}
    total = 0.0
    for name in names:
        inputs = {k: v.to(device) for k, v in examples[name].items()}
        times = _time(lambda: runner.run(name, inputs), iters=iters, warmup=warmup, cuda=True)
        rows[name] = {"median_ms": statistics.median(times), "p95_ms": _percentile(times, 0.95)}
        total += rows[name]["median_ms"]
        print(f"runner {name:39s} median {rows[name]['median_ms']:9.2f} ms   p95 {rows[name]['p95_ms']:9.2f} ms",
              flush=True)
    rows["per_frame_ms"] = total
    print(f"runner per frame (M + S + W/G graphs): {total:.2f} ms ({runner.describe()['detail']})")
    runner.close()
    return rows


def _autocast_call(autocast, fn, *args):
    with autocast():
        return fn(*args)


def main(argv: list[str] | None = None) -> int:
    """``python -m livehead.bench.liveportrait``: per-stage milliseconds of LivePortrait's networks on one device."""
    p = argparse.ArgumentParser(prog="python -m livehead.bench.liveportrait", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256, help="crop size (network input; the output is twice that)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32", help="fp16 needs --device cuda")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--checkpoint", default=None, help="LivePortrait weights folder (default: random weights)")
    p.add_argument("--calibration-size", type=int, default=128,
                   help="image size the random weights are calibrated at (a multiple of 128)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("liveportrait bench: --device cuda but torch sees no CUDA GPU; use --device cpu.", file=sys.stderr)
        return 2
    if args.precision == "fp16" and args.device != "cuda":
        print("liveportrait bench: fp16 needs --device cuda.", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = run_benchmark(size=args.size, device=args.device, precision=args.precision, iters=args.iters,
                               warmup=args.warmup, checkpoint=args.checkpoint, calibration_size=args.calibration_size)
    except ValueError as err:
        print(f"liveportrait bench: {err}.", file=sys.stderr)
        return 2
    if args.json:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
