"""LivePortrait's motion extractor M (paper Sec. 3.1, Eq. 2): canonical keypoints x_c, head pose R,
expression deformation delta, translation t and scale s from one image, with a ConvNeXt-V2-Tiny backbone.

Keyed like ``src/modules/motion_extractor.py`` + ``convnextv2.py`` of KwaiVGI/LivePortrait
(every key starts with ``detector.``), so ``motion_extractor.pth`` loads strictly.

Convention: the outputs are the raw heads, as the reference's ``get_kp_info(...,
flag_refine_info=False)`` returns them: ``pitch``/``yaw``/``roll`` are ``(B, num_bins)`` bin logits
(``fc_pitch`` -> ``pitch``: no head-name swap, unlike face-vid2vid), ``kp`` and ``exp`` are flat
``(B, 3K)``. :func:`livehead.models.liveportrait.keypoints.refine_motion` turns them into degrees and
``(B, K, 3)`` keypoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BACKBONES", "ConvNeXtV2", "GlobalResponseNorm", "LayerNorm2d", "MotionExtractor"]

# The reference hard-codes these per backbone name (a `dims` key in the YAML would be a TypeError there).
BACKBONES: dict[str, dict[str, tuple[int, ...]]] = {
    "convnextv2_tiny": {"depths": (3, 3, 9, 3), "dims": (96, 192, 384, 768)},
}
_EPS = 1e-6  # every LayerNorm of the backbone


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of an NCHW tensor (ConvNeXt's ``channels_first`` LayerNorm).

    Written out, as the reference does, with the biased variance: ``(x - mean_C) / sqrt(var_C + eps)``
    then per-channel ``weight``/``bias``. Keys ``weight``, ``bias`` ``(C,)``.
    """

    def __init__(self, channels: int, eps: float = _EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(1, keepdim=True)  # (B, 1, H, W)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2 GRN on channels-last input ``(B, H, W, C)``.

    ``G = ||x||_2 over (H, W)`` per channel, ``N = G / (mean_C(G) + 1e-6)``,
    ``out = gamma * (x * N) + beta + x``. Keys ``gamma``, ``beta`` ``(1, 1, 1, C)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: Tensor) -> Tensor:
        gx = torch.linalg.vector_norm(x, 2, dim=(1, 2), keepdim=True)  # (B, 1, 1, C), the spatial L2 norm
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class _Block(nn.Module):
    """ConvNeXt-V2 block: dwconv 7x7 -> NHWC -> LayerNorm -> Linear x4 -> exact GELU -> GRN -> Linear -> + x."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GlobalResponseNorm(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        out = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        out = F.gelu(self.pwconv1(self.norm(out)))  # (B, H, W, 4C), erf GELU as nn.GELU()
        out = self.pwconv2(self.grn(out)).permute(0, 3, 1, 2)  # (B, C, H, W)
        return x + out


class ConvNeXtV2(nn.Module):
    """ConvNeXt-V2 backbone with LivePortrait's seven regression heads (no classifier).

    Args:
        depths, dims: blocks and channels per stage (tiny: 3/3/9/3, 96/192/384/768).
        num_kp: K; ``fc_kp`` and ``fc_exp`` have 3K outputs.
        num_bins: pose bins per angle (66).
        in_chans: 3.
    """

    def __init__(self, *, depths: tuple[int, ...], dims: tuple[int, ...], num_kp: int, num_bins: int = 66,
                 in_chans: int = 3) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), LayerNorm2d(dims[0]))]
            + [nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
               for i in range(len(dims) - 1)]
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*[_Block(dim) for _ in range(depth)]) for depth, dim in zip(depths, dims)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=_EPS)
        self.fc_kp = nn.Linear(dims[-1], 3 * num_kp)
        self.fc_scale = nn.Linear(dims[-1], 1)
        self.fc_pitch = nn.Linear(dims[-1], num_bins)
        self.fc_yaw = nn.Linear(dims[-1], num_bins)
        self.fc_roll = nn.Linear(dims[-1], num_bins)
        self.fc_t = nn.Linear(dims[-1], 3)
        self.fc_exp = nn.Linear(dims[-1], 3 * num_kp)

    def features(self, image: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, dims[-1])``: the normalised global average pool the heads read."""
        x = image
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))  # stage i: (B, dims[i], H / (4 * 2**i), W / (4 * 2**i))
        return self.norm(x.mean(dim=(-2, -1)))  # (B, dims[-1])

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        h = self.features(image)
        return {
            "pitch": self.fc_pitch(h), "yaw": self.fc_yaw(h), "roll": self.fc_roll(h),  # (B, num_bins) logits
            "t": self.fc_t(h),  # (B, 3)
            "exp": self.fc_exp(h),  # (B, 3K)
            "scale": self.fc_scale(h),  # (B, 1)
            "kp": self.fc_kp(h),  # (B, 3K)
        }


class MotionExtractor(nn.Module):
    """M: image -> raw pose logits, t, exp, scale and canonical keypoints (see the module docstring).

    Constructor arguments are the keys of ``motion_extractor_params``.

    Args:
        num_kp: K (21).
        backbone: a name in :data:`BACKBONES` (``convnextv2_tiny``; its widths are fixed, as in the reference).
        num_bins: pose bins (66; LivePortrait's degree decoding assumes 66).

    Input: ``(B, 3, H, W)`` RGB in [0, 1], H and W divisible by 32.
    """

    def __init__(self, *, num_kp: int, backbone: str = "convnextv2_tiny", num_bins: int = 66) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown motion-extractor backbone {backbone!r}; supported: {', '.join(BACKBONES)}")
        self.detector = ConvNeXtV2(**BACKBONES[backbone], num_kp=num_kp, num_bins=num_bins)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        return self.detector(image)
