"""Neural face-animation networks (FOMM, face-vid2vid, LivePortrait), their keypoint math and checkpoints.

Submodules: :mod:`~livehead.models.fomm`, :mod:`~livehead.models.fv2v`, :mod:`~livehead.models.liveportrait`
(networks, LivePortrait's keypoint math in :mod:`~livehead.models.liveportrait.keypoints`),
:mod:`~livehead.models.keypoints` (pure math), :mod:`~livehead.models.configs` (architectures as
data), :mod:`~livehead.models.checkpoint` (safe, strict loading), :mod:`~livehead.models.catalog`
(known checkpoint files, ``livehead models``).
"""

from livehead.models.checkpoint import LoadedCheckpoint, load_checkpoint, read_checkpoint
from livehead.models.configs import PUBLIC_CONFIGS, ModelConfig, ModelSet, build_models, load_model_config

__all__ = [
    "PUBLIC_CONFIGS",
    "LoadedCheckpoint",
    "ModelConfig",
    "ModelSet",
    "build_models",
    "load_checkpoint",
    "load_model_config",
    "read_checkpoint",
]
