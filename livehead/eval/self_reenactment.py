"""Self-reenactment in ``livehead eval``: each clip's first frame is the avatar and the clip drives it.

Frame t of the output is compared with frame t of the clip (reconstruction: L1, PSNR, SSIM, AKD,
mouth AKD; motion: pose error, mouth and eye correlation; identity against the real frame).
Frame 0 is the avatar itself and is left out of the averages.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

import numpy as np

from livehead.avatars.photo import avatar_from_array
from livehead.eval import metrics as M
from livehead.eval.drive import Context, contact_sheets, drive_methods
from livehead.eval.media import ClipData, frame_at, iter_frames, resize
from livehead.eval.methods import NO_SMOOTHING, STILL, Method
from livehead.eval.scoring import delta_angles, identity_samples, nanmean
from livehead.eval.stability import driver_stability, not_measured
from livehead.eval.types import Sheet, Strip

log = logging.getLogger(__name__)

__all__ = ["SELF_KEYS", "run_self_reenactment"]

SELF_KEYS = ("l1", "psnr", "ssim", "akd", "mouth_akd", "pose_error_deg", "mouth_corr", "eye_corr",
             "eye_corr_right", "eye_corr_left", "yaw_corr", "yaw_gain", "mouth_brightness_ratio",
             "mouth_seam_ratio", "identity_distance", "face_missing_rate", "render_ms_median")


def run_self_reenactment(clips: list[ClipData], methods: list[Method],
                         ctx: Context) -> tuple[list[dict], list[Strip], list[Sheet]]:
    """One item per clip (``self_reenactment.clips`` of ``eval.json``), the report's strips and
    its contact sheets (one per engine and clip; not for the no-smoothing variants).

    A clip without a tracked face is kept as an item with ``"skipped"`` and no methods.
    """
    items, strips, sheets = [], [], []
    for clip in clips:
        if clip.frames == 0 or clip.calib < 0:
            log.warning("No face in %s; left out of the evaluation.", clip.path.name)
            items.append({"clip": clip.name, "frames": clip.frames, "size": list(clip.work), "still_frames": 0,
                          "skipped": "no face tracked in the clip", "methods": {},
                          "driver": {"stability": not_measured()}, "series": {}})
            continue
        first = frame_at(clip.path, 0)
        avatar = avatar_from_array(first, name=f"{clip.path.name} frame 0",
                                   content_hash=hashlib.sha256(first.tobytes()).hexdigest(),
                                   working_size=None if clip.work == clip.native else clip.work)
        ref = ctx.meter(avatar.image)
        ident = identity_samples(clip.frames, ctx.settings.identity_samples)
        scores, series, kept, runs = drive_methods(
            methods, avatar, ref, clip, ctx, compare=True, keep=set(clip.strip_at) | set(ident) | set(clip.sheet_at),
            targets=_truth_embeddings(ctx.embedder, clip, ident), note=clip.name)
        calib_rotation = clip.truth.rotation[clip.calib]
        items.append({
            "clip": clip.name, "path": str(clip.path), "frames": clip.frames, "fps": clip.fps,
            "size": list(clip.work), "native_size": list(clip.native),
            "still_frames": int(clip.still.sum()), "calibration_frame": clip.calib,
            "face_found_rate": float(np.mean(clip.truth.found)),
            "driver": {
                "rotation_change_deg": nanmean([M.geodesic_deg(r, calib_rotation) if f else math.nan
                                                for r, f in zip(clip.truth.rotation, clip.truth.found)][1:]),
                "stability": driver_stability(clip),
            },
            "methods": scores,
            "series": {"truth": {"mouth": clip.truth.mouth, "eye": clip.truth.eye, "still": clip.still.tolist(),
                                 "yaw_pitch_roll_delta": delta_angles(clip.truth, calib_rotation)},
                       "methods": series},
        })
        for i in clip.strip_at:
            names = [m for m in kept if i in kept[m] and m != STILL]  # the still output is the avatar
            truth = resize(frame_at(clip.path, i), clip.work)
            strips.append(Strip("self", clip.name, None, i, ["avatar (frame 0)", *names, "ground truth"],
                                [avatar.image, *[kept[m][i] for m in names], truth]))
        sheets += contact_sheets("self", clip, None, {m: r for m, r in runs.items() if not m.endswith(NO_SMOOTHING)})
    return items, strips, sheets


def _truth_embeddings(embedder: Any, clip: ClipData, indices: list[int]) -> dict[int, np.ndarray | None]:
    """Face embeddings of the real frames at ``indices`` (None where the real frame has no face)."""
    if embedder is None or not indices:
        return {}
    wanted, out = set(indices), {}
    for i, frame in enumerate(iter_frames(clip.path, max(indices) + 1)):
        if i in wanted:
            box = clip.truth.boxes[i]
            out[i] = embedder.embed(resize(frame, clip.work), box) if box is not None else None
    return out
