"""face-vid2vid 3D dense motion network: flow w over the feature volume and the occlusion map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import Hourglass
from livehead.models.keypoints import (
    KpDict,
    inverse_3x3,
    kp2gaussian,
    make_coordinate_grid,
)

__all__ = ["DenseMotionNetwork"]


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
