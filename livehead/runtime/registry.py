"""The runner contract, the backend registry, and the one place a backend is chosen.

A *runner* executes the graphs of one engine (:class:`livehead.export.graphs.GraphSet`) on one
backend, device and precision. An animator does::

    graphs = build_graphs(models, image_size=256, checkpoint_sha256=sha)
    choice = resolve_backend("auto", "auto", engine="fomm", precision="fp16", checkpoint_sha256=sha)
    runner = create_runner(choice.backend, graphs, choice.device, "fp16")
    enc = runner.run("source_encoder", {"source": source})            # once per avatar
    kp = runner.run("kp_detector", {"image": driving})                 # every frame
    out = runner.run("generator", {**enc, "kp_source_value": …, …})   # every frame

Inputs are torch tensors (any device; float32 or the graph's dtype) keyed by the graph's input
names, with the graph's static shapes (see :mod:`livehead.export.graphs` for the names and
shapes). Outputs are new float32 torch tensors on the runner's device (``runner.device``), safe
to keep across calls. Per-frame graphs may be captured as CUDA graphs, so their shapes must not
change; per-avatar graphs are free to be slow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol

from livehead.errors import EngineMismatchError, LiveHeadError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("livehead.runtime")

BACKEND_NAMES = ("torch", "onnxruntime", "tensorrt")
DEFAULT_ENGINES_DIR = Path("engines")


class Runner(Protocol):
    """Runs named graphs. Constructors take keyword arguments only."""

    backend: str  # "torch" | "onnxruntime" | "tensorrt"
    device: str  # "cpu" | "cuda"
    precision: str  # "fp32" | "fp16"

    def run(self, graph: str, inputs: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
        """Run graph ``graph`` on ``inputs`` ({name: torch.Tensor}); returns {name: float32 tensor}."""
        ...

    def describe(self) -> dict[str, str]:
        """What is actually running: backend, device, precision and per-backend details."""
        ...

    def close(self) -> None:
        """Release device memory and sessions; idempotent."""
        ...


RunnerFactory = Callable[..., Runner]
BACKENDS: dict[str, RunnerFactory] = {}


def register_backend(name: str, factory: RunnerFactory) -> None:
    """Make a backend selectable by name (``--backend NAME``); tests may register fakes."""
    BACKENDS[name] = factory


def unregister_backend(name: str) -> None:
    BACKENDS.pop(name, None)


def _lazy(module: str, cls: str) -> RunnerFactory:
    def factory(**kwargs):
        import importlib

        return getattr(importlib.import_module(module, __package__), cls)(**kwargs)

    factory.__name__ = cls
    return factory


def _register_builtin() -> None:
    for name, (module, cls) in {"torch": (".torch_runner", "TorchRunner"),
                                "onnxruntime": (".ort_runner", "OrtRunner"),
                                "tensorrt": (".trt_runner", "TensorRTRunner")}.items():
        BACKENDS.setdefault(name, _lazy(module, cls))


def create_runner(backend: str, graphs, device: str, precision: str, **options) -> Runner:
    """Build a runner for ``graphs`` (a :class:`~livehead.export.graphs.GraphSet`).

    ``backend`` must be a concrete name (resolve ``auto`` with :func:`resolve_backend` first);
    options go to the runner (``engines_dir``, ``cuda_graphs``, ``threads``).
    """
    _register_builtin()
    if backend == "auto":
        raise LiveHeadError("create_runner needs a concrete backend; call resolve_backend('auto', ...) first")
    if backend not in BACKENDS:
        raise LiveHeadError(f"Unknown backend {backend!r}. Choose one of: {', '.join(sorted(BACKENDS))} (--backend NAME).")
    if precision not in ("fp32", "fp16"):
        raise LiveHeadError(f"Unknown precision {precision!r}; use --precision fp32 or fp16.")
    return BACKENDS[backend](graphs=graphs, device=device, precision=precision, **options)


# ---------------------------------------------------------------------------------------------
# Availability probes. Each returns None when usable, else the reason (with the fix).


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def tensorrt_missing() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return (f"the tensorrt module cannot be imported ({exc}); install it on a machine with an NVIDIA GPU: "
                "pip install tensorrt-cu12 (or tensorrt-cu13), then build engines with python build_engines.py")
    return None


def onnxruntime_missing(device: str) -> str | None:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return f"onnxruntime cannot be imported ({exc}); pip install onnxruntime (or onnxruntime-gpu for CUDA)"
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        return ("this onnxruntime has no CUDAExecutionProvider (providers: "
                f"{', '.join(ort.get_available_providers())}); pip install onnxruntime-gpu, or use --device cpu")
    return None


def tensorrt_plans_missing(engine: str | None, precision: str, engines_dir: Path,
                           checkpoint_sha256: str | None, graph_names: list[str] | None = None) -> str | None:
    """None if ``engines_dir`` holds plans for every graph of ``engine`` that match this machine."""
    if engine is None:
        return None
    from livehead.runtime.manifest import check_plan_entry, current_machine, read_manifest

    manifest = read_manifest(engines_dir)
    names = graph_names or [e.graph for e in manifest.entries.values() if e.engine == engine and e.precision == precision]
    if not names:
        from livehead.runtime.manifest import build_command

        return (f"no {engine} {precision} TensorRT plans in {engines_dir}/manifest.json; build them with: "
                f"{build_command(engine, '<checkpoint>', precision)}")
    machine = current_machine()
    for name in names:
        entry = manifest.find(engine, name, precision)
        if entry is None:
            return f"no plan for {engine}/{name} ({precision}) in {manifest.path}"
        try:
            check_plan_entry(entry, machine, checkpoint_sha256=checkpoint_sha256, engines_dir=engines_dir,
                             verify_file_hash=False)
        except EngineMismatchError as exc:
            return str(exc)
    return None


def onnx_files_missing(engine: str | None, precision: str, engines_dir: Path, checkpoint_sha256: str | None,
                       graph_names: list[str] | None = None) -> str | None:
    """None if ``engines_dir`` holds exported ONNX graphs of ``engine`` for this checkpoint."""
    if engine is None:
        return "no engine named to look up exported ONNX graphs for"
    from livehead.runtime.manifest import build_command, check_onnx_entry, read_manifest

    manifest = read_manifest(engines_dir)
    entries = [e for e in manifest.entries.values() if e.engine == engine and e.precision == precision
               and (graph_names is None or e.graph in graph_names)]
    hint = f"export them once with: {build_command(engine, '<checkpoint>', precision)} --onnx-only"
    if not entries:
        return f"no exported {engine} {precision} ONNX graphs in {engines_dir}; {hint}"
    for entry in entries:
        try:
            check_onnx_entry(entry, checkpoint_sha256=checkpoint_sha256, engines_dir=engines_dir)
        except EngineMismatchError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    device: str
    reason: str  # why this one, and why the faster ones were not taken

    def __str__(self) -> str:
        return f"{self.backend} on {self.device} ({self.reason})"


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when a CUDA GPU is visible, else cpu; ``cuda`` without one is an error."""
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise LiveHeadError("--device cuda was given but torch sees no CUDA GPU (torch.cuda.is_available() is False). "
                            "Install a CUDA build of torch and the NVIDIA driver, or use --device cpu.")
    if device not in ("cpu", "cuda"):
        raise LiveHeadError(f"Unknown device {device!r}; use --device auto, cpu or cuda.")
    return device


