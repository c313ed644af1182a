"""LivePortrait's SPADE generator G (paper Sec. 3.1: decodes the warped features into the image).

Keyed like ``src/modules/spade_generator.py`` of KwaiVGI/LivePortrait (the file is the decoder's
own state dict, no ``decoder.`` prefix), so ``spade_generator.pth`` loads strictly. The network is
face-vid2vid's SPADE decoder (:class:`livehead.models.fv2v.SPADEDecoder`: ``fc``, six
``G_middle_*`` blocks, ``up_0``, ``up_1``, spectral-normed convs, LeakyReLU 0.2, nearest x2
upsampling) with one change: for ``upscale`` 2 the last conv predicts 12 channels that a
PixelShuffle(2) turns into a 2x larger image (256 -> 512 for the public model).
"""

from __future__ import annotations

from torch import nn

from livehead.models.fv2v import SPADEDecoder as _Fv2vSPADEDecoder

__all__ = ["SPADEDecoder"]


class SPADEDecoder(_Fv2vSPADEDecoder):
    """G: warped feature ``(B, C, h, w)`` -> image ``(B, 3, 4h * upscale, 4h * upscale)`` in [0, 1].

    Constructor arguments are the keys of ``spade_generator_params``.

    Args:
        upscale: 1 (plain 3-channel ``conv_img``) or 2 (``conv_img.0`` to 12 channels + PixelShuffle(2)).
        block_expansion, max_features, num_down_blocks: only give the input width
            ``C = min(max_features, block_expansion * 2**num_down_blocks)`` (256 public), which must
            equal the warping module's output width; the decoder has no down blocks.
        out_channels: width of ``up_1`` (64).

    The SPADE hidden width (128) is fixed, as in the reference.
    """

    def __init__(self, *, upscale: int = 1, max_features: int = 256, block_expansion: int = 64, out_channels: int = 64,
                 num_down_blocks: int = 2) -> None:
        if num_down_blocks < 1:
            # The reference takes the width from its loop's last iteration, which never runs for 0.
            raise ValueError(f"num_down_blocks must be >= 1 (it sets the input width); got {num_down_blocks}")
        if upscale not in (1, 2):
            raise ValueError(f"upscale must be 1 or 2 (the reference's PixelShuffle factor is fixed at 2); "
                             f"got {upscale}")
        in_channels = min(max_features, block_expansion * 2**num_down_blocks)
        super().__init__(in_channels=in_channels, out_channels=out_channels, image_channels=3)
        if upscale == 2:
            # Replacing the attribute keeps its place in the state dict (after up_1, as in the files).
            self.conv_img = nn.Sequential(nn.Conv2d(out_channels, 3 * 2 * 2, kernel_size=3, padding=1),
                                          nn.PixelShuffle(2))
        self.upscale = upscale
        self.in_channels = in_channels
