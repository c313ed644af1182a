"""One Euro filters whose state lives in tensors on the engine's device (the GPU frame path).

The arithmetic is :func:`livehead.stages.smoothing.one_euro_update`, the same as the NumPy filter's;
what differs is the bookkeeping. The NumPy filter decides on the host, per call, whether a sample is
the first one (it passes unchanged) or repeats a timestamp (the previous output is returned). A
captured CUDA graph cannot branch on the host, so those decisions arrive as tensors of a
:class:`FilterClock` and pick the result with ``torch.where``, and the state is updated in place,
so the same buffers serve every replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from livehead.config import SmoothingConfig
from livehead.stages.smoothing import one_euro_update

__all__ = ["CLOCK_FIELDS", "FilterClock", "HostClock", "TensorOneEuro"]

CLOCK_FIELDS = 3  # dt, reset, hold: how many scalars a clock takes from the per-frame upload
_FIRST_DT = 1.0 / 30.0  # any dt > 0 will do where the result is discarded (reset, hold)


@dataclass(frozen=True)
class FilterClock:
    """The timing of one sample for every filter of a frame, as device tensors.

    ``dt`` () float32, seconds since the previous sample, always > 0; ``reset`` () bool, the first
    sample after a calibration (it passes unchanged); ``hold`` () bool, a repeated or older
    timestamp (the previous output is kept, as :func:`~livehead.stages.smoothing.one_euro_step` does).
    """

    dt: Tensor
    reset: Tensor
    hold: Tensor

    @classmethod
    def from_scalars(cls, values: Tensor) -> FilterClock:
        """From ``(3,)`` float ``[dt, reset, hold]`` (what :meth:`HostClock.tick` returns, uploaded)."""
        return cls(values[0], values[1] > 0.5, values[2] > 0.5)


class HostClock:
    """The host side of :class:`FilterClock`: turns capture timestamps into ``[dt, reset, hold]``."""

    def __init__(self) -> None:
        self.last: float | None = None

    def reset(self) -> None:
        """The next sample starts the filters afresh (calibration)."""
        self.last = None

    def tick(self, t: float) -> tuple[float, float, float]:
        if self.last is None:
            self.last = t
            return _FIRST_DT, 1.0, 0.0
        dt = t - self.last
        if dt <= 0.0:
            return _FIRST_DT, 0.0, 1.0
        self.last = t
        return dt, 0.0, 0.0


class TensorOneEuro:
    """One filtered quantity (any shape) whose state is two float32 tensors like ``like``."""

    def __init__(self, like: Tensor) -> None:
        self.value = torch.zeros_like(like, dtype=torch.float32)
        self.derivative = torch.zeros_like(self.value)

    def buffers(self) -> list[Tensor]:
        """The state a captured graph updates in place (saved and restored around its warm-up)."""
        return [self.value, self.derivative]

    def step(self, value: Tensor, clock: FilterClock, params: SmoothingConfig, scale: Tensor | float = 1.0) -> Tensor:
        """Filter one sample (``value``'s shape, float32); ``scale`` is the face size in ``value``'s units."""
        value = value.float()
        if isinstance(scale, Tensor):
            scale = scale.clamp_min(1e-9)
        filtered, derivative = one_euro_update(value, self.value, self.derivative, clock.dt, params, scale)
        out = torch.where(clock.reset, value, torch.where(clock.hold, self.value, filtered))
        new_derivative = torch.where(clock.reset, torch.zeros_like(derivative),
                                     torch.where(clock.hold, self.derivative, derivative))
        self.value.copy_(out)
        self.derivative.copy_(new_derivative)
        return out
