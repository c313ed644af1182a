"""Building blocks shared by FOMM and face-vid2vid (and reusable for LivePortrait).

Attribute names are the state-dict sub-keys of the public checkpoints (``conv``, ``norm``,
``norm1``, ``encoder.down_blocks.0`` …), so whole models load with ``strict=True``.

Convention: images/features are NCHW (2D) or NCDHW (3D) float tensors. BatchNorm is plain
``nn.BatchNorm2d/3d`` (eps 1e-5): in eval mode the SynchronizedBatchNorm of the reference code is
exactly ``F.batch_norm`` with the same keys. All upsampling is nearest, as in the reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "AntiAliasInterpolation2d",
    "DownBlock",
    "Hourglass",
    "ResBlock",
    "ResBottleneck",
    "SPADE",
    "SPADEResnetBlock",
    "SameBlock2d",
    "SpectralNormConv2d",
    "UpBlock",
    "encode_appearance",
    "fold_spectral_norm",
]


def _conv(dims: int) -> type[nn.Conv2d] | type[nn.Conv3d]:
    return {2: nn.Conv2d, 3: nn.Conv3d}[dims]


def _batch_norm(dims: int) -> type[nn.BatchNorm2d] | type[nn.BatchNorm3d]:
    return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then subsample by ``1/scale`` (FOMM ``AntiAliasInterpolation2d``).

    The kernel is a persistent buffer ``weight`` ``(C, 1, k, k)`` because the checkpoints carry it;
    the constructor only fills the default (the loaded one wins).

    Args:
        channels: input channels C.
        scale: output/input size ratio, e.g. 0.25; ``1/scale`` must be an integer.
    """

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        if not 0 < scale < 1 or (1 / scale) % 1:
            raise ValueError(f"scale must be 1/n for an integer n > 1 (e.g. 0.25); got {scale}")
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1  # always odd, so symmetric padding
        coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        g = torch.exp(-(coords**2) / (2 * sigma**2))
        kernel = g[:, None] * g[None, :]
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.expand(channels, 1, size, size).clone())
        self.channels = channels
        self.padding = size // 2
        self.step = int(1 / scale)

    def forward(self, x: Tensor) -> Tensor:
        # A strided depthwise conv equals the reference's pad + conv + [::step, ::step] slice and
        # exports as one op. (B, C, H, W) -> (B, C, ceil(H/step), ceil(W/step))
        return F.conv2d(x, self.weight, stride=self.step, padding=self.padding, groups=self.channels)


class SameBlock2d(nn.Module):
    """Conv -> BatchNorm -> ReLU (or LeakyReLU(0.01) with ``lrelu``), same spatial size."""

    def __init__(
        self, in_features: int, out_features: int, *, kernel_size: int, padding: int, lrelu: bool = False
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features)
        self.negative_slope = 0.01 if lrelu else 0.0

    def forward(self, x: Tensor) -> Tensor:
        out = self.norm(self.conv(x))  # (B, out, H, W)
        return F.leaky_relu(out, self.negative_slope) if self.negative_slope else F.relu(out)


class DownBlock(nn.Module):
    """Conv(3, pad 1) -> BatchNorm -> ReLU -> AvgPool: halves H and W (and keeps D in 3D)."""

    def __init__(self, in_features: int, out_features: int, *, dims: int = 2) -> None:
        super().__init__()
        self.conv = _conv(dims)(in_features, out_features, kernel_size=3, padding=1)
        self.norm = _batch_norm(dims)(out_features)
        self.pool_kernel = (2, 2) if dims == 2 else (1, 2, 2)
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm(self.conv(x)))  # (B, out, [D,] H, W)
        pool = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
        return pool(out, self.pool_kernel)  # (B, out, [D,] H/2, W/2)


class UpBlock(nn.Module):
    """Nearest x2 upsampling of H and W -> Conv(3, pad 1) -> BatchNorm -> ReLU."""

    def __init__(self, in_features: int, out_features: int, *, dims: int = 2) -> None:
        super().__init__()
        self.conv = _conv(dims)(in_features, out_features, kernel_size=3, padding=1)
        self.norm = _batch_norm(dims)(out_features)
        self.scale = (2.0, 2.0) if dims == 2 else (1.0, 2.0, 2.0)

    def forward(self, x: Tensor) -> Tensor:
        out = F.interpolate(x, scale_factor=self.scale, mode="nearest")  # (B, in, [D,] 2H, 2W)
        return F.relu(self.norm(self.conv(out)))  # (B, out, [D,] 2H, 2W)


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, features: int, *, dims: int = 2) -> None:
        super().__init__()
        conv, bn = _conv(dims), _batch_norm(dims)
        self.conv1 = conv(features, features, kernel_size=3, padding=1)
        self.conv2 = conv(features, features, kernel_size=3, padding=1)
        self.norm1 = bn(features)
        self.norm2 = bn(features)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(F.relu(self.norm1(x)))  # (B, C, [D,] H, W)
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class _HourglassEncoder(nn.Module):
    def __init__(
        self, *, block_expansion: int, in_features: int, num_blocks: int, max_features: int, dims: int
    ) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock(
                in_features if i == 0 else min(max_features, block_expansion * 2**i),
                min(max_features, block_expansion * 2 ** (i + 1)),
                dims=dims,
            )
            for i in range(num_blocks)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))  # spatial H, W halve each step
        return outs


