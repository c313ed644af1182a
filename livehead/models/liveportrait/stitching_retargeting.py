"""LivePortrait's stitching and retargeting MLPs S (paper Sec. 3.2).

* stitching: ``[x_s, x_d]`` (2 * 3K) -> 3K expression offsets + (tx, ty), so the animated crop
  pastes back into the photo without shoulder/neck misalignment;
* eye retargeting: ``[x_s, c_s_left, c_s_right, c_d_eye]`` (3K + 3) -> 3K offsets that set the eye opening;
* lip retargeting: ``[x_s, c_s_lip, c_d_lip]`` (3K + 2) -> 3K offsets that set the lip opening.

Keyed like ``src/modules/stitching_retargeting_network.py`` of KwaiVGI/LivePortrait: Linear layers at
the even indices of ``mlp`` (``mlp.0``, ``mlp.2`` …) with ReLU between them. The official file
``stitching_retargeting_module.pth`` holds the three as ``retarget_shoulder`` (stitching),
``retarget_mouth`` (lip) and ``retarget_eye`` (eye); :data:`FILE_ENTRIES` maps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

__all__ = ["FILE_ENTRIES", "StitchingRetargetingModule", "StitchingRetargetingNetwork"]

# sub-dict of the official stitching_retargeting_module.pth -> our child module
FILE_ENTRIES: dict[str, str] = {"retarget_shoulder": "stitching", "retarget_mouth": "lip", "retarget_eye": "eye"}


class StitchingRetargetingNetwork(nn.Module):
    """One MLP: Linear, ReLU, …, Linear. Constructor arguments are the keys of one sub-config.

    Args:
        input_size: 126 (stitching), 65 (lip) or 66 (eye) for K = 21.
        hidden_sizes: widths of the hidden layers.
        output_size: 65 (stitching) or 63.
    """

    def __init__(self, *, input_size: int, hidden_sizes: Sequence[int], output_size: int) -> None:
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes must name at least one hidden layer")
        widths = [input_size, *hidden_sizes]
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], output_size))
        self.mlp = nn.Sequential(*layers)
        self.input_size = input_size
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        """``(B, input_size)`` -> ``(B, output_size)``."""
        return self.mlp(x)


class StitchingRetargetingModule(nn.Module):
    """The three MLPs of one checkpoint file as children ``stitching``, ``lip``, ``eye``.

    Constructor arguments are the keys of ``stitching_retargeting_module_params``; each is a
    :class:`StitchingRetargetingNetwork` sub-config.
    """

    def __init__(self, *, stitching: Mapping[str, Any], lip: Mapping[str, Any], eye: Mapping[str, Any]) -> None:
        super().__init__()
        self.stitching = StitchingRetargetingNetwork(**stitching)
        self.lip = StitchingRetargetingNetwork(**lip)
        self.eye = StitchingRetargetingNetwork(**eye)

