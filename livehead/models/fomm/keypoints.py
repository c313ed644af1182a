"""FOMM keypoint detector: keypoints p_k and local Jacobians J_k from an hourglass's heatmaps."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from livehead.models.blocks import AntiAliasInterpolation2d, Hourglass
from livehead.models.keypoints import (
    heatmap_jacobian,
    heatmap_to_keypoints,
    spatial_softmax,
)

__all__ = ["KPDetector"]


class KPDetector(nn.Module):
    """FOMM keypoint detector: keypoints p_k and Jacobians J_k (paper Sec. 3.1, Eq. 4 inputs).

    Constructor arguments are the keys of ``kp_detector_params`` + ``common_params``.

    Args:
        block_expansion, max_features, num_blocks: 2D hourglass widths/depth.
        num_kp: K (10 for vox).
        num_channels: image channels (3).
        temperature: softmax temperature of the heatmaps (0.1).
        estimate_jacobian: also predict ``J_k`` (True for vox).
        scale_factor: input downscaling before the hourglass (0.25: 256 -> 64).
        single_jacobian_map: one Jacobian map shared by all keypoints.
        pad: padding of the 7x7 ``kp``/``jacobian`` convs; vox uses 0, so the heatmap is 58x58 at 256.
    """

    def __init__(
        self,
        *,
        block_expansion: int,
        num_kp: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ) -> None:
        super().__init__()
        self.predictor = Hourglass(
            block_expansion=block_expansion, in_features=num_channels, num_blocks=num_blocks, max_features=max_features
        )
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=7, padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(
                self.predictor.out_filters, 4 * self.num_jacobian_maps, kernel_size=7, padding=pad
            )
            # Untrained default J = I (the reference's init); checkpoints overwrite it.
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """``(B, C, H, W)`` image -> ``{'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}``."""
        x = self.down(image) if self.scale_factor != 1 else image  # (B, C, H/4, W/4)
        feature_map = self.predictor(x)  # (B, F, h, w), F = block_expansion + C
        prediction = self.kp(feature_map)  # (B, K, h', w'); h' = h - 6 with pad 0
        b, k, h, w = prediction.shape
        heatmap = spatial_softmax(prediction, self.temperature)  # (B, K, h', w'), each sums to 1
        out = {"value": heatmap_to_keypoints(heatmap)}  # (B, K, 2)
        if self.jacobian is not None:
            jacobian_map = self.jacobian(feature_map).reshape(b, self.num_jacobian_maps, 4, h, w)
            out["jacobian"] = heatmap_jacobian(heatmap, jacobian_map)  # (B, K, 2, 2)
        return out
