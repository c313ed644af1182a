"""Where networks run: the graph contract (``graphs``), the backend registry (``registry``) with each
backend's probe (``probes``), the runners (torch, onnxruntime, tensorrt), in-memory ONNX conversion
(``onnx_export``, ``passes``, ``precision``) and the engines/ manifest (``manifest``).

Choose with :func:`resolve_backend` (the only place ``auto`` is resolved; it logs the choice and
why), then build a runner with :func:`create_runner`. The runner contract is in :mod:`.backend`.
Importing this package imports neither torch nor onnxruntime nor tensorrt. Nothing here imports
:mod:`livehead.export` (which builds artefacts ahead of time on top of this package).
"""

from __future__ import annotations

from livehead.runtime.backend import Backend, BackendChoice, BackendRequest, Runner
from livehead.runtime.registry import (
    BACKENDS,
    auto_candidates,
    create_runner,
    register_backend,
    resolve_backend,
    resolve_device,
    unregister_backend,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendChoice",
    "BackendRequest",
    "Runner",
    "auto_candidates",
    "create_runner",
    "register_backend",
    "resolve_backend",
    "resolve_device",
    "unregister_backend",
]