def resolve_backend(requested: str, device: str = "auto", *, engine: str | None = None, precision: str = "fp32",
                    engines_dir: str | Path = DEFAULT_ENGINES_DIR, checkpoint_sha256: str | None = None,
                    graph_names: list[str] | None = None) -> BackendChoice:
    """Choose the backend and device, log the choice and why; never fall back silently.

    ``auto`` takes the fastest usable backend: on a GPU TensorRT (when importable and
    ``engines_dir`` has plans built on this machine for ``engine``/``precision``/checkpoint), else
    torch CUDA (fp16 autocast + CUDA graphs; ONNX Runtime's CUDA provider is only used when asked
    for); on CPU ONNX Runtime when ``engines_dir`` has the exported graphs for this checkpoint
    (FOMM-256 on 2 cores: kp detector 0.10 s vs 0.76 s, generator 1.3 s vs 2.7 s for torch),
    else torch, which needs no export at start-up. An explicitly requested backend that
    cannot run raises :class:`~livehead.errors.LiveHeadError` (or
    :class:`~livehead.errors.EngineMismatchError` for plans built elsewhere) with the fix.
    """
    dev = resolve_device(device)
    engines_dir = Path(engines_dir)
    if requested == "auto":
        rejected = []
        if dev == "cuda":
            why = tensorrt_missing() or tensorrt_plans_missing(engine, precision, engines_dir, checkpoint_sha256,
                                                               graph_names)
            if why is None:
                choice = BackendChoice("tensorrt", dev, "auto: TensorRT plans for this GPU are in "
                                       f"{engines_dir}, the fastest path")
                log.info("backend: %s", choice)
                return choice
            rejected.append(f"tensorrt: {why}")
            choice = BackendChoice("torch", dev, "auto: torch CUDA with "
                                   f"{'fp16 autocast + ' if precision == 'fp16' else ''}CUDA graphs"
                                   + (f"; not tensorrt because {rejected[0]}" if rejected else ""))
        else:
            if precision == "fp16":
                raise LiveHeadError("--precision fp16 needs a CUDA GPU (no fp16 speed-up on CPU); use --precision fp32 "
                                    "or --device cuda.")
            why = onnxruntime_missing(dev) or onnx_files_missing(engine, precision, engines_dir, checkpoint_sha256,
                                                                 graph_names)
            if why is None:
                choice = BackendChoice("onnxruntime", dev, f"auto: no CUDA GPU; ONNX Runtime on the ONNX graphs in "
                                       f"{engines_dir} (measured 2-7x faster than torch eager on CPU)")
            else:
                choice = BackendChoice("torch", dev, f"auto: no CUDA GPU, torch eager on CPU; not onnxruntime because "
                                       f"{why}")
        log.info("backend: %s", choice)
        return choice
    if requested == "tensorrt":
        if dev != "cuda":
            raise LiveHeadError("--backend tensorrt needs a CUDA GPU (device resolved to cpu); use --backend torch "
                                "or onnxruntime on this machine.")
        why = tensorrt_missing()
        if why:
            raise LiveHeadError(f"--backend tensorrt: {why}.")
        why = tensorrt_plans_missing(engine, precision, engines_dir, checkpoint_sha256, graph_names)
        if why:
            raise EngineMismatchError(f"--backend tensorrt: {why}")
        choice = BackendChoice("tensorrt", dev, "requested")
    elif requested == "onnxruntime":
        why = onnxruntime_missing(dev)
        if why:
            raise LiveHeadError(f"--backend onnxruntime on {dev}: {why}.")
        choice = BackendChoice("onnxruntime", dev, "requested")
    elif requested == "torch":
        if dev == "cpu" and precision == "fp16":
            raise LiveHeadError("--precision fp16 needs a CUDA GPU (no fp16 speed-up on CPU); use --precision fp32 "
                                "or --device cuda.")
        choice = BackendChoice("torch", dev, "requested")
    else:
        _register_builtin()
        if requested not in BACKENDS:
            raise LiveHeadError(f"Unknown backend {requested!r}. Choose one of: auto, {', '.join(sorted(BACKENDS))} "
                                "(--backend NAME).")
        choice = BackendChoice(requested, dev, "requested (registered backend)")
    log.info("backend: %s", choice)
    return choice
