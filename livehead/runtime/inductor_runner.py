"""Backend ``inductor``: the torch runner with its per-frame graphs compiled by ``torch.compile``.

Everything the torch runner does stays (fp16 autocast with half weights, CUDA graphs, ``call`` for
the GPU frame path); only the module a per-frame graph runs is ``torch.compile(module)``: inductor
fuses the element-wise work between convolutions into generated kernels (Triton on CUDA, C++ on the
CPU). Shapes are static (``dynamic=False``), so each graph compiles once per engine and image size,
on its first call. Per-avatar graphs run once per avatar and stay eager: compiling them would cost
more than it saves.

The mode is inductor's default, without its own CUDA graphs (``reduce-overhead``): the torch runner
and the GPU frame path capture CUDA graphs around the compiled code themselves, around the work
between the graphs too.

Compiled artefacts (FX graphs, generated kernels, Triton binaries) are cached on disk in
``cache_dir`` (the animators pass ``<LiveHead data folder>/compile-cache``), so a second start
reuses them. A graph whose compilation fails runs eagerly as on the torch backend; the reason is
logged once and ``describe()`` says which graphs fell back and why.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable

import torch

from livehead.runtime.torch_runner import TorchRunner

log = logging.getLogger("livehead.runtime")

__all__ = ["CACHE_ENV", "InductorRunner", "use_cache_dir"]

CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"  # inductor's own setting; Triton's cache lives under it by default


def _torch_default(value: str) -> bool:
    """True when ``value`` is torch's own default cache folder: torch writes its default into the
    variable the first time it looks the folder up (importing parts of torch does), so a set
    variable does not mean the user chose it."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # another torch layout: then only an unset variable is ours to set
        return False
    return os.path.abspath(value) == os.path.abspath(default_cache_dir())


def use_cache_dir(path: str | Path | None) -> str | None:
    """Point inductor's on-disk cache at ``path`` unless the user set ``TORCHINDUCTOR_CACHE_DIR``;
    returns the folder in use (None: torch's default under the temp folder)."""
    current = os.environ.get(CACHE_ENV)
    if path is not None and (current is None or _torch_default(current)):
        Path(path).mkdir(parents=True, exist_ok=True)
        os.environ[CACHE_ENV] = str(Path(path).resolve())
    return os.environ.get(CACHE_ENV)


class InductorRunner(TorchRunner):
    """Runs a :class:`~livehead.runtime.graphs.GraphSet` with per-frame graphs compiled by inductor.

    ``compiler`` is what ``torch.compile`` gets as ``backend`` (tests pass a failing one to check
    the fallback); ``mode`` its ``mode`` (None: inductor's default).
    """

    backend = "inductor"

    def __init__(self, *, graphs, device: str, precision: str, cache_dir: str | Path | None = None,
                 compiler: str | Callable[..., Any] = "inductor", mode: str | None = None, **options: Any) -> None:
        self.cache_dir = use_cache_dir(cache_dir)
        super().__init__(graphs=graphs, device=device, precision=precision, **options)
        self.compiler_name = compiler if isinstance(compiler, str) else getattr(compiler, "__name__", "custom")
        self.mode = mode
        self.fallbacks: dict[str, str] = {}  # graph -> why it runs eagerly
        self._compiled: dict[str, Callable[..., Any]] = {}
        for name, spec in self._specs.items():
            if spec.stage != "per_frame":
                continue
            try:
                self._compiled[name] = torch.compile(spec.module, backend=compiler, mode=mode, dynamic=False)
            except Exception as exc:  # an unknown backend or mode fails here, the rest at the first call
                self._fall_back(name, exc)

    def _fall_back(self, name: str, exc: BaseException) -> None:
        # Dynamo wraps the compiler's error: "backend='inductor' raised:\nRuntimeError: …\n\nSet …".
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()][:2]
        reason = f"{type(exc).__name__}: {' '.join(lines)}"
        self.fallbacks[name] = reason
        self._compiled.pop(name, None)
        log.warning("inductor backend: compiling graph %s failed (%s); it runs eagerly as on the torch backend.",
                    name, reason)

    def _forward(self, name: str, args: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        compiled = self._compiled.get(name)
        if compiled is not None:
            try:
                return tuple(compiled(*args))
            # Compilation runs inside the first call and fails in many layers (dynamo, inductor, Triton,
            # the C++ compiler), each with its own exception type.
            except Exception as exc:
                self._fall_back(name, exc)
        return super()._forward(name, args)

    def describe(self) -> dict[str, str]:
        info = super().describe()
        compiled = ", ".join(self._compiled) or "none"
        detail = f"torch.compile ({self.compiler_name}, mode {self.mode or 'default'}) of {compiled}"
        if self.fallbacks:
            detail += "; eager (compile failed): " + "; ".join(f"{g}: {why}" for g, why in self.fallbacks.items())
        detail += f"; cache {self.cache_dir or 'torch default'}"
        return {**info, "backend": "inductor", "detail": f"{detail}; {info['detail']}"}
