"""One driven sequence in ``livehead eval``: an engine animates an avatar with a clip, frame by frame.

Everything runs through ``FrameProcessor`` (no threads, no clock), so a run is deterministic.
``drive`` runs one method and records what the evaluation tracker sees in each output frame;
``drive_methods`` does that for every method on one (avatar, clip) pair and scores each run.
``Context`` is what every run of one evaluation shares.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from livehead.animators.base import AvatarImage
from livehead.config import LiveHeadConfig, with_overrides
from livehead.eval import metrics as M
from livehead.eval.contact_sheet import SheetFrame, contact_sheet
from livehead.eval.measure import Measure, Meter, face_region
from livehead.eval.media import ClipData, frames_at, iter_frames, resize
from livehead.eval.methods import STILL, Method, prepare_state
from livehead.eval.run import Run
from livehead.eval.scoring import identity_scores, score
from livehead.eval.types import EvalSettings, Progress, Sheet
from livehead.pipeline.processor import FrameProcessor

__all__ = ["Context", "Run", "contact_sheets", "drive", "drive_methods"]


@dataclass
class Context:
    """What every driven sequence of one evaluation shares."""

    settings: EvalSettings
    config: LiveHeadConfig  # output size set; smoothing is switched per method
    engines: dict[str, dict]  # name -> {"available", "reason", "describe"}; a failing prepare updates it
    meter: Meter
    embedder: Any  # identity.FaceEmbedder, or None when the identity metric is off or unavailable
    progress: Progress | None


def drive(
    method: Method,
    state: Any,
    avatar_measure: Measure,
    clip: ClipData,
    ctx: Context,
    *,
    compare: bool,
    keep: set[int],
    note: str,
) -> Run:
    """Render every frame of ``clip`` with ``method`` and measure each output.

    ``compare``: also L1 / PSNR / SSIM against the real frame (self-reenactment, where the clip's
    own first frame is the avatar). ``keep``: frame indices whose outputs are copied into
    ``Run.kept`` (report strips, identity embeddings).
    """
    cfg = with_overrides(ctx.config, {"smoothing.enabled": method.smoothing})
    processor = FrameProcessor(cfg, method.animator, state, avatar_frames=True)
    run = Run()
    h, w = state.avatar.image.shape[:2]
    box = face_region(avatar_measure.box, (w, h))
    previous = None
    done = 0
    for i, frame in enumerate(iter_frames(clip.path, clip.frames)):
        t0 = time.perf_counter()
        result = processor.process(frame, clip.observations[i], now=i / clip.fps)
        run.render_ms.append((time.perf_counter() - t0) * 1e3)
        image = result.avatar_frame
        seen = ctx.meter(image)
        run.out.add(seen)
        if compare:
            truth = resize(frame, (w, h))
            run.l1.append(M.l1(image, truth))
            run.psnr.append(M.psnr(image, truth))
            run.ssim.append(M.ssim(image, truth))
        run.change.append(math.nan if previous is None else M.frame_change(previous, image, box=box))
        previous = image.copy()  # an engine may render into a buffer it reuses
        if i in keep:
            run.kept[i] = image.copy()
            run.kept_landmarks[i] = seen.landmarks if seen.found else np.asarray(result.target_landmarks, np.float64)
        done += 1
        if ctx.progress is not None and done % 10 == 0:
            ctx.progress.advance(10, note)
    if ctx.progress is not None:
        ctx.progress.advance(done % 10, note)
    return run


def drive_methods(
    methods: list[Method],
    avatar: AvatarImage,
    avatar_measure: Measure,
    clip: ClipData,
    ctx: Context,
    *,
    compare: bool,
    keep: set[int],
    targets: dict[int, np.ndarray | None],
    note: str,
) -> tuple[dict[str, dict], dict[str, dict], dict[str, dict[int, np.ndarray]], dict[str, Run]]:
    """Drive ``avatar`` with ``clip`` by every method that can run; ``(scores, series, kept, runs)``
    by method name (``kept``: each run's kept frames, ``runs``: the whole record).

    ``targets``: frame index -> the embedding each output frame should match (the real frame in
    self-reenactment, the photo in cross-identity); empty when the identity metric is off. A method
    whose engine fails to prepare is marked unavailable in ``ctx.engines`` and left out.
    """
    scores: dict[str, dict] = {}
    series: dict[str, dict] = {}
    kept: dict[str, dict[int, np.ndarray]] = {}
    runs: dict[str, Run] = {}
    for method in methods:
        state = prepare_state(method, avatar, ctx.engines)
        if state is None:
            continue
        run = drive(method, state, avatar_measure, clip, ctx, compare=compare, keep=keep, note=f"{note}: {method.name}")
        summary, s = score(clip, run, avatar_measure.rotation, compare=compare)
        summary.update(identity_scores(ctx.embedder, run, targets))
        scores[method.name], series[method.name], kept[method.name] = summary, s, run.kept
        runs[method.name] = run
    return scores, series, kept, runs


def contact_sheets(kind: str, clip: ClipData, photo: str | None, runs: dict[str, Run]) -> list[Sheet]:
    """One contact sheet per method (the still baseline has nothing to show): the clip's
    ``sheet_at`` frames, driver (at the clip's working size) over output, face, mouth and eyes."""
    columns = [i for i in clip.sheet_at if clip.truth.found[i]]
    if not columns:
        return []
    real = frames_at(clip.path, columns, clip.work)
    sheets = []
    for name, run in runs.items():
        frames = [SheetFrame(f"#{i}", real[i], clip.truth.landmarks[i], run.kept[i], run.kept_landmarks[i])
                  for i in columns if i in real and i in run.kept]
        if name == STILL or not frames:
            continue
        title = f"{name}: {clip.name}" + (f" driving {photo}" if photo else " (self-reenactment)")
        sheets.append(Sheet(kind, clip.name, photo, name, contact_sheet(frames, title=title)))
    return sheets
