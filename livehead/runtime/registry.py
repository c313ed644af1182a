"""The runner contract, the backend registry, and the one place a backend is chosen.

A *runner* executes the graphs of one engine (:class:`livehead.runtime.graphs.GraphSet`) on one
backend, device and precision. An animator does::

    graphs = build_graphs(models, image_size=256, checkpoint_sha256=sha)
    choice = resolve_backend("auto", "auto", engine="fomm", precision="fp16", checkpoint_sha256=sha)
    runner = create_runner(choice.backend, graphs, choice.device, "fp16")
    enc = runner.run("source_encoder", {"source": source})            # once per avatar
    kp = runner.run("kp_detector", {"image": driving})                 # every frame
    out = runner.run("generator", {**enc, "kp_source_value": …, …})   # every frame

Inputs are torch tensors (any device; float32 or the graph's dtype) keyed by the graph's input
names, with the graph's static shapes (see :mod:`livehead.runtime.graphs`). Outputs are new float32
torch tensors on the runner's device (``runner.device``), safe to keep across calls. Per-frame
graphs may be captured as CUDA graphs, so their shapes must not change; per-avatar graphs are free
to be slow.

Each backend registers a :class:`Backend`: a runner factory, a ``probe(request) -> reason | None``
and the devices where ``auto`` may pick it. ``auto`` tries the registered backends in priority
order and reports every rejected backend's reason, as pyvirtualcam does for cameras; a backend
asked for by name that cannot run raises its reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

from livehead.errors import EngineMismatchError, LiveHeadError
from livehead.runtime.backend import (
    DEFAULT_ENGINES_DIR,
    FP16_ON_CPU,
    Backend,
    BackendChoice,
    BackendRequest,
    Probe,
    Runner,
    RunnerFactory,
    always_usable,
)

log = logging.getLogger("livehead.runtime")



BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, factory: RunnerFactory, *, probe: Probe = always_usable, auto_devices: tuple[str, ...] = (),
                     priority: int = 100, why: str = "") -> None:
    """Make a backend selectable by name (``--backend NAME``) and, on ``auto_devices``, by ``auto``.

    Tests may register fakes; :func:`unregister_backend` removes them.
    """
    BACKENDS[name] = Backend(name, factory, probe, tuple(auto_devices), priority, why)


def unregister_backend(name: str) -> None:
    """Remove a backend from the registry (tests, plug-ins); unknown names are ignored."""
    BACKENDS.pop(name, None)


def _lazy(module: str, cls: str) -> RunnerFactory:
    def factory(**kwargs):
        import importlib

        return getattr(importlib.import_module(module), cls)(**kwargs)

    factory.__name__ = cls
    return factory


def _register_builtin() -> None:
    """The bundled backends, registered lazily so importing LiveHead imports no torch/onnxruntime/tensorrt."""
    from livehead.runtime import probes

    builtin = [
        ("tensorrt", "livehead.runtime.trt_runner", "TensorRTRunner", probes.tensorrt, ("cuda",), 10,
         "TensorRT plans for this GPU, the fastest path"),
        ("inductor", "livehead.runtime.inductor_runner", "InductorRunner", probes.inductor, ("cuda",), 20,
         "torch.compile (inductor) kernels in CUDA graphs, compiled once and cached in the data folder"),
        ("onnxruntime", "livehead.runtime.ort_runner", "OrtRunner", probes.onnxruntime, ("cpu",), 50,
         "ONNX Runtime on exported ONNX graphs (measured 2-7x faster than torch eager on CPU)"),
        ("torch", "livehead.runtime.torch_runner", "TorchRunner", probes.torch, ("cpu", "cuda"), 90,
         "PyTorch eager (with CUDA graphs on a GPU), needs no export"),
    ]
    for name, module, cls, probe, devices, priority, why in builtin:
        if name not in BACKENDS:
            register_backend(name, _lazy(module, cls), probe=probe, auto_devices=devices, priority=priority, why=why)


def create_runner(backend: str, graphs, device: str, precision: str, **options) -> Runner:
    """Build a runner for ``graphs`` (a :class:`~livehead.runtime.graphs.GraphSet`).

    ``backend`` must be a concrete name (resolve ``auto`` with :func:`resolve_backend` first);
    options go to the runner (``engines_dir``, ``cuda_graphs``, ``threads``, ``cache_dir``); a runner
    ignores the options it has no use for.
    """
    _register_builtin()
    if backend == "auto":
        raise LiveHeadError("create_runner needs a concrete backend; call resolve_backend('auto', ...) first")
    if backend not in BACKENDS:
        raise LiveHeadError(f"Unknown backend {backend!r}. Choose one of: {', '.join(sorted(BACKENDS))} (--backend NAME).")
    if precision not in ("fp32", "fp16"):
        raise LiveHeadError(f"Unknown precision {precision!r}; use --precision fp32 or fp16.")
    return BACKENDS[backend].factory(graphs=graphs, device=device, precision=precision, **options)


def cuda_available() -> bool:
    """True when torch is installed and sees a CUDA GPU."""
    try:
        import torch
    except ImportError:  # the light install has no torch: no CUDA either
        return False
    return torch.cuda.is_available()


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


def auto_candidates(device: str) -> list[Backend]:
    """The backends ``auto`` tries on ``device``, in order."""
    _register_builtin()
    return sorted((b for b in BACKENDS.values() if device in b.auto_devices), key=lambda b: b.priority)


def resolve_backend(requested: str, device: str = "auto", *, engine: str | None = None, precision: str = "fp32",
                    engines_dir: str | Path = DEFAULT_ENGINES_DIR, checkpoint_sha256: str | None = None,
                    graph_names: list[str] | None = None) -> BackendChoice:
    """Choose the backend and device, log the choice and why; never fall back silently.

    ``auto`` takes the first registered backend (by priority) whose probe accepts the request on
    the resolved device: on a GPU TensorRT when ``engines_dir`` has plans built on this machine,
    else inductor (torch.compile) when Triton is there, else torch CUDA; on CPU ONNX Runtime when ``engines_dir`` has the graphs exported for this
    checkpoint, else torch. The choice's reason lists why each earlier backend was not taken. A
    backend requested by name that cannot run raises its probe's error (a
    :class:`~livehead.errors.EngineMismatchError` for plans built elsewhere) with the fix.
    """
    _register_builtin()
    dev = resolve_device(device)
    request = BackendRequest(device=dev, precision=precision, engine=engine, engines_dir=Path(engines_dir),
                             checkpoint_sha256=checkpoint_sha256,
                             graph_names=tuple(graph_names) if graph_names is not None else None,
                             auto=requested == "auto")
    if requested == "auto":
        if dev == "cpu" and precision == "fp16":
            raise LiveHeadError(f"--precision {FP16_ON_CPU}")
        rejected: list[str] = []
        for backend in auto_candidates(dev):
            why = backend.probe(request)
            if why is None:
                lead = "auto: no CUDA GPU, " if dev == "cpu" and device == "auto" else "auto: "
                reason = lead + (backend.why or backend.name)
                if rejected:
                    reason += "; not " + "; not ".join(rejected)
                choice = BackendChoice(backend.name, dev, reason)
                log.info("backend: %s", choice)
                return choice
            rejected.append(f"{backend.name} because {why}")
        raise LiveHeadError(f"No backend can run on {dev}: " + "; ".join(rejected))
    if requested not in BACKENDS:
        raise LiveHeadError(f"Unknown backend {requested!r}. Choose one of: auto, {', '.join(sorted(BACKENDS))} "
                            "(--backend NAME).")
    why = BACKENDS[requested].probe(request)
    if why is not None:
        if isinstance(why, EngineMismatchError):
            raise EngineMismatchError(f"--backend {requested}: {why}") from None
        raise LiveHeadError(f"--backend {requested} on {dev}: {why}") from None
    choice = BackendChoice(requested, dev, "requested")
    log.info("backend: %s", choice)
    return choice
