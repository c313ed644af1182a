"""face-vid2vid head-pose and expression estimator: yaw/pitch/roll bins, translation t, expression deltas."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from livehead.models.blocks import ResBottleneck

__all__ = ["HEEstimator"]


def _bottleneck_stack(prefix: str, features: int, count: int) -> nn.Sequential:
    stack = nn.Sequential()
    for i in range(count):
        stack.add_module(f"{prefix}{i}", ResBottleneck(features, stride=1))
    return stack


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
