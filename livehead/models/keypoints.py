"""Keypoint math for FOMM and face-vid2vid: pure, batched torch functions.

Keypoint dicts ("kp dicts") are the currency between the networks, as in the original code:
``{'value': (B, K, D), 'jacobian': (B, K, D, D) or None or absent}`` with ``D = 2`` (FOMM) or
``D = 3`` (face-vid2vid). Functions here never modify a dict or tensor they are given.

Convention:
    * Coordinates are normalised to [-1, 1], stored in ``(x, y[, z])`` order: x along the width,
      y along the height, z along the depth of the feature volume. -1 and +1 are the centres of the
      first and last samples (``(n - 1)`` denominator), whatever ``align_corners`` grid_sample uses.
    * Head-pose angles are in **degrees**; face-vid2vid converts them to radians with **3.14**,
      not pi, and its networks were trained with that constant, so it is kept.
    * Rotations act on column vectors: ``kp_rotated = R @ kp``.

Functions that run on every frame (everything except :func:`convex_hull_volume` and
:func:`movement_scale`) use no ``torch.inverse``, no data-dependent Python branches and no in-place
updates, so they trace into ONNX graphs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "KpDict",
    "convex_hull_volume",
    "get_rotation_matrix",
    "headpose_pred_to_degree",
    "heatmap_to_keypoints",
    "inverse_2x2",
    "inverse_3x3",
    "keypoint_transformation",
    "kp2gaussian",
    "make_coordinate_grid",
    "movement_scale",
    "normalize_kp",
    "rotation_from_headpose",
]

KpDict = Mapping[str, Tensor | None]

# face-vid2vid's pose heads: 66 bins of 3 degrees starting at -99 (Ruiz et al.'s HopeNet layout).
_POSE_BIN_DEGREES = 3.0
_POSE_OFFSET_DEGREES = 99.0
# face-vid2vid's degrees -> radians factor uses 3.14 (demo.py); the trained model expects it.
_FV2V_PI = 3.14


def make_coordinate_grid(
    spatial_size: Sequence[int], *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """Grid of normalised sample coordinates.

    Args:
        spatial_size: ``(h, w)`` or ``(d, h, w)``.

    Returns:
        ``(h, w, 2)`` or ``(d, h, w, 3)``; the last dim is ``(x, y[, z])``.

    Convention: ``x_i = 2 * (i / (w - 1)) - 1`` (same order of operations as the reference, so the
    grid is bitwise identical), so -1/+1 are the centres of the first/last samples.
    """
    if len(spatial_size) not in (2, 3):
        raise ValueError(f"spatial_size must be (h, w) or (d, h, w); got {tuple(spatial_size)}")
    axes = []
    # Reversed: the last spatial dim (w) gives the first coordinate (x).
    for n in reversed(tuple(spatial_size)):
        a = torch.arange(n, device=device).to(dtype)
        axes.append(2 * (a / (n - 1)) - 1)
    # meshgrid with 'ij' indexing over (…, y, x) then stack (x, y[, z]).
    mesh = torch.meshgrid(*reversed(axes), indexing="ij")  # each (h, w) or (d, h, w)
    return torch.stack(tuple(reversed(mesh)), dim=-1)


def kp2gaussian(value: Tensor, spatial_size: Sequence[int], kp_variance: float) -> Tensor:
    """Isotropic Gaussian blob around each keypoint (FOMM Eq. 6 heatmaps).

    Args:
        value: ``(B, K, D)`` keypoints, D = len(spatial_size).
        spatial_size: ``(h, w)`` or ``(d, h, w)``.
        kp_variance: variance in normalised units (0.01 in both models).

    Returns:
        ``(B, K, *spatial_size)``: ``exp(-0.5 * |grid - kp|^2 / kp_variance)``.
    """
    grid = make_coordinate_grid(spatial_size, dtype=value.dtype, device=value.device)
    dims = grid.shape[-1]
    b, k = value.shape[0], value.shape[1]
    mean = value.reshape(b, k, *([1] * dims), dims)  # (B, K, 1.., D)
    diff = grid - mean  # (B, K, *spatial, D)
    return torch.exp(-0.5 * (diff**2).sum(-1) / kp_variance)


def heatmap_to_keypoints(heatmap: Tensor) -> Tensor:
    """Expected coordinate under each (already softmax-normalised) heatmap.

    Args:
        heatmap: ``(B, K, h, w)`` or ``(B, K, d, h, w)``, each map sums to 1.

    Returns:
        ``(B, K, 2)`` or ``(B, K, 3)`` in ``(x, y[, z])`` order, normalised coordinates.
    """
    spatial = heatmap.shape[2:]
    grid = make_coordinate_grid(spatial, dtype=heatmap.dtype, device=heatmap.device)  # (*spatial, D)
    return (heatmap.unsqueeze(-1) * grid).sum(dim=tuple(range(2, 2 + len(spatial))))


def spatial_softmax(logits: Tensor, temperature: float) -> Tensor:
    """Softmax of ``logits / temperature`` over all spatial positions of each map.

    ``(B, K, *spatial)`` in, same shape out; each of the K maps sums to 1 (the heatmaps of Eq. 2).
    """
    b, k = logits.shape[:2]
    return F.softmax(logits.reshape(b, k, -1) / temperature, dim=2).reshape(logits.shape)


def heatmap_jacobian(heatmap: Tensor, jacobian_map: Tensor) -> Tensor:
    """Heatmap-weighted Jacobians: ``(B, K, *spatial)`` weights times ``(B, K or 1, D·D, *spatial)``
    maps, summed over space -> ``(B, K, D, D)`` (row-major ``[[j0, j1], [j2, j3]]`` for D = 2)."""
    b, k = heatmap.shape[:2]
    entries = jacobian_map.shape[2]
    d = int(round(entries**0.5))
    jacobian = (heatmap.unsqueeze(2) * jacobian_map).reshape(b, k, entries, -1).sum(dim=-1)  # (B, K, D·D)
    return jacobian.reshape(b, k, d, d)


def inverse_2x2(m: Tensor) -> Tensor:
    """Closed-form inverse of ``(..., 2, 2)`` matrices.

    Why not ``torch.inverse``: TensorRT has no matrix inverse (NVIDIA/TensorRT#1484), and the
    closed form matches it within 1.2e-7 on the FOMM fixture Jacobians. Singular input gives inf/nan
    (the caller's Jacobians are near identity in practice).
    """
    a, b = m[..., 0, 0], m[..., 0, 1]
    c, d = m[..., 1, 0], m[..., 1, 1]
    det = a * d - b * c
    return torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[..., None, None]


def inverse_3x3(m: Tensor) -> Tensor:
    """Closed-form inverse (adjugate / determinant) of ``(..., 3, 3)`` matrices, for export (see
    :func:`inverse_2x2`)."""
    r0, r1, r2 = m[..., 0, :], m[..., 1, :], m[..., 2, :]
    # Rows of the inverse's transpose are cross products of the other two rows.
    c0 = torch.linalg.cross(r1, r2, dim=-1)
    c1 = torch.linalg.cross(r2, r0, dim=-1)
    c2 = torch.linalg.cross(r0, r1, dim=-1)
    det = (r0 * c0).sum(-1)
    adj_t = torch.stack([c0, c1, c2], dim=-2)  # (..., 3, 3), cofactor matrix
    return adj_t.transpose(-1, -2) / det[..., None, None]


def convex_hull_volume(points: Tensor | np.ndarray) -> float:
    """Area (2D) or volume (3D) of the convex hull of ``(N, D)`` points, in float64.

    Runs scipy's Qhull on the CPU (not traceable; call it once per avatar/calibration, not per frame).

    Raises:
        ValueError: the points are degenerate (all on a line / plane), so the hull has no area.
    """
    from scipy.spatial import ConvexHull, QhullError

    if isinstance(points, Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"points must be (N, 2) or (N, 3); got {points.shape}")
    try:
        return float(ConvexHull(points).volume)
    except QhullError as err:
        raise ValueError(
            f"keypoints are degenerate ({points.shape[0]} points in {points.shape[1]}D span no area/volume), "
            "so the movement scale is undefined; use a calibration frame with a visible face or turn adapt "
            f"scale off. Qhull said: {str(err).splitlines()[0]}"
        ) from err


def movement_scale(kp_source_value: Tensor, kp_driving_initial_value: Tensor) -> float:
    """``sqrt(hull(kp_source)) / sqrt(hull(kp_driving_initial))`` from batch element 0, as the
    reference ``normalize_kp`` does.

    Args:
        kp_source_value, kp_driving_initial_value: ``(B, K, D)``; only element 0 is used.

    Returns:
        The scale as a Python float (float64). D = 2 gives FOMM's area ratio, D = 3 face-vid2vid's
        volume ratio (the reference uses the same code on 3D points, so ``.volume`` is a volume).
    """
    source = convex_hull_volume(kp_source_value[0])
    driving = convex_hull_volume(kp_driving_initial_value[0])
    return float(np.sqrt(source) / np.sqrt(driving))



def normalize_kp(
    kp_source: KpDict,
    kp_driving: KpDict,
    kp_driving_initial: KpDict,
    *,
    adapt_movement_scale: bool = False,
    use_relative_movement: bool = False,
    use_relative_jacobian: bool = False,
    scale: float | Tensor | None = None,
) -> dict[str, Tensor | None]:
    """Driving keypoints re-expressed relative to the source (FOMM Sec. 3.4, ``animate.py``).

    Used by both FOMM (2D, Jacobians) and face-vid2vid (3D, Jacobians usually off).

    Args:
        kp_source, kp_driving, kp_driving_initial: kp dicts, ``value`` ``(B, K, D)``, ``jacobian``
            ``(B, K, D, D)`` when ``use_relative_jacobian``.
        adapt_movement_scale: scale the motion by :func:`movement_scale` (hull of the source
            keypoints over hull of the initial driving keypoints).
        use_relative_movement: ``value = kp_source + scale * (kp_driving - kp_driving_initial)``;
            when False the driving dict is returned (as a new dict) unchanged ("absolute" mode).
        use_relative_jacobian: ``J = (J_driving @ inv(J_driving_initial)) @ J_source`` with a
            closed-form inverse (export-friendly); only with relative movement, as in the reference.
        scale: a precomputed movement scale (from :func:`movement_scale`, once per calibration)
            used instead of recomputing the hulls every frame; implies adapt.

    Returns:
        A new kp dict with the keys of ``kp_driving``. Inputs are not modified.
    """
    if scale is None:
        scale = movement_scale(kp_source["value"], kp_driving_initial["value"]) if adapt_movement_scale else 1.0
    kp_new = dict(kp_driving)
    if use_relative_movement:
        diff = (kp_driving["value"] - kp_driving_initial["value"]) * scale  # (B, K, D)
        kp_new["value"] = diff + kp_source["value"]
        if use_relative_jacobian:
            j_d, j_d0, j_s = kp_driving["jacobian"], kp_driving_initial["jacobian"], kp_source["jacobian"]
            if j_d is None or j_d0 is None or j_s is None:
                raise ValueError("use_relative_jacobian needs 'jacobian' in all three kp dicts; got None")
            inv = inverse_2x2(j_d0) if j_d0.shape[-1] == 2 else inverse_3x3(j_d0)
            kp_new["jacobian"] = torch.matmul(torch.matmul(j_d, inv), j_s)  # (B, K, D, D)
    return kp_new


def headpose_pred_to_degree(logits: Tensor) -> Tensor:
    """face-vid2vid pose bins to an angle: ``sum(softmax(logits) * bin) * 3 - 99``.

    Args:
        logits: ``(B, 66)`` raw head-pose logits from one HEEstimator head.

    Returns:
        ``(B,)`` degrees in [-99, 96].
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be (B, num_bins); got {tuple(logits.shape)}")
    prob = F.softmax(logits, dim=1)
    bins = torch.arange(logits.shape[1], device=logits.device).to(logits.dtype)  # (66,)
    return torch.sum(prob * bins, dim=1) * _POSE_BIN_DEGREES - _POSE_OFFSET_DEGREES


def get_rotation_matrix(yaw: Tensor, pitch: Tensor, roll: Tensor) -> Tensor:
    """face-vid2vid head rotation ``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)``.

    Args:
        yaw, pitch, roll: ``(B,)`` degrees (integer tensors are promoted to float32, like the demo's
            free-view ints).

    Returns:
        ``(B, 3, 3)``, applied to column vectors.

    Convention: degrees -> radians with 3.14 (not pi), as the model was trained. ``Rx`` has
    ``[[1,0,0],[0,c,-s],[0,s,c]]``, ``Ry`` ``[[c,0,s],[0,1,0],[-s,0,c]]``, ``Rz`` ``[[c,-s,0],[s,c,0],[0,0,1]]``.
    """
    yaw = yaw / 180 * _FV2V_PI
    pitch = pitch / 180 * _FV2V_PI
    roll = roll / 180 * _FV2V_PI
    one, zero = torch.ones_like(pitch), torch.zeros_like(pitch)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cr, sr = torch.cos(roll), torch.sin(roll)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return torch.matmul(torch.matmul(rx, ry), rz)


def _angle(override: float | Tensor | None, logits: Tensor, like: Tensor) -> Tensor:
    """Predicted angle ``(B,)`` from logits, or the free-view override broadcast to ``(B,)``."""
    if override is None:
        return headpose_pred_to_degree(logits)
    # Cast to the keypoints' dtype: exact for the demo's int angles, and a float64 angle must not
    # promote the rotation (then the matmul with float32 keypoints would fail).
    angle = torch.as_tensor(override, device=like.device).to(like.dtype)
    return angle.reshape(-1).expand(like.shape[0])


def rotation_from_headpose(
    he: Mapping[str, Tensor],
    *,
    yaw: float | Tensor | None = None,
    pitch: float | Tensor | None = None,
    roll: float | Tensor | None = None,
) -> Tensor:
    """Head rotation ``(B, 3, 3)`` from HEEstimator logits, with optional free-view overrides
    (degrees; a given angle replaces the predicted one)."""
    ref = he["t"]
    return get_rotation_matrix(
        _angle(yaw, he["yaw"], ref), _angle(pitch, he["pitch"], ref), _angle(roll, he["roll"], ref)
    )


def keypoint_transformation(
    kp_canonical: KpDict,
    he: Mapping[str, Tensor],
    *,
    yaw: float | Tensor | None = None,
    pitch: float | Tensor | None = None,
    roll: float | Tensor | None = None,
) -> dict[str, Tensor | None]:
    """face-vid2vid Eq. 1: ``kp = R @ kp_canonical + t + delta`` (delta = expression deformation).

    Args:
        kp_canonical: ``{'value': (B, K, 3)[, 'jacobian': (B, K, 3, 3)]}`` from the KPDetector.
        he: HEEstimator output: ``'yaw', 'pitch', 'roll'`` ``(B, num_bins)`` logits under the
            names the reference returns (see :class:`livehead.models.fv2v.HEEstimator`), ``'t'``
            ``(B, 3)``, ``'exp'`` ``(B, 3K)``.
        yaw, pitch, roll: free-view override in degrees (Python number, ``(1,)`` or ``(B,)``
            tensor); ``None`` keeps the predicted angle. Matches the demo's ``--free_view``.

    Returns:
        ``{'value': (B, K, 3), 'jacobian': (B, K, 3, 3) or None}`` (``R @ J`` when given).
        Unlike the reference (``t.unsqueeze_``), the caller's ``he`` is left untouched.
    """
    kp = kp_canonical["value"]
    rot = rotation_from_headpose(he, yaw=yaw, pitch=pitch, roll=roll)  # (B, 3, 3)
    b, k = kp.shape[0], kp.shape[1]
    kp_rotated = torch.matmul(kp, rot.transpose(1, 2))  # (B, K, 3) = (R @ kp^T)^T
    kp_t = kp_rotated + he["t"].reshape(b, 1, 3)  # t broadcast over the K keypoints
    kp_transformed = kp_t + he["exp"].reshape(b, k, 3)
    jacobian = kp_canonical.get("jacobian")
    jacobian_transformed = None if jacobian is None else torch.matmul(rot.unsqueeze(1), jacobian)
    return {"value": kp_transformed, "jacobian": jacobian_transformed}
