"""``livehead eval``: runs the three protocols on clips and photos and gathers the numbers.

Each protocol has its module; this one only orchestrates them and writes down the settings and
the machine next to the numbers:

* **Self-reenactment** (``self_reenactment``): each clip's first frame is the avatar and the clip
  drives it; frame t of the output is compared with frame t of the clip.
* **Cross-identity** (``cross_identity``): every photo × every clip, measured against the driver.
* **Temporal stability** (``stability``): in the clip's still segments, how much the outputs still
  move, with and without smoothing.
* **Baselines** (``methods``): ``still`` (the avatar photo unchanged) runs next to every engine;
  engines that cannot run here are listed as unavailable with the reason.

How a frame is measured is ``measure``; clips and their truth, ``media``; one driven sequence,
``drive``; its numbers, ``scoring``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from livehead.config import LiveHeadConfig, with_overrides
from livehead.errors import InputError
from livehead.eval.cross_identity import CROSS_KEYS, run_cross_identity
from livehead.eval.drive import Context
from livehead.eval.identity import SAME_PERSON_DISTANCE, load_embedder
from livehead.eval.measure import Meter
from livehead.eval.media import CLIP_SUFFIXES, PHOTO_SUFFIXES, collect_media, prepare_clip
from livehead.eval.methods import StillAnimator, resolve_engines
from livehead.eval.scoring import summary_over
from livehead.eval.self_reenactment import SELF_KEYS, run_self_reenactment
from livehead.eval.stability import no_smoothing_variants, stability_section
from livehead.eval.types import DEFAULT_ENGINES, EvalResult, EvalSettings, Progress, Strip
from livehead.runtime.machine import machine_info
from livehead.stages.capture import VideoFileSource

__all__ = [
    "CLIP_SUFFIXES",
    "DEFAULT_ENGINES",
    "EvalResult",
    "EvalSettings",
    "PHOTO_SUFFIXES",
    "Progress",
    "StillAnimator",
    "Strip",
    "collect_media",
    "run_eval",
]

SCHEMA = "livehead.eval/1"


def run_eval(
    clips: list[Path],
    photos: list[Path],
    settings: EvalSettings = EvalSettings(),
    *,
    progress: Progress | None = None,
) -> EvalResult:
    """Measure every available engine (and the still baseline) on ``clips`` and ``photos``.

    Returns the numbers (see ``report.write_report`` for the file layout) and the side-by-side
    frames. Engines that cannot run and an unavailable identity metric are reported in
    ``data["engines"]`` and ``data["identity_metric"]``; neither stops the run.
    """
    if not clips:
        raise InputError("No driving clips to evaluate. Give --clips clip.mp4 (or a folder of clips).")
    started = time.monotonic()
    config = with_overrides(LiveHeadConfig(), {"output.size": tuple(settings.size)})
    methods, engines = resolve_engines(tuple(settings.engines), config)
    embedder, identity_reason = (load_embedder() if settings.identity else (None, "switched off (--no-identity)"))
    variants = no_smoothing_variants(methods) if settings.stability else []

    meter = Meter()
    try:
        if progress is not None:
            progress.start(_planned_frames(clips, photos, settings, len(methods), len(variants)))
        clip_data = [prepare_clip(p, settings, meter, progress) for p in clips]
        seen: dict[str, int] = {}
        for clip in clip_data:  # results are keyed by clip name: keep two "talk.mp4" apart
            seen[clip.name] = seen.get(clip.name, 0) + 1
            if seen[clip.name] > 1:
                clip.name = f"{clip.name}#{seen[clip.name]}"
        ctx = Context(settings, config, engines, meter, embedder, progress)
        self_items, strips, sheets = run_self_reenactment(clip_data, methods + variants, ctx)
        cross_items: list[dict] = []
        if settings.cross_identity and photos:
            cross_items, cross_strips, cross_sheets = run_cross_identity(clip_data, photos, methods, ctx)
            strips += cross_strips
            sheets += cross_sheets
    finally:
        meter.close()

    data: dict[str, Any] = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": time.monotonic() - started,
        # import_torch=False: a mesh-only run never loads torch; a neural run already has, and is described.
        "machine": machine_info(import_torch=False),
        "settings": {**dataclasses.asdict(settings), "smoothing": dataclasses.asdict(config.smoothing),
                     "motion": dataclasses.asdict(config.motion)},
        "engines": engines,
        "methods": [m.name for m in methods + variants if engines[m.engine]["available"]],
        "identity_metric": {"available": embedder is not None, "reason": identity_reason,
                            "model": getattr(embedder, "name", None),
                            "same_person_below": SAME_PERSON_DISTANCE},
        "self_reenactment": {"clips": {c["clip"]: c for c in self_items},
                             "summary": summary_over(self_items, SELF_KEYS)},
        "cross_identity": {"pairs": cross_items, "summary": summary_over(cross_items, CROSS_KEYS)},
        "stability": stability_section(self_items),
    }
    return EvalResult(data, strips, sheets)


def _planned_frames(clips: list[Path], photos: list[Path], settings: EvalSettings, n_methods: int,
                    n_variants: int) -> int:
    """Frames the run will render, for the progress bar (from the clips' frame counts)."""
    per_clip = []
    for p in clips:
        source = VideoFileSource(path=p)
        n = source.frame_count or 0
        source.close()
        per_clip.append(min(n, settings.frames) if settings.frames else n)
    total = sum(per_clip) * (n_methods + n_variants)
    if settings.cross_identity:
        total += sum(per_clip) * len(photos) * n_methods
    return total
