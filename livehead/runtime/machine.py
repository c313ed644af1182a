"""What machine this is: the one place that asks (CPU, GPU, CUDA, TensorRT, load).

``bench`` and ``eval`` record :func:`machine_info` with their numbers, ``doctor`` reports
:func:`gpu_info` and :func:`tensorrt_version`, and compiled TensorRT plans are tied to
:func:`current_machine`. Nothing here imports torch unless asked to probe the GPU.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MachineInfo", "cpu_model", "current_machine", "gpu_info", "load_average", "machine_info",
           "tensorrt_version"]


def cpu_model() -> str:
    """The CPU's marketing name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def gpu_info(*, import_torch: bool = True) -> dict[str, Any]:
    """What torch sees: ``{"cuda": bool, "name", "capability": "8.6", "torch", "torch_cuda_build"}``.

    ``import_torch=False`` only looks at a torch the process already imported (benchmarks must not
    pay for importing it); ``"torch"`` is absent when torch is not installed (or not imported).
    """
    info: dict[str, Any] = {"cuda": False}
    torch = sys.modules.get("torch")
    if torch is None and import_torch and importlib.util.find_spec("torch") is not None:
        import torch
    if torch is None:
        return info
    info["torch"] = torch.__version__
    info["torch_cuda_build"] = torch.version.cuda
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        info.update(cuda=True, name=torch.cuda.get_device_name(0), capability=f"{major}.{minor}")
    return info


def tensorrt_version() -> str | None:
    """``tensorrt.__version__`` when TensorRT imports, else None."""
    if importlib.util.find_spec("tensorrt") is None:
        return None
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except Exception:  # PyPI's download stubs raise on import; treat as absent
        return None


def machine_info(*, import_torch: bool = True) -> dict[str, Any]:
    """Everything a measurement should be read with: OS, Python, CPU, load, GPU, torch, TensorRT."""
    gpu = gpu_info(import_torch=import_torch)
    return {
        "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_model(),
        "cpu_count": os.cpu_count(), "load_avg_1min": load_average(), "gpu": gpu.get("name"),
        "compute_capability": gpu.get("capability"), "torch": gpu.get("torch"), "cuda": gpu.get("torch_cuda_build"),
        "tensorrt": tensorrt_version() if import_torch else None,
    }


@dataclass(frozen=True)
class MachineInfo:
    """What a TensorRT plan is tied to. ``None`` fields are unknown (no GPU / no TensorRT)."""

    gpu_name: str | None
    compute_capability: str | None  # "8.6"
    tensorrt_version: str | None  # trt.__version__, e.g. "11.4.0.106"

    def describe(self) -> str:
        """One line: GPU, compute capability and TensorRT version."""
        return (f"GPU {self.gpu_name or 'none'} (sm {self.compute_capability or '?'}), "
                f"TensorRT {self.tensorrt_version or 'not installed'}")


def current_machine(tensorrt_module: Any | None = None) -> MachineInfo:
    """This machine as a plan sees it: CUDA device 0 through torch, the TensorRT version (of
    ``tensorrt_module`` when given, else of an importable ``tensorrt``)."""
    gpu = gpu_info()
    version = getattr(tensorrt_module, "__version__", None) if tensorrt_module is not None else tensorrt_version()
    return MachineInfo(gpu_name=gpu.get("name"), compute_capability=gpu.get("capability"), tensorrt_version=version)
