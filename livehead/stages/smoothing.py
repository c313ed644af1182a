"""One Euro filter (Casiez, Roussel & Vogel, CHI 2012), vectorised over any array of coordinates.

Pure functions: the caller holds the ``OneEuroState`` and resets it (e.g. on calibration).

The filter is a first-order low-pass whose cutoff rises with speed:
``cutoff = min_cutoff + beta * |dx|``, so a still head is smoothed hard (no jitter) and a
moving head is smoothed little (no lag). As MediaPipe does, the speed ``dx`` is divided by the
face size, so one ``beta`` works for near and far faces: speed is in face sizes per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livehead.config import SmoothingConfig

__all__ = ["OneEuroState", "one_euro_step", "one_euro_update", "smoothing_alpha"]


@dataclass
class OneEuroState:
    """Previous filtered value, its derivative estimate and the time they belong to."""

    value: np.ndarray
    derivative: np.ndarray
    time: float


def smoothing_alpha(cutoff, dt):
    """Exponential smoothing factor of a first-order low-pass with ``cutoff`` Hz over ``dt`` s.

    Plain arithmetic, so floats, NumPy arrays and torch tensors all work (the GPU frame path
    filters keypoints on the device with the same formula).
    """
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro_update(value, previous, derivative, dt, params: SmoothingConfig, scale=1.0):
    """One filter update without the bookkeeping: ``(filtered, derivative)``.

    ``value``, ``previous`` (the last filtered value) and ``derivative`` are arrays or tensors of one
    shape; ``dt`` > 0 (seconds) and ``scale`` > 0 (face size) are numbers or tensors. Only ``+ - * /``
    and ``abs`` are used, so :func:`one_euro_step` (NumPy, float64) and the tensor filter of the
    neural engines' GPU path (:mod:`livehead.animators.neural.tensor_filters`) share this arithmetic.
    """
    raw_derivative = (value - previous) / (dt * scale)
    a_d = smoothing_alpha(params.d_cutoff, dt)
    derivative = derivative + a_d * (raw_derivative - derivative)
    cutoff = params.min_cutoff + params.beta * abs(derivative)
    a = smoothing_alpha(cutoff, dt)
    return previous + a * (value - previous), derivative


def one_euro_step(
    state: OneEuroState | None,
    value: np.ndarray,
    time: float,
    params: SmoothingConfig,
    *,
    scale: float = 1.0,
) -> tuple[np.ndarray, OneEuroState]:
    """Filter one sample.

    Args:
        state: what the previous call returned, or None to start (the sample passes unchanged).
        value: any shape, float; each element is filtered independently.
        time: the sample's timestamp in seconds (real capture time, not a frame counter).
        params: ``min_cutoff`` and ``d_cutoff`` in Hz; ``beta`` per (face size / s).
        scale: the face size in the units of ``value`` (pixels for landmarks, 1 for angles).

    Returns:
        (filtered value with ``value``'s shape and float64 dtype, new state).

    Convention: a repeated or out-of-order timestamp (dt ≤ 0) returns the previous output
    unchanged, so a duplicated frame never produces an infinite speed.
    """
    value = np.asarray(value, dtype=np.float64)
    if state is None or state.value.shape != value.shape:
        return value.copy(), OneEuroState(value.copy(), np.zeros_like(value), time)
    dt = time - state.time
    if dt <= 0.0:
        return state.value.copy(), state
    filtered, derivative = one_euro_update(value, state.value, state.derivative, dt, params, max(scale, 1e-9))
    return filtered, OneEuroState(filtered, derivative, time)
