"""FOMM occlusion-aware generator: source encoding once per avatar, warp + decoder per frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import DownBlock, ResBlock, SameBlock2d, UpBlock
from livehead.models.fomm.dense_motion import DenseMotionNetwork
from livehead.models.keypoints import KpDict

__all__ = ["FommSourceEncoding", "OcclusionAwareGenerator"]


class FommSourceEncoding(NamedTuple):
    """Per-avatar cache of :meth:`OcclusionAwareGenerator.encode_source`."""

    features: Tensor  # (B, F, H/2^n, W/2^n) output of first + down_blocks
    motion_source: Tensor | None  # (B, C, h, w) source as the dense-motion network sees it; None without one


class OcclusionAwareGenerator(nn.Module):
    """FOMM generator G: encode the source, warp features by T_{S<-D}, mask by O, decode (Sec. 3.3).

    Constructor arguments are the keys of ``generator_params`` + ``common_params``.

    Args:
        num_channels: image channels (3).
        num_kp: K.
        block_expansion, max_features, num_down_blocks: encoder/decoder widths/depth.
        num_bottleneck_blocks: residual blocks at the bottleneck (``bottleneck.r{i}``).
        estimate_occlusion_map: multiply warped features by the occlusion map.
        dense_motion_params: :class:`DenseMotionNetwork` keys (``block_expansion``, ``max_features``,
            ``num_blocks``, ``scale_factor``); None = no warping.
        estimate_jacobian: accepted for config compatibility (the kp dicts decide).
        align_corners: for every ``grid_sample`` (see the module docstring).
    """

    def __init__(
        self,
        *,
        num_channels: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: Mapping[str, Any] | None = None,
        estimate_jacobian: bool = False,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network: DenseMotionNetwork | None = DenseMotionNetwork(
                num_kp=num_kp, num_channels=num_channels, estimate_occlusion_map=estimate_occlusion_map,
                align_corners=align_corners, **dense_motion_params,
            )
        else:
            self.dense_motion_network = None
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.ModuleList(
            DownBlock(min(max_features, block_expansion * 2**i), min(max_features, block_expansion * 2 ** (i + 1)))
            for i in range(num_down_blocks)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock(
                min(max_features, block_expansion * 2 ** (num_down_blocks - i)),
                min(max_features, block_expansion * 2 ** (num_down_blocks - i - 1)),
            )
            for i in range(num_down_blocks)
        )
        bottleneck_features = min(max_features, block_expansion * 2**num_down_blocks)
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock(bottleneck_features))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=7, padding=3)
        self.align_corners = align_corners

    def _warp(self, inp: Tensor, deformation: Tensor) -> Tensor:
        """``grid_sample`` ``inp`` ``(B, C, H, W)`` at ``deformation`` ``(B, h, w, 2)``, resized to H, W."""
        h, w = inp.shape[2:]
        if deformation.shape[1:3] != (h, w):
            # The reference resizes with bilinear interpolate and no align_corners flag (= False).
            deformation = F.interpolate(
                deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=False
            ).permute(0, 2, 3, 1)
        return F.grid_sample(inp, deformation, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners)

    def encode_source(self, source_image: Tensor) -> FommSourceEncoding:
        """Per-avatar part: ``(B, C, H, W)`` -> encoder features ``(B, F, H/4, W/4)`` (vox) and the
        dense-motion source ``(B, C, H/4, W/4)``."""
        out = self.first(source_image)  # (B, be, H, W)
        for block in self.down_blocks:
            out = block(out)  # (B, F, H/2^i, W/2^i)
        motion_source = self.dense_motion_network.downsample(source_image) if self.dense_motion_network else None
        return FommSourceEncoding(out, motion_source)

    def decode(
        self,
        encoding: FommSourceEncoding,
        kp_driving: KpDict,
        kp_source: KpDict,
        *,
        source_image: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Per-frame part: warp the cached source features to the driving keypoints and decode.

        Args:
            encoding: from :meth:`encode_source`.
            kp_driving, kp_source: kp dicts (usually ``kp_driving`` from
                :func:`~livehead.models.keypoints.normalize_kp`).
            source_image: when given, also return the visualisation ``deformed`` (the source image
                warped by the deformation); not needed for the prediction.

        Returns:
            ``prediction`` ``(B, C, H, W)`` in [0, 1]; with dense motion also ``mask``,
            ``sparse_deformed``, ``deformation`` ``(B, h, w, 2)``, ``occlusion_map``.
        """
        out = encoding.features
        output: dict[str, Tensor] = {}
        if self.dense_motion_network is not None:
            if encoding.motion_source is None:
                raise ValueError("encoding.motion_source is None but this generator has a dense-motion network")
            motion = self.dense_motion_network.forward_downsampled(encoding.motion_source, kp_driving, kp_source)
            output["mask"] = motion["mask"]
            output["sparse_deformed"] = motion["sparse_deformed"]
            output["deformation"] = motion["deformation"]
            out = self._warp(out, motion["deformation"])  # (B, F, H/4, W/4)
            if "occlusion_map" in motion:
                occlusion_map = motion["occlusion_map"]
                output["occlusion_map"] = occlusion_map
                if occlusion_map.shape[2:] != out.shape[2:]:
                    occlusion_map = F.interpolate(
                        occlusion_map, size=out.shape[2:], mode="bilinear", align_corners=False
                    )
                out = out * occlusion_map
            if source_image is not None:
                output["deformed"] = self._warp(source_image, motion["deformation"])  # (B, C, H, W)
        out = self.bottleneck(out)  # (B, F, H/4, W/4)
        for block in self.up_blocks:
            out = block(out)  # (B, F/2, 2h, 2w) each
        output["prediction"] = torch.sigmoid(self.final(out))  # (B, C, H, W)
        return output

    def forward(self, source_image: Tensor, kp_driving: KpDict, kp_source: KpDict) -> dict[str, Tensor]:
        """Reference-compatible call: :meth:`encode_source` then :meth:`decode` (with ``deformed``)."""
        return self.decode(self.encode_source(source_image), kp_driving, kp_source, source_image=source_image)
