"""face-vid2vid (Wang et al., CVPR 2021), zhanglonghao1992 re-implementation, "Vox-256-New" + SPADE.

Networks, named and keyed like zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis
so ``00000189-checkpoint.pth.tar`` loads strictly: :class:`KPDetector` (canonical 3D keypoints
x_{c,k}), :class:`HEEstimator` (head pose R, translation t, expression deformation delta_k),
:class:`DenseMotionNetwork` (3D flow w and occlusion) and :class:`OcclusionAwareSPADEGenerator`
(appearance feature volume f_s, warp, :class:`SPADEDecoder`).

Convention: images are ``(B, 3, H, W)`` RGB in [0, 1]; keypoints ``(x, y, z)`` in [-1, 1] with
x over W, y over H and z over the depth D of the feature volume; kp dicts
``{'value': (B, K, 3), 'jacobian': None}`` (the New model has no Jacobians). ``grid_sample`` uses
``align_corners=False`` by default: the reference passes nothing under torch 1.7.

Real-time split: per avatar run :class:`KPDetector` and :class:`HEEstimator` on the source and
:meth:`OcclusionAwareSPADEGenerator.encode_source`; per frame run :class:`HEEstimator` on the
driving image (the source's canonical keypoints serve every frame), the keypoint math of
:mod:`livehead.models.keypoints`, then :meth:`OcclusionAwareSPADEGenerator.decode`.
"""

from __future__ import annotations

from livehead.models.fv2v.dense_motion import DenseMotionNetwork
from livehead.models.fv2v.generator import OcclusionAwareSPADEGenerator, SPADEDecoder
from livehead.models.fv2v.head_pose import HEEstimator
from livehead.models.fv2v.keypoints import KPDetector, KPHourglass

__all__ = ["DenseMotionNetwork", "HEEstimator", "KPDetector", "KPHourglass", "OcclusionAwareSPADEGenerator", "SPADEDecoder"]
