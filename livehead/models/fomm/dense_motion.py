"""FOMM dense motion network: motion T_{S<-D} from sparse keypoint motions, and the occlusion map O."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import AntiAliasInterpolation2d, Hourglass
from livehead.models.keypoints import (
    KpDict,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
)

__all__ = ["DenseMotionNetwork"]


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
