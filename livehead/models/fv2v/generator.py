"""face-vid2vid generator: appearance feature volume f_s, 3D warp, SPADE decoder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import (
    encode_appearance,
    DownBlock,
    ResBlock,
    SameBlock2d,
    SPADEResnetBlock,
)
from livehead.models.fv2v.dense_motion import DenseMotionNetwork
from livehead.models.keypoints import KpDict

__all__ = ["SPADEDecoder", "OcclusionAwareSPADEGenerator"]


class SPADEDecoder(nn.Module):
    """SPADE decoder (paper generator G's upsampling part): warped features -> image.

    The reference hard-codes ``in_channels=256, out_channels=64`` and 6 middle blocks (about 55M
    parameters); they are arguments here only so shapes are named.

    Input ``(B, in, h, w)`` is also the SPADE label map; output ``(B, 3, 4h, 4w)`` in [0, 1].
    """

    def __init__(self, *, in_channels: int = 256, out_channels: int = 64, image_channels: int = 3,
                 num_middle_blocks: int = 6) -> None:
        super().__init__()
        ic, oc = in_channels, out_channels
        self.fc = nn.Conv2d(ic, 2 * ic, kernel_size=3, padding=1)
        self.num_middle_blocks = num_middle_blocks
        for i in range(num_middle_blocks):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(2 * ic, 2 * ic, ic))
        self.up_0 = SPADEResnetBlock(2 * ic, ic, ic)
        self.up_1 = SPADEResnetBlock(ic, oc, ic)
        self.conv_img = nn.Conv2d(oc, image_channels, kernel_size=3, padding=1)

    def forward(self, feature: Tensor) -> Tensor:
        seg = feature  # (B, ic, h, w) label map for every SPADE
        x = self.fc(feature)  # (B, 2ic, h, w)
        for i in range(self.num_middle_blocks):
            x = getattr(self, f"G_middle_{i}")(x, seg)  # (B, 2ic, h, w)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, 2ic, 2h, 2w)
        x = self.up_0(x, seg)  # (B, ic, 2h, 2w)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, ic, 4h, 4w)
        x = self.up_1(x, seg)  # (B, oc, 4h, 4w)
        x = self.conv_img(F.leaky_relu(x, 0.2))  # (B, 3, 4h, 4w)
        return torch.sigmoid(x)


class OcclusionAwareSPADEGenerator(nn.Module):
    """face-vid2vid generator: appearance volume f_s, 3D warp by w_{s<-d}, occlusion, SPADE decoder.

    Constructor arguments are the keys of ``generator_params`` + ``common_params``.

    Args:
        image_channel: 3.
        feature_channel: channels of the volume; must equal ``reshape_channel``.
        num_kp: K.
        block_expansion, max_features, num_down_blocks: 2D encoder; ``max_features`` must equal
            ``reshape_channel * reshape_depth``.
        reshape_channel, reshape_depth: the volume is ``(reshape_channel, reshape_depth, H/4, W/4)``.
        num_resblocks: 3D residual blocks (``resblocks_3d.3dr{i}``).
        estimate_occlusion_map: multiply by the occlusion map before decoding.
        dense_motion_params: :class:`DenseMotionNetwork` keys; None = no warping.
        estimate_jacobian: accepted for config compatibility (the kp dicts decide).
        align_corners: for every ``grid_sample``.
    """

    def __init__(
        self,
        *,
        image_channel: int,
        feature_channel: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        reshape_channel: int,
        reshape_depth: int,
        num_resblocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: Mapping[str, Any] | None = None,
        estimate_jacobian: bool = False,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if max_features != reshape_channel * reshape_depth:
            raise ValueError(
                f"max_features ({max_features}) must equal reshape_channel * reshape_depth "
                f"({reshape_channel} * {reshape_depth}) for the 2D -> 3D reshape"
            )
        if dense_motion_params is not None:
            if feature_channel != reshape_channel:
                raise ValueError(f"feature_channel ({feature_channel}) must equal reshape_channel ({reshape_channel})")
            self.dense_motion_network: DenseMotionNetwork | None = DenseMotionNetwork(
                num_kp=num_kp, feature_channel=feature_channel, estimate_occlusion_map=estimate_occlusion_map,
                align_corners=align_corners, **dense_motion_params,
            )
        else:
            self.dense_motion_network = None
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
        decoder_in = block_expansion * 2**num_down_blocks
        self.third = SameBlock2d(max_features, decoder_in, kernel_size=3, padding=1, lrelu=True)
        self.fourth = nn.Conv2d(decoder_in, decoder_in, kernel_size=1)
        self.decoder = SPADEDecoder(in_channels=decoder_in, image_channels=image_channel)
        self.reshape_channel = reshape_channel
        self.reshape_depth = reshape_depth
        self.align_corners = align_corners

    def encode_source(self, source_image: Tensor) -> Tensor:
        """Per-avatar part: ``(B, C, H, W)`` -> appearance volume f_s
        ``(B, reshape_channel, reshape_depth, H/4, W/4)`` (vox: 32 x 16 x 64 x 64)."""
        return encode_appearance(self, source_image)  # (B, reshape_channel, D, h, w)

    def _warp(self, volume: Tensor, deformation: Tensor) -> Tensor:
        """``grid_sample`` the volume ``(B, C, D, h, w)`` at ``deformation`` ``(B, D', h', w', 3)``."""
        if deformation.shape[1:4] != volume.shape[2:]:
            # The reference resizes with trilinear interpolate, no align_corners flag (= False).
            deformation = F.interpolate(
                deformation.permute(0, 4, 1, 2, 3), size=volume.shape[2:], mode="trilinear", align_corners=False
            ).permute(0, 2, 3, 4, 1)
        return F.grid_sample(
            volume, deformation, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners
        )

    def decode(self, feature_3d: Tensor, kp_driving: KpDict, kp_source: KpDict) -> dict[str, Tensor]:
        """Per-frame part: warp the cached volume to the driving keypoints and decode.

        Args:
            feature_3d: from :meth:`encode_source`.
            kp_driving, kp_source: kp dicts ``(B, K, 3)`` (the driving one usually from
                :func:`~livehead.models.keypoints.normalize_kp`).

        Returns:
            ``prediction`` ``(B, 3, H, W)`` in [0, 1]; with dense motion also ``mask``,
            ``deformation`` ``(B, D, h, w, 3)`` and ``occlusion_map`` ``(B, 1, h, w)``.
        """
        output: dict[str, Tensor] = {}
        out = feature_3d
        occlusion_map = None
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(feature_3d, kp_driving, kp_source)
            output["mask"] = motion["mask"]
            output["deformation"] = motion["deformation"]
            if "occlusion_map" in motion:
                occlusion_map = motion["occlusion_map"]
                output["occlusion_map"] = occlusion_map
            out = self._warp(feature_3d, motion["deformation"])  # (B, C, D, h, w)
        b, c, d, h, w = out.shape
        out = self.fourth(self.third(out.reshape(b, c * d, h, w)))  # (B, decoder_in, h, w)
        if occlusion_map is not None:
            if occlusion_map.shape[2:] != out.shape[2:]:
                occlusion_map = F.interpolate(occlusion_map, size=out.shape[2:], mode="bilinear", align_corners=False)
            out = out * occlusion_map
        output["prediction"] = self.decoder(out)  # (B, 3, 4h, 4w)
        return output

    def forward(self, source_image: Tensor, kp_driving: KpDict, kp_source: KpDict) -> dict[str, Tensor]:
        """Reference-compatible call: :meth:`encode_source` then :meth:`decode`."""
        return self.decode(self.encode_source(source_image), kp_driving, kp_source)
