"""Availability probes of the bundled backends: ``probe(request) -> reason | None``.

Each returns None when the backend can serve the request, else a :class:`LiveHeadError` whose
message says why and how to fix it. They import their library only when called. The registry
(:mod:`livehead.runtime.registry`) calls them for ``auto`` and for a backend asked for by name;
``livehead doctor`` shows their answers.
"""

from __future__ import annotations

from pathlib import Path

from livehead.errors import EngineMismatchError, LiveHeadError
from livehead.runtime.backend import FP16_ON_CPU, BackendRequest

TENSORRT_INSTALL = ("install it on a machine with an NVIDIA GPU: pip install tensorrt-cu12 (or tensorrt-cu13), then "
                    "build engines with python build_engines.py")


def tensorrt_import_error() -> str | None:
    """None when ``import tensorrt`` works, else the reason with the fix."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"the tensorrt module cannot be imported ({exc}); {TENSORRT_INSTALL}"
    return None


def onnxruntime_import_error(device: str) -> str | None:
    """None when onnxruntime imports and (on CUDA) has its CUDA provider, else the reason with the fix."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return (f"onnxruntime cannot be imported ({exc}); pip install 'livehead[neural]' (or onnxruntime-gpu for "
                "CUDA)")
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        return ("this onnxruntime has no CUDAExecutionProvider (providers: "
                f"{', '.join(ort.get_available_providers())}); pip install onnxruntime-gpu, or use --device cpu")
    return None


def tensorrt_plans_error(engine: str | None, precision: str, engines_dir: Path, checkpoint_sha256: str | None,
                         graph_names: tuple[str, ...] | None = None) -> LiveHeadError | None:
    """None if ``engines_dir`` holds plans for every graph of ``engine`` that match this machine."""
    if engine is None:
        return None
    from livehead.runtime.manifest import build_command, check_plan_entry, current_machine, read_manifest

    manifest = read_manifest(engines_dir)
    names = graph_names or [e.graph for e in manifest.entries.values() if e.engine == engine and e.precision == precision]
    if not names:
        return LiveHeadError(f"no {engine} {precision} TensorRT plans in {engines_dir}/manifest.json; build them with: "
                             f"{build_command(engine, '<checkpoint>', precision)}")
    machine = current_machine()
    for name in names:
        entry = manifest.find(engine, name, precision)
        if entry is None:
            return LiveHeadError(f"no plan for {engine}/{name} ({precision}) in {manifest.path}")
        try:
            check_plan_entry(entry, machine, checkpoint_sha256=checkpoint_sha256, engines_dir=engines_dir,
                             verify_file_hash=False)
        except EngineMismatchError as exc:
            return exc
    return None


def onnx_files_error(engine: str | None, precision: str, engines_dir: Path, checkpoint_sha256: str | None,
                     graph_names: tuple[str, ...] | None = None) -> LiveHeadError | None:
    """None if ``engines_dir`` holds exported ONNX graphs of ``engine`` for this checkpoint."""
    if engine is None:
        return LiveHeadError("no engine named to look up exported ONNX graphs for")
    from livehead.runtime.manifest import build_command, check_onnx_entry, read_manifest

    manifest = read_manifest(engines_dir)
    entries = [e for e in manifest.entries.values() if e.engine == engine and e.precision == precision
               and (graph_names is None or e.graph in graph_names)]
    hint = f"export them once with: {build_command(engine, '<checkpoint>', precision)} --onnx-only"
    if not entries:
        return LiveHeadError(f"no exported {engine} {precision} ONNX graphs in {engines_dir}; {hint}")
    for entry in entries:
        try:
            check_onnx_entry(entry, checkpoint_sha256=checkpoint_sha256, engines_dir=engines_dir)
        except EngineMismatchError as exc:
            return exc
    return None


def torch(request: BackendRequest) -> LiveHeadError | None:
    """torch runs anywhere it is installed; fp16 only on CUDA."""
    try:
        import torch as _torch  # noqa: F401
    except ImportError as exc:
        return LiveHeadError(f"torch cannot be imported ({exc}); pip install 'livehead[neural]'")
    if request.device == "cpu" and request.precision == "fp16":
        return LiveHeadError(FP16_ON_CPU)
    return None


def onnxruntime(request: BackendRequest) -> LiveHeadError | None:
    """onnxruntime (with its CUDA provider on CUDA); for ``auto`` also graphs exported for this checkpoint,
    since exporting at start-up takes seconds per graph."""
    why = onnxruntime_import_error(request.device)
    if why:
        return LiveHeadError(why)
    if request.device == "cpu" and request.precision == "fp16":
        return LiveHeadError(FP16_ON_CPU)
    if request.auto:
        return onnx_files_error(request.engine, request.precision, request.engines_dir, request.checkpoint_sha256,
                                request.graph_names)
    return None


def tensorrt(request: BackendRequest) -> LiveHeadError | None:
    """TensorRT needs a CUDA GPU, the tensorrt module and plans built on this machine for this checkpoint."""
    if request.device != "cuda":
        return LiveHeadError("TensorRT needs a CUDA GPU (device resolved to cpu); use --backend torch or onnxruntime "
                             "on this machine.")
    why = tensorrt_import_error()
    if why:
        return LiveHeadError(why)
    return tensorrt_plans_error(request.engine, request.precision, request.engines_dir, request.checkpoint_sha256,
                                request.graph_names)
