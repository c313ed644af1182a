"""Cross-identity in ``livehead eval``: every photo driven by every clip.

There is nothing to compare pixels with, so each output is measured against the driver: head
rotation change (pose error), mouth and eye opening (correlation), and identity against the
photo (the output should still look like the photo's person, not the driver).
"""

from __future__ import annotations

import logging
from pathlib import Path

from livehead.avatars.photo import load_avatar
from livehead.errors import LiveHeadError
from livehead.eval.drive import Context, contact_sheets, drive_methods
from livehead.eval.media import ClipData, frame_at
from livehead.eval.methods import STILL, Method
from livehead.eval.scoring import delta_angles, identity_samples
from livehead.eval.types import Sheet, Strip

log = logging.getLogger(__name__)

__all__ = ["CROSS_KEYS", "run_cross_identity"]

CROSS_KEYS = ("pose_error_deg", "mouth_corr", "eye_corr", "eye_corr_right", "eye_corr_left", "yaw_corr", "yaw_gain",
              "mouth_brightness_ratio", "mouth_seam_ratio", "identity_distance", "same_person_rate",
              "face_missing_rate")


def run_cross_identity(
    clips: list[ClipData], photos: list[Path], methods: list[Method], ctx: Context
) -> tuple[list[dict], list[Strip], list[Sheet]]:
    """One item per (photo, clip) pair (``cross_identity.pairs`` of ``eval.json``), the report's
    strips and its contact sheets (one per engine and pair).

    A photo that does not load is one item with ``"skipped"`` (and ``"clip": None``); clips without
    a tracked face are passed over.
    """
    items, strips, sheets = [], [], []
    for photo in photos:
        try:
            avatar = load_avatar(photo, working_size=tuple(ctx.settings.size))
        except LiveHeadError as exc:
            log.warning("Photo %s left out: %s", photo.name, exc)
            items.append({"photo": photo.name, "clip": None, "skipped": str(exc), "methods": {}})
            continue
        ref = ctx.meter(avatar.image)
        photo_emb = ctx.embedder.embed(avatar.image, ref.box) if ctx.embedder is not None and ref.found else None
        for clip in clips:
            if clip.calib < 0:
                continue
            driver_angles = delta_angles(clip.truth, clip.truth.rotation[clip.calib])
            ident = identity_samples(clip.frames, ctx.settings.identity_samples)
            scores, series, kept, runs = drive_methods(
                methods, avatar, ref, clip, ctx, compare=False,
                keep=set(ident) | set(clip.strip_at[:1]) | set(clip.sheet_at),
                targets={i: photo_emb for i in ident} if photo_emb is not None else {},
                note=f"{photo.stem} × {clip.name}")
            items.append({
                "photo": photo.name, "clip": clip.name, "frames": clip.frames,
                "avatar_size": list(avatar.image.shape[1::-1]),
                "methods": scores,
                "series": {"driver": {"mouth": clip.truth.mouth, "eye": clip.truth.eye,
                                      "yaw_pitch_roll_delta": driver_angles},
                           "methods": series},
            })
            for i in clip.strip_at[:1]:
                names = [m for m in kept if i in kept[m] and m != STILL]
                strips.append(Strip("cross", clip.name, photo.name, i, ["driver", "avatar photo", *names],
                                    [frame_at(clip.path, i), avatar.image, *[kept[m][i] for m in names]]))
            sheets += contact_sheets("cross", clip, photo.name, runs)
    return items, strips, sheets
