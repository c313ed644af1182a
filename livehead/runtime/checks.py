"""The runtime's doctor checks: CUDA through torch, ONNX Runtime providers, TensorRT, built engines."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from livehead.checks import Check
from livehead.errors import EngineMismatchError, LiveHeadError
from livehead.runtime.machine import gpu_info, tensorrt_version

__all__ = ["check_backends", "check_engines", "check_gpu", "check_tensorrt", "doctor_checks"]


def check_gpu(gpu: dict[str, Any]) -> list[Check]:
    """Doctor lines for torch and CUDA: the GPU seen, or the install line for a CUDA build of torch."""
    checks = []
    if gpu.get("cuda"):
        checks.append(Check("gpu", "CUDA", "ok", f"{gpu['name']} (sm_{gpu['capability'].replace('.', '')}), CUDA {gpu['torch_cuda_build']}"))
    elif "torch_cuda_build" not in gpu:
        from livehead.extras import TORCH_CUDA_INDEX, install_line

        checks.append(Check("gpu", "CUDA", "warn", "torch is not installed (the neural extra): fomm/fv2v cannot run; "
                            "the mesh engine needs none of it",
                            f"{install_line('neural')}; for a GPU first the CUDA build of torch: "
                            f"pip install torch --index-url {TORCH_CUDA_INDEX} (pick your CUDA version, README: Install)"))
    elif gpu["torch_cuda_build"] is None:
        checks.append(Check(
            "gpu", "CUDA", "warn",
            "torch is a CPU-only build: fomm runs slowly and fv2v far below real time; the mesh engine needs no GPU",
            "on a machine with an NVIDIA GPU, install a CUDA build of torch from https://pytorch.org/get-started/locally/",
        ))
    else:
        checks.append(Check(
            "gpu", "CUDA", "warn",
            f"torch is built for CUDA {gpu['torch_cuda_build']} but sees no GPU; fomm/fv2v would run on the CPU",
            "check the NVIDIA driver with `nvidia-smi`; in a container pass the GPU through (docker run --gpus all)",
        ))
    if importlib.util.find_spec("onnxruntime") is not None:
        try:
            import onnxruntime

            providers = onnxruntime.get_available_providers()
            checks.append(Check("gpu", "onnxruntime providers", "info", ", ".join(providers)))
        except Exception as exc:  # reported by check_packages too; keep the doctor going
            checks.append(Check("gpu", "onnxruntime providers", "info", f"unavailable: {type(exc).__name__}: {exc}"))
    return checks


def check_tensorrt(trt_version: str | None, gpu: dict[str, Any]) -> list[Check]:
    """Doctor line for TensorRT (only needed for ``--backend tensorrt``)."""
    if trt_version:
        return [Check("gpu", "TensorRT", "ok", f"tensorrt {trt_version}")]
    fix = "only for --backend tensorrt: pip install tensorrt-cu12 (TensorRT 11; needs an NVIDIA GPU and driver)"
    why = "not installed" if gpu.get("cuda") else "not installed (and no CUDA GPU here)"
    return [Check("gpu", "TensorRT", "warn", why, fix)]


def _engine_dirs() -> list[Path]:
    dirs = [Path.cwd() / "engines", Path(__file__).resolve().parents[2] / "engines"]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def check_engines(gpu: dict[str, Any], trt_version: str | None) -> list[Check]:
    """Each artifact in ``engines/manifest.json`` and whether it may run on this machine.

    Matching is ``livehead.runtime.manifest``'s own check (TensorRT version, GPU name, compute
    capability, files present), so the doctor and the runtime never disagree. Plan files are not
    re-hashed here (they can be hundreds of MB); the runtime does that before loading.
    """
    rebuild = "python build_engines.py"
    directory = next((d for d in _engine_dirs() if (d / "manifest.json").is_file()), None)
    if directory is None:
        return [Check("engines", "TensorRT engines", "info", f"none built (only needed for --backend tensorrt: {rebuild})")]
    try:
        from livehead.runtime import manifest as mf
    except ImportError as exc:
        return [Check("engines", str(directory / "manifest.json"), "info", f"present; cannot read it here ({exc})")]
    try:
        manifest = mf.read_manifest(directory)
    except (LiveHeadError, OSError, ValueError, TypeError, AttributeError, KeyError) as exc:  # a hand-edited file
        return [Check("engines", str(directory / "manifest.json"), "warn", f"unreadable: {exc}",
                      f"delete {directory / 'manifest.json'} and run {rebuild}")]
    if not manifest.entries:
        return [Check("engines", str(manifest.path), "info", "the manifest lists no engines")]
    machine = mf.MachineInfo(gpu_name=gpu.get("name"), compute_capability=gpu.get("capability"),
                             tensorrt_version=trt_version)
    checks = []
    for name, entry in manifest.entries.items():
        try:
            if entry.plan is None:
                mf.check_onnx_entry(entry, checkpoint_sha256=None, engines_dir=directory)
                detail = f"ONNX export for --backend onnxruntime ({entry.precision}, from {entry.checkpoint or 'random weights'})"
            else:
                mf.check_plan_entry(entry, machine, checkpoint_sha256=None, engines_dir=directory, verify_file_hash=False)
                detail = f"TensorRT plan for {entry.gpu_name} (sm_{(entry.compute_capability or '?').replace('.', '')}), TensorRT {entry.tensorrt_version}"
        except EngineMismatchError as exc:
            checks.append(Check("engines", name, "warn", str(exc), f"{entry.build_command} (on this machine)"))
            continue
        checks.append(Check("engines", name, "ok", detail))
    return checks



def check_backends(gpu: dict[str, Any], engine: str = "fomm") -> list[Check]:
    """What ``--backend auto`` picks for a neural engine here and why, with every backend's probe.

    The request is the one the engines make: fp16 on a CUDA GPU, fp32 on the CPU, plans and ONNX
    graphs looked up in ./engines.
    """
    if "torch_cuda_build" not in gpu:
        return []  # no torch: check_gpu already says so
    from livehead.runtime.backend import BackendRequest
    from livehead.runtime.registry import BACKENDS, auto_candidates

    device = "cuda" if gpu.get("cuda") else "cpu"
    request = BackendRequest(device=device, precision="fp16" if device == "cuda" else "fp32", engine=engine,
                             auto=True)
    chosen, rejected = None, []
    for backend in auto_candidates(device):
        why = backend.probe(request)
        if why is None and chosen is None:
            chosen = backend
        elif chosen is None:
            rejected.append(f"not {backend.name}: {why}")
    summary = f"{chosen.name} ({chosen.why})" if chosen else "none"
    checks = [Check("gpu", f"backend auto ({device}, {request.precision})", "ok" if chosen else "warn",
                    "; ".join([summary, *rejected]))]
    if "inductor" in BACKENDS and device == "cuda":
        why = BACKENDS["inductor"].probe(request)
        checks.append(Check("gpu", "torch.compile (backend inductor)", "ok" if why is None else "warn",
                            "usable; kernels are compiled on the first frame and cached in the data folder"
                            if why is None else str(why)))
    return checks


def doctor_checks() -> list[Check]:
    """GPU, backends, TensorRT and engines/, in report order (all optional for the main job)."""
    gpu = gpu_info()
    trt = tensorrt_version()
    return check_gpu(gpu) + check_backends(gpu) + check_tensorrt(trt, gpu) + check_engines(gpu, trt)
