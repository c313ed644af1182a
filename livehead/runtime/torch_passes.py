"""Rewrites of graph modules for the torch runners (same outputs, other kernels or precision).

``keep_fp32`` makes submodules compute in fp32 inside an fp16 (autocast) graph: the "fp32 islands"
a graph declares (``GraphSpec.fp32_modules``), where fp16 rounding would show in the picture.

``conv3d_as_conv2d`` replaces each stride-1 ``nn.Conv3d`` with :class:`Conv3dAsConv2d`: the depth
taps are stacked on the channel axis and one 2D convolution runs over every depth slice.

Why: face-vid2vid's generator is mostly 3D convolutions on 16×64×64 volumes (its mask head is a
7×7×7 convolution with 112 input channels). PyTorch 2.9 and later do not give half-precision 3D
convolutions with kernels larger than 1 to cuDNN versions 9.8–9.14 (a cuDNN bug) and fall back to
``vol2col``, an im2col whose buffer is kd·kh·kw times the input: about 5 GB for that one layer in
fp16, and slow. A 2D convolution goes to cuDNN on every version, with its tuned kernels and small
workspaces; the stacked input costs kd times the (small) volume, 103 MB for the mask head in fp16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Conv3dAsConv2d", "conv3d_as_conv2d", "keep_fp32"]


def _to_fp32(value):
    """Floating tensors in ``value`` (nested dicts, lists, tuples) as float32; the rest unchanged."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return {k: _to_fp32(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fp32(v) for v in value)
    return value


def _fp32_method(method):
    def run(*args, **kwargs):
        # autocast off: every op inside runs in the dtype of its (float32) inputs and weights
        with torch.autocast("cuda", enabled=False), torch.autocast("cpu", enabled=False):
            return method(*_to_fp32(args), **_to_fp32(kwargs))

    run.__name__ = getattr(method, "__name__", "forward")
    run.__wrapped__ = method
    return run


def keep_fp32(module: nn.Module, paths: tuple[str, ...]) -> set[int]:
    """Make the submodules at ``paths`` (relative to ``module``) compute in fp32 under autocast.

    Every ``forward*`` method of each (the ones a parent calls, e.g. FOMM's ``forward_downsampled``)
    is wrapped on the instance: autocast off, tensor arguments cast to float32. Returns the ids of
    every module inside the islands, whose weights must not be halved.
    """
    kept: set[int] = set()
    for path in paths:
        island = module.get_submodule(path)
        kept |= {id(m) for m in island.modules()}
        for name in dir(type(island)):
            if name.startswith("forward") and callable(getattr(type(island), name)):
                current = getattr(island, name)
                if not hasattr(current, "__wrapped__"):
                    object.__setattr__(island, name, _fp32_method(current))
    return kept


class Conv3dAsConv2d(nn.Module):
    """A stride-1, ungrouped ``nn.Conv3d`` computed as one ``conv2d`` over the depth slices.

    ``(B, C, D, H, W)`` → ``(B, O, D, H, W)`` like the convolution it was made from (the output is a
    ``(B, D, O, H, W)`` buffer seen through a transpose). Weights are copied, so the original keeps
    working; summation order differs, so results agree to float rounding.

    Convention: the stacked channel ``t * C + c`` holds input channel ``c`` at depth offset ``t``, so
    the 2D weight is ``W.permute(0, 2, 1, 3, 4).reshape(O, kd * C, kh, kw)``.
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        if conv.stride != (1, 1, 1) or conv.dilation != (1, 1, 1) or conv.groups != 1 or \
                conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"only stride-1, ungrouped, zero-padded Conv3d can be rewritten; got {conv}")
        out_ch, in_ch, kd, kh, kw = conv.weight.shape
        self.depth_taps = kd
        self.depth_pad, self.padding = conv.padding[0], tuple(conv.padding[1:])
        weight = conv.weight.detach().permute(0, 2, 1, 3, 4).reshape(out_ch, kd * in_ch, kh, kw)
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        b, c, d, h, w = x.shape
        slices = x.transpose(1, 2)  # (B, D, C, H, W)
        if self.depth_pad:
            slices = F.pad(slices, (0, 0, 0, 0, 0, 0, self.depth_pad, self.depth_pad))
        out_d = slices.shape[1] - self.depth_taps + 1
        stacked = torch.stack([slices[:, t:t + out_d] for t in range(self.depth_taps)], dim=2)  # (B, D', kd, C, H, W)
        y = F.conv2d(stacked.reshape(b * out_d, self.depth_taps * c, h, w), self.weight, self.bias,
                     padding=self.padding)  # (B·D', O, H', W')
        return y.reshape(b, out_d, y.shape[1], y.shape[2], y.shape[3]).transpose(1, 2)


def conv3d_as_conv2d(module: nn.Module) -> int:
    """Replace every rewritable ``nn.Conv3d`` inside ``module`` in place; returns how many."""
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv3d) and child.stride == (1, 1, 1) and child.groups == 1 and \
                    child.dilation == (1, 1, 1) and child.padding_mode == "zeros" and not isinstance(child.padding, str):
                replacement = Conv3dAsConv2d(child).to(child.weight.device)
                replacement.train(child.training)
                setattr(parent, name, replacement)
                count += 1
    return count
