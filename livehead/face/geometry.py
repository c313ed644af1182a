"""Pure geometry on landmark arrays: similarity fits and rotation conventions.

Convention (everywhere in LiveHead): image axes, x right, y down, z away from the camera.
``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``, angles in degrees at the API, where positive yaw turns
the nose towards image +x, positive pitch turns it towards image +y (chin down) and positive
roll turns the face clockwise on screen. Point sets are row vectors: ``p' = s * p @ R.T + t``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "euler_from_rotation",
    "rotation_from_euler",
    "smoothstep",
    "umeyama",
]


def smoothstep(x):
    """0 below 0, 1 above 1 and 3x² − 2x³ between (float or array): a ramp with flat ends, for weights
    that fade in or out without a visible edge."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation from degrees; see the module docstring for axes and signs."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    cy, sy, cp, sp, cr, sr = math.cos(y), math.sin(y), math.cos(p), math.sin(p), math.cos(r), math.sin(r)
    ry = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return ry @ rx @ rz


def euler_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of ``rotation_from_euler``: (yaw, pitch, roll) degrees.

    Warning: near pitch = ±90° yaw and roll are not separable (gimbal lock); faces never get there.
    """
    r = np.asarray(rotation, dtype=np.float64)
    pitch = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    roll = math.atan2(r[1, 0], r[1, 1])
    yaw = math.atan2(-r[0, 2], r[2, 2])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def umeyama(src: np.ndarray, dst: np.ndarray, *, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity from ``src`` to ``dst`` (Umeyama 1991).

    Args:
        src, dst: (N, D) corresponding points, N ≥ D.

    Returns:
        (scale, rotation (D, D) with det +1, translation (D,)) minimising
        ``|| dst - (scale * src @ rotation.T + translation) ||²``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2:
        raise ValueError(f"umeyama needs two (N, D) arrays of equal shape, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    var_s = (xs**2).sum() / len(src)
    scale = float((sig * d).sum() / var_s) if with_scale and var_s > 0 else 1.0
    translation = mu_d - scale * mu_s @ rotation.T
    return scale, rotation, translation
