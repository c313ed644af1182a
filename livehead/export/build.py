"""``python build_engines.py``: export ONNX, validate it, build TensorRT plans, write the manifest.

Steps per graph (:mod:`livehead.runtime.graphs`):

1. export fp32 ONNX at opset 20 with static shapes, BatchNorm folded (spectral norm is folded in
   torch before export); for ``--precision fp16`` convert to fp16 with fp32 islands;
2. write ``<out>/<engine>_<graph>_<precision>.onnx`` (for ONNX Runtime) and the TensorRT copy
   ``….trt.onnx`` (GridSample ``mode="bilinear"``);
3. validate: ``onnx.checker`` (full check), the TensorRT supported-op check for the targeted
   TensorRT version, and ONNX Runtime vs PyTorch parity on example inputs;
4. with TensorRT installed: build a strongly typed plan (timing cache ``<out>/timing.cache``,
   progress display) and record it in ``<out>/manifest.json`` with the machine it is bound to.
   Without TensorRT the ONNX files are still exported, validated and recorded; the command then
   says what is missing and exits with status 3 (0 with ``--onnx-only``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from livehead.errors import LiveHeadError

log = logging.getLogger("livehead.build")

EXIT_NO_TENSORRT = 3
# ONNX Runtime vs PyTorch, fp32: a wrong export (align_corners, resize mode, a bad fold) gives
# 1e-2 or more; float32 rounding of these networks is 1e-5 .. 2e-4 (see tests/export/test_export.py).
BUILD_FP32_TOLERANCE = 1e-3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The ``build_engines.py`` options."""
    p = argparse.ArgumentParser(
        prog="python build_engines.py",
        description="Export an engine's graphs to ONNX, validate them, and build TensorRT plans for this GPU.",
    )
    p.add_argument("--engine", required=True, choices=["fomm", "fv2v", "liveportrait"], help="model family")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="the .pth.tar (vox-cpk.pth.tar, vox-adv-cpk.pth.tar, 00000189-checkpoint.pth.tar) "
                     "or LivePortrait's weights folder (liveportrait/, holding base_models/ and retargeting_models/)")
    src.add_argument("--random-weights", action="store_true",
                     help="no checkpoint: realistic random weights (for benchmarks and checks only)")
    p.add_argument("--config", help="YAML with model_params (default: the public vox-256 config of the engine)")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp16", help="graph precision (default fp16)")
    p.add_argument("--size", type=int, default=None,
                   help="image size (default: the YAML's dataset_params.frame_shape, else 256)")
    p.add_argument("--out", default="engines", help="output folder (default engines/)")
    p.add_argument("--trt-version", default=None,
                   help="TensorRT version to check ops against (default: the installed one, else 11.4)")
    p.add_argument("--onnx-only", action="store_true", help="export and validate ONNX only; do not build plans")
    p.add_argument("--no-parity", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")
    p.add_argument("--workspace-gib", type=float, default=4.0, help="TensorRT builder workspace (GiB)")
    p.add_argument("--opt-level", type=int, default=3, choices=range(0, 6), help="TensorRT builder optimization level")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-weights")
    p.add_argument("--graphs", default=None, help="comma-separated subset of graphs to build (default all)")
    p.add_argument("--fp16-keypoints", action="store_true",
                   help="with --precision fp16, run the keypoint graphs in fp16 too (default: they stay fp32)")
    return p.parse_args(argv)


def _frame_size_from_yaml(path: str) -> int | None:
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    shape = (data.get("dataset_params") or {}).get("frame_shape")
    return int(shape[0]) if shape else None


def load_graph_set(args: argparse.Namespace):
    """The :class:`GraphSet` for the command line: checkpoint (or random weights) + config + size."""
    from livehead.models import PUBLIC_CONFIGS, load_checkpoint, load_model_config
    from livehead.runtime.graphs import build_graphs

    config = load_model_config(args.config, engine=args.engine) if args.config else next(
        c for c in PUBLIC_CONFIGS.values() if c.engine == args.engine)
    size = args.size or (_frame_size_from_yaml(args.config) if args.config else None) or 256
    if args.random_weights:
        from livehead.models.random_init import random_models

        log.info("random weights (seed %d), calibrating at %dx%d …", args.seed, size, size)
        models = random_models(args.engine, seed=args.seed, image_size=size, config=config)
        from livehead.runtime.manifest import random_weights_id

        sha, checkpoint = random_weights_id(args.seed, size), None
    else:
        loaded = load_checkpoint(args.checkpoint, config)
        models, sha, checkpoint = loaded.models, loaded.sha256, args.checkpoint
    return build_graphs(models, image_size=size, checkpoint=checkpoint, checkpoint_sha256=sha,
                        config_name=config.name, fp16_keypoints=args.fp16_keypoints)


def _tensorrt_status():
    """(tensorrt module or None, reason it is missing)."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        return None, str(exc)
    return trt, None


def main(argv: list[str] | None = None) -> int:
    """``python build_engines.py``: export, validate and build an engine's graphs; a LiveHead error prints one line. Returns the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return _main(parse_args(argv))
    except LiveHeadError as exc:
        print(f"build_engines: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _main(args: argparse.Namespace) -> int:
    from livehead.extras import require

    require("neural", "python build_engines.py")
    import onnx

    from livehead.export.trt_ops import DEFAULT_TRT_VERSION, check_tensorrt_support, format_problems
    from livehead.runtime.manifest import (
        ManifestEntry,
        artifact_name,
        build_command,
        current_machine,
        read_manifest,
        sha256_bytes,
    )
    from livehead.runtime.onnx_export import export_onnx, ort_parity, ort_session
    from livehead.runtime.passes import gridsample_modes_for_tensorrt
    from livehead.runtime.precision import convert_to_fp16

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trt, trt_missing = (None, "--onnx-only was given") if args.onnx_only else _tensorrt_status()
    machine = current_machine(trt) if trt is not None else None
    if trt is not None and machine.gpu_name is None:
        raise LiveHeadError("TensorRT is installed but torch sees no CUDA GPU: plans must be built on the GPU that "
                            "runs them. Run this on the GPU machine, or pass --onnx-only.")
    trt_version = args.trt_version or (trt.__version__ if trt is not None else DEFAULT_TRT_VERSION)
    command = build_command(args.engine, args.checkpoint, args.precision, args.config, args.random_weights,
                            engines_dir=str(out), size=args.size, seed=args.seed)
    start = time.perf_counter()
    graphs = load_graph_set(args)
    names = args.graphs.split(",") if args.graphs else list(graphs.graphs)
    manifest = read_manifest(out)
    rows = []
    failures = []
    for name in names:
        spec = graphs[name]
        stem = artifact_name(graphs.engine, name, args.precision)
        model = export_onnx(spec)
        fp32_model = model
        report = None
        compute = spec.compute_precision(args.precision)
        if compute == "fp16":
            model, report = convert_to_fp16(model)
        trt_model, rewritten = gridsample_modes_for_tensorrt(model)
        onnx.checker.check_model(model, full_check=True)
        problems = check_tensorrt_support(trt_model, trt_version)
        if problems:
            failures.append(format_problems(problems, stem, trt_version))
        onnx_bytes, trt_bytes = model.SerializeToString(), trt_model.SerializeToString()
        (out / f"{stem}.onnx").write_bytes(onnx_bytes)
        (out / f"{stem}.trt.onnx").write_bytes(trt_bytes)
        parity = "skipped"
        if not args.no_parity:
            inputs = graphs.example_inputs(name)
            p32 = ort_parity(spec, fp32_model, inputs)
            parity = f"fp32 max|ORT-torch| {p32.worst:.2e}"
            if p32.worst > BUILD_FP32_TOLERANCE:
                failures.append(f"{stem}: ONNX Runtime differs from PyTorch by {p32.max_abs} (> {BUILD_FP32_TOLERANCE})")
            if compute == "fp16":
                p16 = ort_parity(spec, model, inputs, session=ort_session(model))
                parity += f", fp16 vs torch fp32 {p16.worst:.2e}"
        entry = ManifestEntry(
            engine=graphs.engine, graph=name, precision=args.precision, image_size=graphs.image_size,
            checkpoint=graphs.checkpoint, checkpoint_sha256=graphs.checkpoint_sha256, config=args.config,
            onnx=f"{stem}.onnx", onnx_sha256=sha256_bytes(onnx_bytes),
            trt_onnx=f"{stem}.trt.onnx", trt_onnx_sha256=sha256_bytes(trt_bytes),
            inputs={t.name: f"{t.dtype}[{','.join(map(str, t.shape))}]" for t in spec.inputs},
            outputs={t.name: f"{t.dtype}[{','.join(map(str, t.shape))}]" for t in spec.outputs},
            build_command=command, compute_precision=compute,
        )
        plan_note = "no plan"
        if trt is not None and not problems:
            from livehead.export.trt_build import build_plan

            print(f"building TensorRT {trt.__version__} plan for {stem} …", flush=True)
            built = build_plan(out / f"{stem}.trt.onnx", timing_cache=out / "timing.cache",
                               workspace_gib=args.workspace_gib, optimization_level=args.opt_level,
                               fp32_no_tf32=compute == "fp32")
            (out / f"{stem}.plan").write_bytes(built.plan)
            entry.plan, entry.plan_sha256 = f"{stem}.plan", sha256_bytes(built.plan)
            entry.tensorrt_version, entry.gpu_name = built.tensorrt_version, machine.gpu_name
            entry.compute_capability = machine.compute_capability
            plan_note = f"plan {len(built.plan) / 1e6:.1f} MB in {built.seconds:.0f} s"
        manifest.put(entry)
        manifest.save()
        rows.append((stem, spec.stage, f"{len(onnx_bytes) / 1e6:.1f} MB", f"{rewritten} GridSample->bilinear",
                     f"{len(problems)} TRT op problems", parity,
                     f"{report['fp32_nodes']} fp32 / {report['fp16_nodes']} fp16 nodes" if report else "all fp32", plan_note))
    print(f"\n{graphs.engine} ({graphs.config_name}, {graphs.image_size}x{graphs.image_size}, {args.precision}) "
          f"in {time.perf_counter() - start:.0f} s -> {out}/")
    for row in rows:
        print("  " + " | ".join(row))
    if failures:
        print("\nvalidation failed:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    if trt is None:
        if args.onnx_only:
            print("ONNX exported and validated (--onnx-only); no TensorRT plans built.")
            return 0
        print(f"\nONNX files exported and validated, but no TensorRT plans were built: the tensorrt module "
              f"cannot be imported ({trt_missing}).\nTo build plans, on the machine with the NVIDIA GPU that will run "
              f"them (CUDA driver installed):\n  pip install tensorrt-cu12   # TensorRT >= 11.2 for face-vid2vid's 5D "
              f"GridSample; tensorrt-cu13 for CUDA 13 drivers\n  {command}\nUntil then use --backend torch"
              f"{' (or onnxruntime, which reuses these fp32 ONNX files)' if args.precision == 'fp32' else ''}.",
              file=sys.stderr)
        return EXIT_NO_TENSORRT
    print(f"plans for {machine.describe()} recorded in {manifest.path}")
    return 0
