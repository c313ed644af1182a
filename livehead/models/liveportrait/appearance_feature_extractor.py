"""LivePortrait's appearance feature extractor F (paper Sec. 3.1: the source's 3D appearance feature volume f_s).

Keyed like ``src/modules/appearance_feature_extractor.py`` of KwaiVGI/LivePortrait, so
``appearance_feature_extractor.pth`` loads strictly. It is face-vid2vid's appearance encoder, layer
for layer (:func:`livehead.models.blocks.encode_appearance`).
"""

from __future__ import annotations

from torch import Tensor, nn

from livehead.models.blocks import DownBlock, ResBlock, SameBlock2d, encode_appearance

__all__ = ["AppearanceFeatureExtractor"]


class AppearanceFeatureExtractor(nn.Module):
    """F: image -> appearance feature volume f_s.

    Constructor arguments are the keys of ``appearance_feature_extractor_params``.

    Args:
        image_channel: 3.
        block_expansion: channels of ``first``; down block i has ``min(max_features, be * 2**(i+1))``.
        num_down_blocks: each halves H and W (2: 256 -> 64).
        max_features: channels of ``second``; must equal ``reshape_channel * reshape_depth``.
        reshape_channel, reshape_depth: the volume is ``(reshape_channel, reshape_depth, h, w)``
            (public model: 32 x 16 x 64 x 64).
        num_resblocks: 3D residual blocks ``resblocks_3d.3dr{i}``.
    """

    def __init__(
        self,
        *,
        image_channel: int,
        block_expansion: int,
        num_down_blocks: int,
        max_features: int,
        reshape_channel: int,
        reshape_depth: int,
        num_resblocks: int,
    ) -> None:
        super().__init__()
        if max_features != reshape_channel * reshape_depth:
            raise ValueError(
                f"max_features ({max_features}) must equal reshape_channel * reshape_depth "
                f"({reshape_channel} * {reshape_depth}): second's output is viewed as the volume"
            )
        if num_down_blocks < 1:
            raise ValueError(f"num_down_blocks must be >= 1; got {num_down_blocks}")
        self.first = SameBlock2d(image_channel, block_expansion, kernel_size=3, padding=1)
        self.down_blocks = nn.ModuleList(
            DownBlock(min(max_features, block_expansion * 2**i), min(max_features, block_expansion * 2 ** (i + 1)))
            for i in range(num_down_blocks)
        )
        encoder_out = min(max_features, block_expansion * 2**num_down_blocks)
        self.second = nn.Conv2d(encoder_out, max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock(reshape_channel, dims=3))
        self.reshape_channel = reshape_channel
        self.reshape_depth = reshape_depth

    def forward(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> f_s ``(B, reshape_channel, reshape_depth, H/4, W/4)``."""
        return encode_appearance(self, image)
