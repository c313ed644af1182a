"""What one method produced on one (avatar, clip): the record ``drive`` fills and ``scoring`` reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livehead.eval.measure import Series

__all__ = ["Run"]


@dataclass
class Run:
    """What one method produced on one (avatar, clip): per-frame numbers and a few kept frames."""

    out: Series = field(default_factory=Series)
    l1: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    change: list[float] = field(default_factory=list)  # mean |Δ| in the face box vs the previous frame
    render_ms: list[float] = field(default_factory=list)
    kept: dict[int, np.ndarray] = field(default_factory=dict)  # frame index -> (H, W, 3) uint8 RGB output
    # frame index -> (478, 3) landmarks of the kept output: as measured, else the engine's target
    kept_landmarks: dict[int, np.ndarray] = field(default_factory=dict)
