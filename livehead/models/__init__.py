"""Neural face-animation networks (FOMM, face-vid2vid, LivePortrait), their keypoint math and checkpoints.

Submodules: :mod:`~livehead.models.fomm`, :mod:`~livehead.models.fv2v`, :mod:`~livehead.models.liveportrait`
(networks, LivePortrait's keypoint math in :mod:`~livehead.models.liveportrait.keypoints`),
:mod:`~livehead.models.keypoints` (pure math), :mod:`~livehead.models.configs` (architectures as
data), :mod:`~livehead.models.checkpoint` (safe, strict loading), :mod:`~livehead.models.catalog`
(known checkpoint files, ``livehead models``).
"""

from __future__ import annotations

import importlib

# name -> submodule; imported on first use, so the torch-free catalog loads on a light install
_EXPORTS = {
    "LoadedCheckpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "PUBLIC_CONFIGS": "configs",
    "ModelConfig": "configs",
    "ModelSet": "configs",
    "build_models": "configs",
    "load_model_config": "configs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