class _HourglassDecoder(nn.Module):
    def __init__(
        self, *, block_expansion: int, in_features: int, num_blocks: int, max_features: int, dims: int, final_conv: bool
    ) -> None:
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            # Every block but the deepest also receives the encoder skip, hence x2 channels.
            in_filters = (1 if i == num_blocks - 1 else 2) * min(max_features, block_expansion * 2 ** (i + 1))
            blocks.append(UpBlock(in_filters, min(max_features, block_expansion * 2**i), dims=dims))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        if final_conv:
            self.conv = _conv(dims)(self.out_filters, self.out_filters, kernel_size=3, padding=1)
            self.norm = _batch_norm(dims)(self.out_filters)
        self.final_conv = final_conv

    def forward(self, skips: list[Tensor]) -> Tensor:
        out = skips[-1]
        for j, block in enumerate(self.up_blocks):
            out = block(out)
            out = torch.cat([out, skips[-2 - j]], dim=1)  # [upsampled, skip] on channels
        if self.final_conv:
            out = F.relu(self.norm(self.conv(out)))
        return out  # (B, out_filters, [D,] H, W)


class Hourglass(nn.Module):
    """U-Net style hourglass (FOMM ``Hourglass``; 3D variant of face-vid2vid with a final conv+BN).

    Args:
        block_expansion, in_features, num_blocks, max_features: as in the configs;
            down block i has ``min(max_features, block_expansion * 2**(i+1))`` channels.
        dims: 2 (FOMM) or 3 (face-vid2vid; pooling/upsampling only in H, W).
        final_conv: the 3D decoder ends with ``decoder.conv`` + ``decoder.norm`` + ReLU.

    Output: ``(B, out_filters, [D,] H, W)`` with ``out_filters = block_expansion + in_features``.
    H and W must be divisible by ``2**num_blocks``.
    """

    def __init__(
        self,
        *,
        block_expansion: int,
        in_features: int,
        num_blocks: int,
        max_features: int,
        dims: int = 2,
        final_conv: bool = False,
    ) -> None:
        super().__init__()
        common = dict(block_expansion=block_expansion, in_features=in_features, num_blocks=num_blocks,
                      max_features=max_features, dims=dims)
        self.encoder = _HourglassEncoder(**common)
        self.decoder = _HourglassDecoder(**common, final_conv=final_conv)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class ResBottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 stride s -> 1x1, BN after each), used by the HEEstimator.

    With ``stride != 1`` the shortcut is ``norm4(skip(x))`` (1x1 conv, stride s).
    """

    def __init__(self, in_features: int, *, stride: int) -> None:
        super().__init__()
        mid = in_features // 4
        self.conv1 = nn.Conv2d(in_features, mid, kernel_size=1)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(mid, in_features, kernel_size=1)
        self.norm1 = nn.BatchNorm2d(mid)
        self.norm2 = nn.BatchNorm2d(mid)
        self.norm3 = nn.BatchNorm2d(in_features)
        self.stride = stride
        if stride != 1:
            self.skip = nn.Conv2d(in_features, in_features, kernel_size=1, stride=stride)
            self.norm4 = nn.BatchNorm2d(in_features)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm1(self.conv1(x)))  # (B, C/4, H, W)
        out = F.relu(self.norm2(self.conv2(out)))  # (B, C/4, H/s, W/s)
        out = self.norm3(self.conv3(out))  # (B, C, H/s, W/s)
        shortcut = self.norm4(self.skip(x)) if self.stride != 1 else x
        return F.relu(out + shortcut)


class SpectralNormConv2d(nn.Module):
    """Conv2d with a spectrally normalised weight ``W = W_orig / sigma`` (Miyato et al. 2018).

    Holds the legacy ``torch.nn.utils.spectral_norm`` state-dict entries: ``bias`` (if any),
    ``weight_orig``, and buffers ``weight_u`` ``(out,)``, ``weight_v`` ``(in*k*k,)``.
    ``sigma = u . (W_orig.reshape(out, -1) @ v)`` uses the **stored** u and v, which is what the
    legacy hook computes in eval mode. There is no power iteration: LiveHead never trains, and an
    SVD would not reproduce the checkpoints' outputs (their u, v are not converged).
    For export, :meth:`to_conv2d` / :func:`fold_spectral_norm` bake ``W`` into a plain conv.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, padding: int = 0, bias: bool = True
    ) -> None:
        super().__init__()
        # bias before weight_orig: the legacy hook re-registers the weight last, so this is the
        # checkpoints' key order.
        if bias:
            bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
            self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)
        weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        self.weight_orig = nn.Parameter(weight)
        fan_in = in_channels * kernel_size * kernel_size
        self.register_buffer("weight_u", F.normalize(torch.randn(out_channels), dim=0, eps=1e-12))
        self.register_buffer("weight_v", F.normalize(torch.randn(fan_in), dim=0, eps=1e-12))
        self.padding = padding

    def weight(self) -> Tensor:
        """The effective weight ``W_orig / sigma``, ``(out, in, k, k)``."""
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)  # (B, out, H, W)

    def to_conv2d(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` with the folded weight (same outputs, no sigma at run time)."""
        w = self.weight_orig
        conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=self.padding, bias=self.bias is not None,
                         device=w.device, dtype=w.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.weight())
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv


def fold_spectral_norm(module: nn.Module) -> nn.Module:
    """Replace every :class:`SpectralNormConv2d` inside ``module`` by its folded ``nn.Conv2d``.

    Modifies ``module`` in place and returns it. The result computes the same outputs but its state
    dict has ``weight`` instead of ``weight_orig/_u/_v``, so it no longer loads the original
    checkpoints: fold after loading, for export.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, SpectralNormConv2d):
            setattr(module, name, child.to_conv2d())
        else:
            fold_spectral_norm(child)
    return module


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019): ``IN(x) * (1 + gamma(seg)) + beta(seg)``.

    ``mlp_shared.0`` (label_nc -> 128, 3x3) + ReLU, then ``mlp_gamma`` / ``mlp_beta`` (128 -> norm_nc).
    The instance norm has no affine parameters and no running statistics.
    """

    def __init__(self, norm_nc: int, label_nc: int, *, hidden: int = 128) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: Tensor, segmap: Tensor) -> Tensor:
        normalized = F.instance_norm(x, eps=1e-5)  # (B, C, H, W)
        seg = F.interpolate(segmap, size=x.shape[2:], mode="nearest")  # (B, label_nc, H, W)
        actv = self.mlp_shared(seg)  # (B, 128, H, W)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """SPADE residual block with spectral-normed convs (``norm_G='spadespectralinstance'``).

    ``out = shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x, seg))), seg)))``, LeakyReLU 0.2;
    the shortcut is ``conv_s(norm_s(x, seg))`` (1x1, no bias) when ``fin != fout``.
    """

    def __init__(self, fin: int, fout: int, label_nc: int) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = SpectralNormConv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = SpectralNormConv2d(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = SpectralNormConv2d(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, label_nc)
        self.norm_1 = SPADE(fmiddle, label_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x  # (B, fout, H, W)
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))  # (B, fmiddle, H, W)
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))  # (B, fout, H, W)
        return x_s + dx


def encode_appearance(encoder: nn.Module, image: Tensor) -> Tensor:
    """The appearance feature volume f_s of face-vid2vid's generator and LivePortrait's F.

    ``encoder`` has ``first`` (:class:`SameBlock2d`), ``down_blocks``, ``second`` (1x1 conv to
    ``reshape_channel * reshape_depth`` channels), ``resblocks_3d`` and the ints
    ``reshape_channel`` / ``reshape_depth``: the two models share this network, layer for layer.

    ``(B, C, H, W)`` -> ``(B, reshape_channel, reshape_depth, H / 2**n, W / 2**n)``; channel
    ``c * reshape_depth + d`` of ``second`` becomes ``(c, d)`` of the volume.
    """
    out = encoder.first(image)  # (B, block_expansion, H, W)
    for block in encoder.down_blocks:
        out = block(out)  # (B, ·, H/2^i, W/2^i)
    out = encoder.second(out)  # (B, reshape_channel * reshape_depth, h, w)
    b, _, h, w = out.shape
    volume = out.reshape(b, encoder.reshape_channel, encoder.reshape_depth, h, w)
    return encoder.resblocks_3d(volume)  # (B, reshape_channel, reshape_depth, h, w)
