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

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import (
    AntiAliasInterpolation2d,
    DownBlock,
    Hourglass,
    ResBlock,
    ResBottleneck,
    SameBlock2d,
    SPADEResnetBlock,
    UpBlock,
    encode_appearance,
)
from livehead.models.keypoints import (
    KpDict,
    heatmap_jacobian,
    heatmap_to_keypoints,
    inverse_3x3,
    kp2gaussian,
    make_coordinate_grid,
    spatial_softmax,
)

__all__ = [
    "DenseMotionNetwork",
    "HEEstimator",
    "KPDetector",
    "KPHourglass",
    "OcclusionAwareSPADEGenerator",
    "SPADEDecoder",
]


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


class HEEstimator(nn.Module):
    """Head pose and expression estimator (paper network H): rotation bins, t, delta.

    A ResNet-50-like stack whose widths (256 … 2048) are hard-coded in the reference; only
    ``conv1``/``norm1`` follow ``block_expansion``.

    Constructor arguments are the keys of ``he_estimator_params`` + ``common_params``;
    ``feature_channel``, ``max_features`` and ``estimate_jacobian`` are accepted and unused, as in
    the reference.

    The output dict reproduces the reference's head-name swap: ``'yaw'`` comes from ``fc_roll``,
    ``'roll'`` from ``fc_yaw`` (``'pitch'`` from ``fc_pitch``). The released model was trained
    through that swap, so downstream code (:func:`~livehead.models.keypoints.keypoint_transformation`)
    must use the returned names, not the layer names.
    """

    def __init__(
        self,
        *,
        block_expansion: int,
        feature_channel: int,
        num_kp: int,
        image_channel: int,
        max_features: int,
        num_bins: int = 66,
        estimate_jacobian: bool = True,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(image_channel, block_expansion, kernel_size=7, padding=3, stride=2)
        self.norm1 = nn.BatchNorm2d(block_expansion)
        self.conv2 = nn.Conv2d(block_expansion, 256, kernel_size=1)
        self.norm2 = nn.BatchNorm2d(256)
        self.block1 = _bottleneck_stack("b1_", 256, 3)
        self.conv3 = nn.Conv2d(256, 512, kernel_size=1)
        self.norm3 = nn.BatchNorm2d(512)
        self.block2 = ResBottleneck(512, stride=2)
        self.block3 = _bottleneck_stack("b3_", 512, 3)
        self.conv4 = nn.Conv2d(512, 1024, kernel_size=1)
        self.norm4 = nn.BatchNorm2d(1024)
        self.block4 = ResBottleneck(1024, stride=2)
        self.block5 = _bottleneck_stack("b5_", 1024, 5)
        self.conv5 = nn.Conv2d(1024, 2048, kernel_size=1)
        self.norm5 = nn.BatchNorm2d(2048)
        self.block6 = ResBottleneck(2048, stride=2)
        self.block7 = _bottleneck_stack("b7_", 2048, 2)
        self.fc_roll = nn.Linear(2048, num_bins)
        self.fc_pitch = nn.Linear(2048, num_bins)
        self.fc_yaw = nn.Linear(2048, num_bins)
        self.fc_t = nn.Linear(2048, 3)
        self.fc_exp = nn.Linear(2048, 3 * num_kp)

    def features(self, image: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, 2048, H/32, W/32)`` (before global pooling)."""
        out = F.relu(self.norm1(self.conv1(image)))  # (B, be, H/2, W/2)
        out = F.max_pool2d(out, kernel_size=3, stride=2, padding=1)  # (B, be, H/4, W/4)
        out = F.relu(self.norm2(self.conv2(out)))  # (B, 256, H/4, W/4)
        out = self.block1(out)
        out = F.relu(self.norm3(self.conv3(out)))  # (B, 512, H/4, W/4)
        out = self.block3(self.block2(out))  # (B, 512, H/8, W/8)
        out = F.relu(self.norm4(self.conv4(out)))  # (B, 1024, H/8, W/8)
        out = self.block5(self.block4(out))  # (B, 1024, H/16, W/16)
        out = F.relu(self.norm5(self.conv5(out)))  # (B, 2048, H/16, W/16)
        return self.block7(self.block6(out))  # (B, 2048, H/32, W/32)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """``(B, C, H, W)`` -> ``yaw``/``pitch``/``roll`` ``(B, num_bins)`` logits (swapped names, see
        the class docstring), ``t`` ``(B, 3)``, ``exp`` ``(B, 3K)``."""
        h = self.features(image).mean(dim=(2, 3))  # (B, 2048) global average pool
        return {
            "yaw": self.fc_roll(h),
            "pitch": self.fc_pitch(h),
            "roll": self.fc_yaw(h),
            "t": self.fc_t(h),
            "exp": self.fc_exp(h),
        }


def _bottleneck_stack(prefix: str, features: int, count: int) -> nn.Sequential:
    stack = nn.Sequential()
    for i in range(count):
        stack.add_module(f"{prefix}{i}", ResBottleneck(features, stride=1))
    return stack


class DenseMotionNetwork(nn.Module):
    """3D dense motion (paper network M): flow w_{s<-d} as a softmax mix of per-keypoint motions,
    plus the occlusion mask.

    Args:
        block_expansion, num_blocks, max_features: 3D hourglass widths/depth.
        num_kp: K; hourglass input ``(K+1) * (compress+1)`` channels.
        feature_channel: channels of the appearance volume (32 for vox).
        reshape_depth: depth D of the volume (the occlusion conv sees ``out_filters * D`` channels).
        compress: channels after the 1x1x1 ``compress`` conv (4).
        estimate_occlusion_map: also predict the occlusion map.
        kp_variance: Gaussian variance (0.01, fixed in the reference).
        align_corners: for the 5D ``grid_sample`` (False, as the reference ran).
    """

    def __init__(
        self,
        *,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        feature_channel: int,
        reshape_depth: int,
        compress: int,
        estimate_occlusion_map: bool = False,
        kp_variance: float = 0.01,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.hourglass = Hourglass(
            block_expansion=block_expansion, in_features=(num_kp + 1) * (compress + 1), num_blocks=num_blocks,
            max_features=max_features, dims=3, final_conv=True,
        )
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channel, compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(compress)
        self.occlusion = (
            nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, kernel_size=7, padding=3)
            if estimate_occlusion_map
            else None
        )
        self.num_kp = num_kp
        self.kp_variance = kp_variance
        self.align_corners = align_corners

    def compress_features(self, feature: Tensor) -> Tensor:
        """``(B, feature_channel, D, h, w)`` -> ``(B, compress, D, h, w)`` (ReLU(BN(conv)))."""
        return F.relu(self.norm(self.compress(feature)))

    def sparse_motions(self, spatial_size: tuple[int, int, int], kp_driving: KpDict, kp_source: KpDict) -> Tensor:
        """``T_k(z) = x_{s,k} + J_k (z - x_{d,k})`` (J_k = I without Jacobians), identity first.

        Returns ``(B, K+1, D, h, w, 3)``.
        """
        d, h, w = spatial_size
        value_s, value_d = kp_source["value"], kp_driving["value"]
        b = value_s.shape[0]
        identity = make_coordinate_grid((d, h, w), dtype=value_s.dtype, device=value_s.device).reshape(1, 1, d, h, w, 3)
        coordinates = identity - value_d.reshape(b, self.num_kp, 1, 1, 1, 3)  # (B, K, D, h, w, 3)
        jacobian_d = kp_driving.get("jacobian")
        if jacobian_d is not None:
            jacobian = torch.matmul(kp_source["jacobian"], inverse_3x3(jacobian_d))  # (B, K, 3, 3)
            coordinates = torch.matmul(jacobian.reshape(b, self.num_kp, 1, 1, 1, 3, 3), coordinates.unsqueeze(-1))
            coordinates = coordinates.squeeze(-1)
        driving_to_source = coordinates + value_s.reshape(b, self.num_kp, 1, 1, 1, 3)
        return torch.cat([identity.expand(b, 1, d, h, w, 3), driving_to_source], dim=1)

    def heatmap_representation(
        self, spatial_size: tuple[int, int, int], kp_driving: KpDict, kp_source: KpDict
    ) -> Tensor:
        """``G(x_d) - G(x_s)`` on the volume grid, zero background first -> ``(B, K+1, 1, D, h, w)``."""
        heatmap = kp2gaussian(kp_driving["value"], spatial_size, self.kp_variance) - kp2gaussian(
            kp_source["value"], spatial_size, self.kp_variance
        )  # (B, K, D, h, w)
        return torch.cat([torch.zeros_like(heatmap[:, :1]), heatmap], dim=1).unsqueeze(2)

    def forward(self, feature: Tensor, kp_driving: KpDict, kp_source: KpDict) -> dict[str, Tensor]:
        """``feature`` ``(B, feature_channel, D, h, w)`` -> ``mask`` ``(B, K+1, D, h, w)``,
        ``deformation`` ``(B, D, h, w, 3)``, ``occlusion_map`` ``(B, 1, h, w)``."""
        feature = self.compress_features(feature)  # (B, c, D, h, w)
        b, c, d, h, w = feature.shape
        k1 = self.num_kp + 1
        out: dict[str, Tensor] = {}
        sparse_motion = self.sparse_motions((d, h, w), kp_driving, kp_source)  # (B, K+1, D, h, w, 3)
        feature_repeat = feature.unsqueeze(1).expand(b, k1, c, d, h, w).reshape(b * k1, c, d, h, w)
        deformed = F.grid_sample(
            feature_repeat, sparse_motion.reshape(b * k1, d, h, w, 3), mode="bilinear", padding_mode="zeros",
            align_corners=self.align_corners,
        ).reshape(b, k1, c, d, h, w)
        heatmap = self.heatmap_representation((d, h, w), kp_driving, kp_source)  # (B, K+1, 1, D, h, w)
        hourglass_in = torch.cat([heatmap, deformed], dim=2).reshape(b, k1 * (c + 1), d, h, w)  # [heat, feat] per group
        prediction = self.hourglass(hourglass_in)  # (B, F, D, h, w)
        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, D, h, w)
        out["mask"] = mask
        deformation = (sparse_motion.permute(0, 1, 5, 2, 3, 4) * mask.unsqueeze(2)).sum(dim=1)  # (B, 3, D, h, w)
        out["deformation"] = deformation.permute(0, 2, 3, 4, 1)  # (B, D, h, w, 3)
        if self.occlusion is not None:
            flat = prediction.reshape(b, -1, h, w)  # (B, F*D, h, w)
            out["occlusion_map"] = torch.sigmoid(self.occlusion(flat))  # (B, 1, h, w)
        return out


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
