"""First Order Motion Model (Siarohin et al., NeurIPS 2019), vox-256 layout.

Three networks, named and keyed like AliaksandrSiarohin/first-order-model so its checkpoints load
strictly: :class:`KPDetector` (keypoints p_k and local Jacobians J_k), :class:`DenseMotionNetwork`
(motion T_{S<-D} and occlusion O) and :class:`OcclusionAwareGenerator`.

Convention: images are ``(B, 3, H, W)`` RGB float in [0, 1] (no mean/std normalisation);
keypoints are ``(x, y)`` in [-1, 1] (see :mod:`livehead.models.keypoints`); kp dicts are
``{'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}``.

``align_corners`` (every ``grid_sample``): FOMM was trained under torch 1.0, whose grid_sample
behaved like ``align_corners=True``; the upstream demo under torch >= 1.3 silently runs ``False``.
Our default is ``True`` (training fidelity); the golden fixtures were made with ``False``.

Real-time split: the per-avatar part is :meth:`OcclusionAwareGenerator.encode_source` (run once);
per frame run :class:`KPDetector` on the driving image, then
:meth:`OcclusionAwareGenerator.decode` from the cached encoding.
"""

from __future__ import annotations

from livehead.models.fomm.dense_motion import DenseMotionNetwork
from livehead.models.fomm.generator import FommSourceEncoding, OcclusionAwareGenerator
from livehead.models.fomm.keypoints import KPDetector

__all__ = ["DenseMotionNetwork", "FommSourceEncoding", "KPDetector", "OcclusionAwareGenerator"]
