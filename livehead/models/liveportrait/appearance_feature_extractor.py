"""LivePortrait's appearance feature extractor F (paper Sec. 3.1: the source's 3D appearance feature volume f_s).

Keyed like ``src/modules/appearance_feature_extractor.py`` of KwaiVGI/LivePortrait, so
``appearance_feature_extractor.pth`` loads strictly. It is face-vid2vid's appearance encoder, layer
for layer (:func:`livehead.models.blocks.encode_appearance`).
"""

from __future__ import annotations

from torch import Tensor, nn

from livehead.models.blocks import add_appearance_layers, encode_appearance

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
        add_appearance_layers(self, image_channel=image_channel, block_expansion=block_expansion,
                              num_down_blocks=num_down_blocks, max_features=max_features,
                              reshape_channel=reshape_channel, reshape_depth=reshape_depth,
                              num_resblocks=num_resblocks)

    def forward(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> f_s ``(B, reshape_channel, reshape_depth, H/4, W/4)``."""
        return encode_appearance(self, image)
