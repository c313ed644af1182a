"""Temporal stability in ``livehead eval``: how much outputs still move while the driver holds still.

The still segments are ``metrics.still_mask`` of the real frames (``ClipData.still``). In them,
each output's landmark jitter and face-region pixel change are set against the real video's own
(the driver row, the floor no renderer can beat) and against the same engine with smoothing
off (the ``(no smoothing)`` variants, run during self-reenactment).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from livehead.eval import metrics as M
from livehead.eval.measure import face_region
from livehead.eval.media import ClipData, iter_frames, resize
from livehead.eval.methods import NO_SMOOTHING, STILL, Method
from livehead.eval.scoring import summary_over

__all__ = ["DRIVER", "STABILITY_KEYS", "driver_stability", "no_smoothing_variants", "not_measured",
           "stability_section"]

STABILITY_KEYS = ("jitter_still", "pixel_change_still")
DRIVER = "driver (real video)"  # the summary row of the real clip


def no_smoothing_variants(methods: list[Method]) -> list[Method]:
    """Every engine again with smoothing off (``"mesh (no smoothing)"``); the still baseline has none."""
    return [dataclasses.replace(m, name=m.name + NO_SMOOTHING, smoothing=False) for m in methods if m.name != STILL]


def not_measured() -> dict[str, float]:
    """The driver's stability numbers for a clip left out of the evaluation: NaN each."""
    return {k: math.nan for k in STABILITY_KEYS}


def driver_stability(clip: ClipData) -> dict[str, float]:
    """``{"jitter_still", "pixel_change_still"}`` of the real clip, measured like the outputs."""
    lms, sizes = clip.truth.arrays()
    return {"jitter_still": M.landmark_jitter(lms, sizes, clip.still),
            "pixel_change_still": M.masked_mean(_truth_change(clip), clip.still)}


def _truth_change(clip: ClipData) -> list[float]:
    """Pixel change of the real clip in the same face box, for comparison with the outputs."""
    box = face_region(clip.truth.boxes[0], clip.work)
    out, previous = [], None
    for frame in iter_frames(clip.path, clip.frames):
        frame = resize(frame, clip.work)
        out.append(math.nan if previous is None else M.frame_change(previous, frame, box=box))
        previous = frame
    return out


def stability_section(self_items: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``stability`` part of ``eval.json``, taken from the self-reenactment items.

    ``{"clips": {clip: {"still_frames", "driver", "methods"}}, "summary": {method: means}}``; the
    summary has the driver (real video) as its first row.
    """
    return {
        "clips": {c["clip"]: {"still_frames": c["still_frames"], "driver": c["driver"]["stability"],
                              "methods": {k: {s: v[s] for s in STABILITY_KEYS} for k, v in c["methods"].items()}}
                  for c in self_items},
        "summary": summary_over(
            [{"methods": {DRIVER: c["driver"]["stability"], **c["methods"]}} for c in self_items], STABILITY_KEYS),
    }
