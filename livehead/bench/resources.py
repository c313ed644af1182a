"""What ``livehead bench`` records next to its timings: memory, the machine, and the load on it.

Timings are of this machine *now*: other processes compete for the CPU, so the 1-minute load
average at start and end is recorded next to the numbers. Nothing here imports torch: CUDA is
only looked at (synchronised, its allocator read) when the process already uses it, so a mesh
benchmark never pays for importing torch.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from livehead.runtime.machine import load_average, machine_info

__all__ = ["cuda_torch", "machine", "memory", "sync"]


def cuda_torch():
    """The torch module when this process has used CUDA, else None (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch


def sync() -> None:
    """Wait for queued GPU work (when CUDA is in use) so a timer read after it covers that work."""
    torch = cuda_torch()
    if torch is not None:
        torch.cuda.synchronize()


def memory() -> dict[str, float | None]:
    """``rss_mb`` (resident now), ``peak_rss_mb`` (process peak; None on Windows) and the PyTorch
    CUDA allocator's ``gpu_allocated_mb`` / ``gpu_peak_mb`` / ``gpu_reserved_mb`` (None without CUDA), MiB."""
    import psutil

    out: dict[str, float | None] = {"rss_mb": psutil.Process().memory_info().rss / 2**20, "peak_rss_mb": None}
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_mb"] = peak / 2**20 if platform.system() == "Darwin" else peak / 2**10  # bytes vs KiB
    except ImportError:  # Windows has no resource module
        pass
    torch = cuda_torch()
    out.update(gpu_allocated_mb=None, gpu_peak_mb=None, gpu_reserved_mb=None)
    if torch is not None:
        torch.cuda.synchronize()
        out.update(gpu_allocated_mb=torch.cuda.memory_allocated() / 2**20,
                   gpu_peak_mb=torch.cuda.max_memory_allocated() / 2**20,
                   gpu_reserved_mb=torch.cuda.memory_reserved() / 2**20)
    return out


def machine(load_start: float | None) -> dict[str, Any]:
    """``runtime.machine.machine_info`` (torch only if already imported) with the run's load:
    ``load_avg_start`` (``load_start``, read before the run) and ``load_avg_end`` (now) take the
    place of ``load_avg_1min``."""
    info: dict[str, Any] = {}
    for key, value in machine_info(import_torch=False).items():
        if key == "load_avg_1min":
            info.update(load_avg_start=load_start, load_avg_end=load_average())
        else:
            info[key] = value
    return info
