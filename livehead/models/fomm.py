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

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import AntiAliasInterpolation2d, DownBlock, Hourglass, ResBlock, SameBlock2d, UpBlock
from livehead.models.keypoints import (
    KpDict,
    heatmap_jacobian,
    heatmap_to_keypoints,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
    spatial_softmax,
)

__all__ = ["DenseMotionNetwork", "FommSourceEncoding", "KPDetector", "OcclusionAwareGenerator"]


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


class DenseMotionNetwork(nn.Module):
    """FOMM dense motion: mask M_k over the sparse motions T_k, giving T_{S<-D} and occlusion O (Sec. 3.2).

    Args:
        block_expansion, num_blocks, max_features: 2D hourglass widths/depth.
        num_kp: K; the hourglass input is ``(K+1)*(C+1)`` channels (one group per motion incl. background).
        num_channels: image channels C.
        estimate_occlusion_map: also predict O.
        scale_factor: the network runs on the source downscaled by this (0.25).
        kp_variance: variance of the keypoint Gaussians (0.01).
        align_corners: passed to ``grid_sample`` (see the module docstring).
    """

    def __init__(
        self,
        *,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        num_channels: int,
        estimate_occlusion_map: bool = False,
        scale_factor: float = 1,
        kp_variance: float = 0.01,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        self.hourglass = Hourglass(
            block_expansion=block_expansion,
            in_features=(num_kp + 1) * (num_channels + 1),
            num_blocks=num_blocks,
            max_features=max_features,
        )
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=7, padding=3) if estimate_occlusion_map else None
        )
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downsample(self, source_image: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, h, w)``: the source as this network sees it (per avatar)."""
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def sparse_motions(self, spatial_size: tuple[int, int], kp_driving: KpDict, kp_source: KpDict) -> Tensor:
        """Eq. 4: ``T_k(z) = p_k^S + J_k (z - p_k^D)`` with ``J_k = J^S_k inv(J^D_k)``, background first.

        Returns ``(B, K+1, h, w, 2)`` sampling positions in the source.
        """
        h, w = spatial_size
        value_s, value_d = kp_source["value"], kp_driving["value"]
        b = value_s.shape[0]
        identity = make_coordinate_grid((h, w), dtype=value_s.dtype, device=value_s.device).reshape(1, 1, h, w, 2)
        coordinates = identity - value_d.reshape(b, self.num_kp, 1, 1, 2)  # (B, K, h, w, 2)
        jacobian_d = kp_driving.get("jacobian")
        if jacobian_d is not None:
            jacobian = torch.matmul(kp_source["jacobian"], inverse_2x2(jacobian_d))  # (B, K, 2, 2)
            coordinates = torch.matmul(jacobian.reshape(b, self.num_kp, 1, 1, 2, 2), coordinates.unsqueeze(-1))
            coordinates = coordinates.squeeze(-1)  # (B, K, h, w, 2)
        driving_to_source = coordinates + value_s.reshape(b, self.num_kp, 1, 1, 2)
        return torch.cat([identity.expand(b, 1, h, w, 2), driving_to_source], dim=1)  # (B, K+1, h, w, 2)

    def heatmap_representation(self, spatial_size: tuple[int, int], kp_driving: KpDict, kp_source: KpDict) -> Tensor:
        """Eq. 6: ``H_k = G(p_k^D) - G(p_k^S)``, zero background first -> ``(B, K+1, 1, h, w)``."""
        heatmap = kp2gaussian(kp_driving["value"], spatial_size, self.kp_variance) - kp2gaussian(
            kp_source["value"], spatial_size, self.kp_variance
        )  # (B, K, h, w)
        zeros = torch.zeros_like(heatmap[:, :1])
        return torch.cat([zeros, heatmap], dim=1).unsqueeze(2)

    def forward(self, source_image: Tensor, kp_driving: KpDict, kp_source: KpDict) -> dict[str, Tensor]:
        """``source_image`` ``(B, C, H, W)`` -> ``sparse_deformed`` ``(B, K+1, C, h, w)``, ``mask``
        ``(B, K+1, h, w)``, ``deformation`` ``(B, h, w, 2)``, ``occlusion_map`` ``(B, 1, h, w)``."""
        return self.forward_downsampled(self.downsample(source_image), kp_driving, kp_source)

    def forward_downsampled(self, source: Tensor, kp_driving: KpDict, kp_source: KpDict) -> dict[str, Tensor]:
        """As :meth:`forward`, from the already downsampled source ``(B, C, h, w)`` (:meth:`downsample`)."""
        b, c, h, w = source.shape
        k1 = self.num_kp + 1
        out: dict[str, Tensor] = {}
        heatmap = self.heatmap_representation((h, w), kp_driving, kp_source)  # (B, K+1, 1, h, w)
        sparse_motion = self.sparse_motions((h, w), kp_driving, kp_source)  # (B, K+1, h, w, 2)
        source_repeat = source.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        sparse_deformed = F.grid_sample(
            source_repeat, sparse_motion.reshape(b * k1, h, w, 2), mode="bilinear", padding_mode="zeros",
            align_corners=self.align_corners,
        ).reshape(b, k1, c, h, w)
        out["sparse_deformed"] = sparse_deformed
        # One group per motion, [heatmap, RGB] inside each: (B, (K+1)(C+1), h, w)
        hourglass_in = torch.cat([heatmap, sparse_deformed], dim=2).reshape(b, k1 * (c + 1), h, w)
        prediction = self.hourglass(hourglass_in)  # (B, F, h, w)
        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, h, w)
        out["mask"] = mask
        deformation = (sparse_motion.permute(0, 1, 4, 2, 3) * mask.unsqueeze(2)).sum(dim=1)  # (B, 2, h, w)
        out["deformation"] = deformation.permute(0, 2, 3, 1)  # (B, h, w, 2)
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))  # (B, 1, h, w)
        return out


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
