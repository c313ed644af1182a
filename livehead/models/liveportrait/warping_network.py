"""LivePortrait's warping module W (paper Sec. 3.1: warps f_s by the motion between the source and
driving keypoints, then projects the volume to 2D features for G).

Keyed like ``src/modules/warping_network.py`` + ``dense_motion.py`` of KwaiVGI/LivePortrait, so
``warping_module.pth`` loads strictly. The dense-motion network is face-vid2vid's
(:class:`livehead.models.fv2v.DenseMotionNetwork`: translation-only sparse motions, Gaussian
heatmap differences with variance 0.01, 3D hourglass, softmax mask over K+1 motions, occlusion map).

Convention: keypoints are ``(B, K, 3)`` tensors in ``(x, y, z)`` order over (W, H, D) of the
volume. Both ``grid_sample`` calls use ``align_corners=False`` (passed explicitly by the
reference), while the coordinate grid is built with the ``(n - 1)`` denominator, so identity
motion is not an exact identity resample: that is the trained behaviour and is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import SameBlock2d
from livehead.models.fv2v import DenseMotionNetwork

__all__ = ["WarpingNetwork"]


class WarpingNetwork(nn.Module):
    """W: ``(f_s, x_d, x_s)`` -> warped 2D features for G, plus the occlusion map and deformation.

    Constructor arguments are the keys of ``warping_module_params``.

    Args:
        num_kp: K (21).
        block_expansion, num_down_blocks: output width ``block_expansion * 2**num_down_blocks``
            (256 public; must equal G's input width). W has no down blocks.
        max_features: channels of the flattened volume, ``reshape_channel * reshape_depth`` of F.
        reshape_channel: channels of f_s (F's ``reshape_channel``).
        estimate_occlusion_map: multiply the output by the occlusion map.
        dense_motion_params: :class:`~livehead.models.fv2v.DenseMotionNetwork` keys
            (``block_expansion``, ``max_features``, ``num_blocks``, ``reshape_depth``, ``compress``).
    """

    def __init__(
        self,
        *,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        reshape_channel: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if dense_motion_params is None:
            raise ValueError("warping_module_params.dense_motion_params is required: LivePortrait always warps")
        self.dense_motion_network = DenseMotionNetwork(
            num_kp=num_kp, feature_channel=reshape_channel, estimate_occlusion_map=estimate_occlusion_map,
            align_corners=False, **dense_motion_params,
        )
        width = block_expansion * 2**num_down_blocks
        self.third = SameBlock2d(max_features, width, kernel_size=3, padding=1, lrelu=True)  # LeakyReLU 0.01
        self.fourth = nn.Conv2d(width, width, kernel_size=1)
        self.out_channels = width

    def forward(self, feature_3d: Tensor, kp_driving: Tensor, kp_source: Tensor) -> dict[str, Tensor]:
        """Warp f_s to the driving keypoints.

        Args:
            feature_3d: f_s ``(B, C, D, h, w)`` from F.
            kp_driving: x_d ``(B, K, 3)``.
            kp_source: x_s ``(B, K, 3)``.

        Returns:
            ``out`` ``(B, out_channels, h, w)`` (G's input), ``deformation`` ``(B, D, h, w, 3)``
            and, with occlusion, ``occlusion_map`` ``(B, 1, h, w)`` in (0, 1).
        """
        motion = self.dense_motion_network(feature_3d, {"value": kp_driving}, {"value": kp_source})
        warped = F.grid_sample(feature_3d, motion["deformation"], mode="bilinear", padding_mode="zeros",
                               align_corners=False)  # (B, C, D, h, w)
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.reshape(b, c * d, h, w)))  # (B, out_channels, h, w); channel c*D + d
        result = {"deformation": motion["deformation"]}
        if "occlusion_map" in motion:
            result["occlusion_map"] = motion["occlusion_map"]
            out = out * motion["occlusion_map"]
        result["out"] = out
        return result
