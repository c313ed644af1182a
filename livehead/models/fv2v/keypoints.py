"""face-vid2vid canonical keypoint detector (x_{c,k}): hourglass → 3D heatmaps → keypoints."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from livehead.models.blocks import (
    AntiAliasInterpolation2d,
    DownBlock,
    UpBlock,
)
from livehead.models.keypoints import (
    heatmap_jacobian,
    heatmap_to_keypoints,
    spatial_softmax,
)

__all__ = ["KPHourglass", "KPDetector"]


class KPHourglass(nn.Module):
    """2D encoder -> 1x1 conv -> reshape to a 3D volume -> 3D decoder (no skips).

    ``down_blocks.down{i}`` halve H, W; ``conv`` maps to ``reshape_features`` channels that are
    viewed as ``(reshape_features / reshape_depth, reshape_depth)``; ``up_blocks.up{i}`` double H, W.
    """

    def __init__(
        self, *, block_expansion: int, in_features: int, reshape_features: int, reshape_depth: int, num_blocks: int,
        max_features: int,
    ) -> None:
        super().__init__()
        self.down_blocks = nn.Sequential()
        for i in range(num_blocks):
            self.down_blocks.add_module(
                f"down{i}",
                DownBlock(
                    in_features if i == 0 else min(max_features, block_expansion * 2**i),
                    min(max_features, block_expansion * 2 ** (i + 1)),
                ),
            )
        bottom = min(max_features, block_expansion * 2**num_blocks)
        if reshape_features % reshape_depth or reshape_features // reshape_depth != bottom:
            raise ValueError(
                f"reshape_channel / reshape_depth must equal the deepest width min(max_features, "
                f"block_expansion * 2**num_blocks) = {bottom}; got {reshape_features} / {reshape_depth}"
            )
        self.conv = nn.Conv2d(bottom, reshape_features, kernel_size=1)
        self.up_blocks = nn.Sequential()
        for i in range(num_blocks):
            self.up_blocks.add_module(
                f"up{i}",
                UpBlock(
                    min(max_features, block_expansion * 2 ** (num_blocks - i)),
                    min(max_features, block_expansion * 2 ** (num_blocks - i - 1)),
                    dims=3,
                ),
            )
        self.reshape_depth = reshape_depth
        self.out_filters = min(max_features, block_expansion)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(self.down_blocks(x))  # (B, reshape_features, h, w)
        b, c, h, w = out.shape
        out = out.reshape(b, c // self.reshape_depth, self.reshape_depth, h, w)  # (B, c/D, D, h, w)
        return self.up_blocks(out)  # (B, out_filters, D, h * 2^n, w * 2^n)


class KPDetector(nn.Module):
    """Canonical 3D keypoint detector x_{c,k} (paper Sec. 3.1, network L).

    Constructor arguments are the keys of ``kp_detector_params`` + ``common_params``.

    Args:
        block_expansion, max_features, num_blocks: :class:`KPHourglass` widths/depth.
        feature_channel: accepted for config compatibility (unused here).
        num_kp: K (15).
        image_channel: 3.
        reshape_channel, reshape_depth: 2D -> 3D reshape (16384 -> 1024 x 16 for vox).
        temperature: softmax temperature (0.1).
        estimate_jacobian: also predict 3x3 Jacobians (off in the New model).
        scale_factor: input downscaling (0.25).
        single_jacobian_map: one Jacobian map for all keypoints.
    """

    def __init__(
        self,
        *,
        block_expansion: int,
        feature_channel: int,
        num_kp: int,
        image_channel: int,
        max_features: int,
        reshape_channel: int,
        reshape_depth: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
    ) -> None:
        super().__init__()
        self.predictor = KPHourglass(
            block_expansion=block_expansion, in_features=image_channel, reshape_features=reshape_channel,
            reshape_depth=reshape_depth, num_blocks=num_blocks, max_features=max_features,
        )
        self.kp = nn.Conv3d(self.predictor.out_filters, num_kp, kernel_size=3, padding=1)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv3d(self.predictor.out_filters, 9 * self.num_jacobian_maps, kernel_size=3, padding=1)
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0, 1] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(image_channel, scale_factor)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """``(B, C, H, W)`` -> ``{'value': (B, K, 3)[, 'jacobian': (B, K, 3, 3)]}``."""
        x = self.down(image) if self.scale_factor != 1 else image  # (B, C, H/4, W/4)
        feature_map = self.predictor(x)  # (B, F, D, H/4, W/4)
        prediction = self.kp(feature_map)  # (B, K, D, h, w)
        b, k, d, h, w = prediction.shape
        heatmap = spatial_softmax(prediction, self.temperature)  # (B, K, D, h, w), each sums to 1
        out = {"value": heatmap_to_keypoints(heatmap)}  # (B, K, 3)
        if self.jacobian is not None:
            jacobian_map = self.jacobian(feature_map).reshape(b, self.num_jacobian_maps, 9, d, h, w)
            out["jacobian"] = heatmap_jacobian(heatmap, jacobian_map)  # (B, K, 3, 3)
        return out
