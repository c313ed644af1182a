"""LivePortrait's keypoint math (paper Eq. 2 and Sec. 3.2): pure, batched torch functions.

Pipeline of one frame (relative motion, the original CLI's defaults)::

    info_s, info_d, info_d0 = refine_motion(M(source)), refine_motion(M(frame)), refine_motion(M(frame_0))
    x_s = transform_keypoint(info_s)                           # Eq. 2 for the source
    motion = relative_motion(info_s, info_d, info_d0)          # R_new, delta_new, scale_new, t_new, x_d_new
    x_d = stitch(S.stitching, x_s, motion.x_d_new)             # stitching on
    image = G(W(f_s, kp_driving=x_d, kp_source=x_s)["out"])

Convention (each one is a trap in the reference code; see ../shared/reference/README.md section 5):
    * Angles are **degrees**; a pose head's 66 bin logits decode to ``sum(softmax * bin) * 3 - 97.5``
      (face-vid2vid uses - 99), and degrees become radians with **pi** (face-vid2vid: 3.14).
    * :func:`get_rotation_matrix` returns ``(Rz(roll) @ Ry(yaw) @ Rx(pitch))^T`` and keypoints are
      **row vectors**: ``kp @ R``.
    * Eq. 2 is ``x = s * (x_c @ R + delta) + t`` with ``t`` applied to **x and y only** (t_z unused).
    * Keypoints are ``(B, K, 3)`` in ``(x, y, z)`` order; eye/lip ratios are opening / width.

Nothing here modifies its inputs (the reference zeroes ``t_new[..., 2]`` in place; here that is a new
tensor), and the per-frame functions have no data-dependent branches, so they trace into graphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from livehead.models.keypoints import movement_scale

__all__ = [
    "EYE_KEYPOINTS",
    "LIP_KEYPOINTS",
    "LIP_NORMALIZE_THRESHOLD",
    "KeypointInfo",
    "RelativeMotion",
    "apply_multiplier",
    "degrees_from_bins",
    "eye_ratio_input",
    "expression_friendly",
    "get_rotation_matrix",
    "lip_ratio_input",
    "motion_multiplier",
    "refine_motion",
    "relative_motion",
    "retarget",
    "stitch",
    "transform_keypoint",
]

_BIN_DEGREES = 3.0
_OFFSET_DEGREES = 97.5  # LivePortrait's 66 bins are centred on 0 (face-vid2vid's are offset by 99)
# Keypoints whose expression the reference's ``animation_region`` "eyes" / "lip" modes move
# (live_portrait_pipeline.py): the eyes' and the lips' share of the 21 implicit keypoints.
EYE_KEYPOINTS: tuple[int, ...] = (11, 13, 15, 16, 18)
LIP_KEYPOINTS: tuple[int, ...] = (6, 12, 14, 17, 19, 20)
# ``flag_normalize_lip`` closes the source's lips only when they are at least this open (InferenceConfig).
LIP_NORMALIZE_THRESHOLD = 0.03

MLP = Callable[[Tensor], Tensor]


def degrees_from_bins(logits: Tensor) -> Tensor:
    """Pose-bin logits ``(B, num_bins)`` -> degrees ``(B,)``: ``sum(softmax * bin_index) * 3 - 97.5``.

    Unlike the reference's ``headpose_pred_to_degree``, which returns any other shape unchanged,
    this checks its input: a ``(B, 1)`` degree tensor here is a caller's bug.
    """
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (B, num_bins) bin logits; got {tuple(logits.shape)}")
    prob = F.softmax(logits, dim=1)
    bins = torch.arange(logits.shape[1], device=logits.device).to(logits.dtype)
    return torch.sum(prob * bins, dim=1) * _BIN_DEGREES - _OFFSET_DEGREES


def get_rotation_matrix(pitch: Tensor, yaw: Tensor, roll: Tensor) -> Tensor:
    """Head rotation for row-vector keypoints: ``(Rz(roll) @ Ry(yaw) @ Rx(pitch))^T``.

    Args:
        pitch, yaw, roll: ``(B,)`` or ``(B, 1)`` degrees.

    Returns:
        ``(B, 3, 3)``; rotate keypoints with ``kp @ R``.

    Convention: radians = degrees / 180 * pi. ``Rx = [[1,0,0],[0,c,-s],[0,s,c]]``,
    ``Ry = [[c,0,s],[0,1,0],[-s,0,c]]``, ``Rz = [[c,-s,0],[s,c,0],[0,0,1]]``.
    """
    x = (pitch / 180 * math.pi).reshape(-1, 1)
    y = (yaw / 180 * math.pi).reshape(-1, 1)
    z = (roll / 180 * math.pi).reshape(-1, 1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rot_x = torch.cat([one, zero, zero, zero, torch.cos(x), -torch.sin(x), zero, torch.sin(x), torch.cos(x)], 1)
    rot_y = torch.cat([torch.cos(y), zero, torch.sin(y), zero, one, zero, -torch.sin(y), zero, torch.cos(y)], 1)
    rot_z = torch.cat([torch.cos(z), -torch.sin(z), zero, torch.sin(z), torch.cos(z), zero, zero, zero, one], 1)
    rot = rot_z.reshape(-1, 3, 3) @ rot_y.reshape(-1, 3, 3) @ rot_x.reshape(-1, 3, 3)
    return rot.transpose(1, 2)


@dataclass(frozen=True)
class KeypointInfo:
    """The motion extractor's outputs for one image, decoded (the reference's ``get_kp_info``).

    ``pitch``, ``yaw``, ``roll`` ``(B, 1)`` degrees; ``t`` ``(B, 3)``; ``exp`` (delta) and ``kp``
    (canonical x_c) ``(B, K, 3)``; ``scale`` ``(B, 1)``.
    """

    pitch: Tensor
    yaw: Tensor
    roll: Tensor
    t: Tensor
    exp: Tensor
    scale: Tensor
    kp: Tensor

    @property
    def rotation(self) -> Tensor:
        """R ``(B, 3, 3)`` for row vectors (:func:`get_rotation_matrix`)."""
        return get_rotation_matrix(self.pitch, self.yaw, self.roll)

    @property
    def angles(self) -> Tensor:
        """``(B, 3)`` degrees in (pitch, yaw, roll) order."""
        return torch.cat([self.pitch, self.yaw, self.roll], dim=1)


def refine_motion(raw: Mapping[str, Tensor]) -> KeypointInfo:
    """Decode the motion extractor's raw heads (see :class:`~livehead.models.liveportrait.MotionExtractor`):
    bin logits -> degrees ``(B, 1)``, flat ``kp``/``exp`` ``(B, 3K)`` -> ``(B, K, 3)``. Outputs are float32."""
    b = raw["kp"].shape[0]
    return KeypointInfo(
        pitch=degrees_from_bins(raw["pitch"].float())[:, None],
        yaw=degrees_from_bins(raw["yaw"].float())[:, None],
        roll=degrees_from_bins(raw["roll"].float())[:, None],
        t=raw["t"].float(),
        exp=raw["exp"].float().reshape(b, -1, 3),
        scale=raw["scale"].float(),
        kp=raw["kp"].float().reshape(b, -1, 3),
    )


def _xy(t: Tensor) -> Tensor:
    """``(B, 3)`` translation -> ``(B, 1, 3)`` with z set to 0: LivePortrait never moves keypoints in depth."""
    return torch.cat([t[:, :2], torch.zeros_like(t[:, 2:])], dim=1)[:, None, :]


def transform_keypoint(info: KeypointInfo, rotation: Tensor | None = None) -> Tensor:
    """Eq. 2: ``x = s * (x_c @ R + delta) + (t_x, t_y, 0)``.

    Args:
        info: decoded motion of one image.
        rotation: ``(B, 3, 3)`` to use instead of ``info.rotation``.

    Returns:
        ``(B, K, 3)`` keypoints in W's volume coordinates.
    """
    rot = info.rotation if rotation is None else rotation
    x = (info.kp @ rot + info.exp) * info.scale[:, :, None]  # (B, K, 3)
    return x + _xy(info.t)


@dataclass(frozen=True)
class RelativeMotion:
    """One frame's relative motion (``live_portrait_pipeline.py``, animation region "all").

    ``rotation`` R_new ``(B, 3, 3)``, ``exp`` delta_new ``(B, K, 3)``, ``scale`` ``(B, 1)``,
    ``t`` ``(B, 3)`` with t_z = 0, ``x_d`` x_d_new ``(B, K, 3)``.
    """

    rotation: Tensor
    exp: Tensor
    scale: Tensor
    t: Tensor
    x_d: Tensor


def relative_motion(
    source: KeypointInfo,
    driving: KeypointInfo,
    driving_initial: KeypointInfo,
    *,
    rotation: Tensor | None = None,
    expression_strength: float | Tensor = 1.0,
    source_rotation: Tensor | None = None,
    frozen: Sequence[int] = (),
) -> RelativeMotion:
    """The source moved by the driver's change since ``driving_initial`` (the calibration frame).

    * ``R_new = (R_d @ R_d0^T) @ R_s`` (or ``rotation``, a fixed pose);
    * ``delta_new = delta_s + strength * (delta_d - delta_d0)``;
    * ``s_new = s_s * (s_d / s_d0)``; ``t_new = t_s + (t_d - t_d0)`` with z zeroed;
    * ``x_d = s_new * (x_c,s @ R_new + delta_new) + t_new`` (Eq. 2 with the source's canonical keypoints).

    Args:
        source, driving, driving_initial: decoded motions (:func:`refine_motion`).
        rotation: ``(B, 3, 3)`` head rotation to use instead of the relative one (free view).
        expression_strength: scales the expression change (1 = the reference).
        source_rotation: R_s if already computed (else ``source.rotation``).
        frozen: keypoints whose expression stays the source's (e.g. :data:`EYE_KEYPOINTS` while
            retargeting sets the eyes; the reference's ``animation_region`` moves only such a subset).
    """
    r_s = source.rotation if source_rotation is None else source_rotation
    if rotation is None:
        rotation = (driving.rotation @ driving_initial.rotation.transpose(1, 2)) @ r_s
    exp = source.exp + (driving.exp - driving_initial.exp) * expression_strength
    if frozen:
        keep = torch.zeros(exp.shape[1], 1, dtype=torch.bool, device=exp.device)
        for k in frozen:  # one fill per index: no host index tensor to copy, so a CUDA graph can capture it
            keep[k] = True
        exp = torch.where(keep, source.exp, exp)  # (B, K, 3)
    scale = source.scale * (driving.scale / driving_initial.scale)
    t = source.t + (driving.t - driving_initial.t)
    t = torch.cat([t[:, :2], torch.zeros_like(t[:, 2:])], dim=1)
    x_d = (source.kp @ rotation + exp) * scale[:, :, None] + t[:, None, :]
    return RelativeMotion(rotation, exp, scale, t, x_d)


def motion_multiplier(x_s: Tensor, x_d_initial: Tensor) -> float:
    """``sqrt(hull volume(x_s)) / sqrt(hull volume(x_d_0))`` of batch element 0 (``calc_motion_multiplier``),
    in float64 (scipy Qhull; once per calibration, not per frame).

    For a source image driven in relative mode ``x_d_0`` equals ``x_s`` up to rounding, so this is
    1 +- 1e-8 and the expression-friendly option changes nothing (fixture README 5, caveat 4).
    """
    return movement_scale(x_s, x_d_initial)


def expression_friendly(x_d: Tensor, x_d_initial: Tensor, x_s: Tensor, multiplier: float | Tensor) -> Tensor:
    """``driving_option="expression-friendly"``: ``(x_d - x_d_0) * multiplier + x_s``."""
    return (x_d - x_d_initial) * multiplier + x_s


def _concat(x_s: Tensor, other: Tensor) -> Tensor:
    b = x_s.shape[0]
    return torch.cat([x_s.reshape(b, -1), other.reshape(b, -1)], dim=1)


def stitch(mlp: MLP, x_s: Tensor, x_d: Tensor) -> Tensor:
    """Stitching (``wrapper.stitching``): ``x_d`` plus the MLP's 3K expression offsets and (tx, ty).

    ``delta = mlp([x_s.flatten(), x_d.flatten()])`` ``(B, 3K + 2)``; the first 3K entries move each
    keypoint, the last two shift every keypoint in x and y.

    Returns:
        ``(B, K, 3)``; ``x_d`` is not modified.
    """
    b, k = x_s.shape[:2]
    delta = mlp(_concat(x_s, x_d))  # (B, 3K + 2)
    shift = torch.cat([delta[:, 3 * k:3 * k + 2], torch.zeros_like(delta[:, :1])], dim=1)  # (B, 3): tx, ty, 0
    return (x_d + delta[:, :3 * k].reshape(b, k, 3)) + shift[:, None, :]


def retarget(mlp: MLP, x_s: Tensor, ratio: Tensor) -> Tensor:
    """Eye or lip retargeting (``retarget_eye`` / ``retarget_lip``): offsets ``(B, K, 3)`` that set
    the opening given by ``ratio`` (:func:`eye_ratio_input` ``(B, 3)`` or :func:`lip_ratio_input` ``(B, 2)``)."""
    b, k = x_s.shape[:2]
    return mlp(_concat(x_s, ratio)).reshape(b, k, 3)


def eye_ratio_input(source_eyes: Tensor, driving_eye: Tensor) -> Tensor:
    """The eye MLP's ratio input ``[c_s_left, c_s_right, c_d]`` ``(B, 3)``.

    Args:
        source_eyes: ``(B, 2)`` the source's (left, right) eye-opening ratios.
        driving_eye: ``(B,)`` or ``(B, 1)`` the target opening. The reference passes only the
            driver's **left** eye here (``c_d_eyes_i[0][0]``).
    """
    return torch.cat([source_eyes, driving_eye.reshape(-1, 1).to(source_eyes.dtype)], dim=1)


def lip_ratio_input(source_lip: Tensor, driving_lip: Tensor) -> Tensor:
    """The lip MLP's ratio input ``[c_s_lip, c_d_lip]`` ``(B, 2)`` from two ``(B,)``/``(B, 1)`` ratios."""
    return torch.cat([source_lip.reshape(-1, 1), driving_lip.reshape(-1, 1).to(source_lip.dtype)], dim=1)


def apply_multiplier(x_s: Tensor, x_d: Tensor, multiplier: float | Tensor) -> Tensor:
    """``x_s + (x_d - x_s) * multiplier`` (the reference's ``driving_multiplier``; with 1.0 not
    bitwise the identity, so it is kept for parity)."""
    return x_s + (x_d - x_s) * multiplier
