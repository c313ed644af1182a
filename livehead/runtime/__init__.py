"""Backends that run an engine's graphs: torch (reference, CPU/CUDA), onnxruntime, tensorrt.

Choose with :func:`resolve_backend` (the only place ``auto`` is resolved; it logs the choice and
why), then build a runner with :func:`create_runner`. The runner contract is in :mod:`.base`.
Importing this package imports neither torch nor onnxruntime nor tensorrt.
"""

from __future__ import annotations

from livehead.runtime.registry import (
    BACKENDS,
    BackendChoice,
    Runner,
    create_runner,
    register_backend,
    resolve_backend,
    resolve_device,
    unregister_backend,
)

__all__ = [
    "BACKENDS",
    "BackendChoice",
    "Runner",
    "create_runner",
    "register_backend",
    "resolve_backend",
    "resolve_device",
    "unregister_backend",
]
