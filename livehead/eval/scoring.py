"""From one driven sequence to the numbers in ``eval.json``: per-run summaries, series and means.

Frame 0 of a self-reenactment output is the avatar itself, so it is left out of every average.
A number that cannot be measured (no face found, no identity model) is NaN, never zero; the JSON
writer turns it into ``null``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from livehead.eval import metrics as M
from livehead.eval.identity import SAME_PERSON_DISTANCE
from livehead.eval.measure import Series
from livehead.face.geometry import euler_from_rotation

if TYPE_CHECKING:  # drive imports this module to score its runs
    from livehead.eval.media import ClipData
    from livehead.eval.run import Run

__all__ = ["OPEN_MOUTH", "delta_angles", "identity_samples", "identity_scores", "mean_psnr", "nanmean", "score", "summary_over"]


OPEN_MOUTH = 0.08  # driver mouth_openness (canonical units) above which its mouth is clearly open


def nanmean(values: list[float] | np.ndarray) -> float:
    """Mean of the values that are not NaN; NaN when none is."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def mean_psnr(values: list[float]) -> float:
    """Mean of per-frame PSNR (papers' convention); inf only if every frame is identical."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return math.inf
    # An identical frame (inf) cannot enter a mean; its place is taken by the best finite frame,
    # so one exact copy does not turn a whole clip's PSNR into inf.
    return float(np.where(np.isfinite(arr), arr, finite.max()).mean())


def _pose_errors(driver: Series, calib: int, out: Series, out_reference: np.ndarray) -> list[float]:
    if calib < 0 or not driver.found[calib] or not np.isfinite(out_reference).all():
        return [math.nan] * len(out)
    ref = driver.rotation[calib]
    return [
        M.pose_error_deg(ref, driver.rotation[i], out_reference, out.rotation[i])
        if driver.found[i] and out.found[i] else math.nan
        for i in range(len(out))
    ]


def delta_angles(series: Series, reference: np.ndarray) -> list[list[float] | None]:
    """(yaw, pitch, roll) degrees of each frame's rotation change ``R_t @ reference.T``, for plots.

    None for a frame without a face, and for every frame when ``reference`` (3, 3) is not finite.
    """
    if not np.isfinite(reference).all():
        return [None] * len(series)
    return [list(euler_from_rotation(r @ reference.T)) if f else None for r, f in zip(series.rotation, series.found)]


def identity_samples(frames: int, count: int) -> list[int]:
    """Up to ``count`` frame indices spread evenly over 1 … ``frames`` - 1 (frame 0 is the avatar)."""
    if frames <= 1 or count <= 0:
        return []
    picks = np.linspace(1, frames - 1, min(count, frames - 1)).round().astype(int)
    return sorted(set(picks.tolist()))


def identity_scores(embedder: Any, run: Run, targets: dict[int, np.ndarray | None]) -> dict[str, Any]:
    """Mean embedding distance of the kept output frames to their targets (frame index -> embedding).

    Frames without a target, a kept output or a face in the output are passed over; with none left
    (or no ``embedder``) every number is NaN and ``identity_frames`` is 0.
    """
    distances = []
    for i, target in targets.items() if embedder is not None else ():
        if target is None or i not in run.kept or run.out.boxes[i] is None:
            continue
        emb = embedder.embed(run.kept[i], run.out.boxes[i])
        if emb is not None:
            distances.append(M.identity_distance(emb, target))
    if not distances:
        return {"identity_distance": math.nan, "same_person_rate": math.nan, "identity_frames": 0}
    d = np.asarray(distances)
    return {"identity_distance": float(d.mean()), "same_person_rate": float((d < SAME_PERSON_DISTANCE).mean()),
            "identity_frames": int(d.size)}


def score(clip: ClipData, run: Run, out_reference: np.ndarray, *, compare: bool) -> tuple[dict, dict]:
    """(summary numbers, per-frame series) of one run; frame 0 (the avatar) is left out of averages.

    ``out_reference``: (3, 3) head rotation of the avatar as measured, the output's neutral pose.
    ``compare``: the clip's real frames are the target (self-reenactment): adds L1, PSNR, SSIM,
    AKD and mouth AKD.
    """
    truth, out = clip.truth, run.out
    n = len(out)
    akd, mouth = [], []
    for i in range(n):
        if compare and truth.found[i] and out.found[i]:
            akd.append(M.akd(out.landmarks[i], truth.landmarks[i], truth.face_size[i]))
            mouth.append(M.mouth_akd(out.landmarks[i], truth.landmarks[i], truth.face_size[i]))
        else:
            akd.append(math.nan)
            mouth.append(math.nan)
    pose = _pose_errors(truth, clip.calib, out, out_reference)
    later = slice(1, None)
    with_face = [truth.found[i] for i in range(1, n)]
    missing = [truth.found[i] and not out.found[i] for i in range(1, n)]
    lms, sizes = out.arrays()
    calib_rotation = truth.rotation[clip.calib] if clip.calib >= 0 else np.full((3, 3), np.nan)
    driver_yaw, out_yaw = _yaw(delta_angles(truth, calib_rotation)[:n]), _yaw(delta_angles(out, out_reference))
    eye_right, eye_left = M.per_eye_correlation(np.asarray(truth.eyes[:n], dtype=np.float64).reshape(-1, 2),
                                                np.asarray(out.eyes, dtype=np.float64).reshape(-1, 2))
    # Inside the mouth only where the driver's is clearly open: a closed mouth has no interior.
    mouth_open = np.asarray(truth.mouth[:n], dtype=np.float64) > OPEN_MOUTH
    summary: dict[str, Any] = {
        "frames": n,
        "pose_error_deg": nanmean(pose[later]),
        "mouth_corr": M.pearson(truth.mouth[:n], out.mouth),
        "eye_corr": M.pearson(truth.eye[:n], out.eye),
        "eye_corr_right": eye_right,
        "eye_corr_left": eye_left,
        "yaw_corr": M.pearson(driver_yaw, out_yaw),
        "yaw_gain": M.yaw_gain(driver_yaw, out_yaw),
        "mouth_brightness_ratio": M.brightness_ratio(out.mouth_luma, truth.mouth_luma[:n], mouth_open),
        "mouth_seam_ratio": M.brightness_ratio(out.mouth_seam, truth.mouth_seam[:n], mouth_open),
        "face_missing_rate": (sum(missing) / sum(with_face)) if sum(with_face) else math.nan,
        "jitter_still": M.landmark_jitter(lms, sizes, clip.still[:n]),
        "pixel_change_still": M.masked_mean(run.change, clip.still[:n]),
        "render_ms_median": float(np.median(run.render_ms)) if run.render_ms else math.nan,
    }
    if compare:
        summary.update(
            l1=nanmean(run.l1[later]), psnr=mean_psnr(run.psnr[later]), ssim=nanmean(run.ssim[later]),
            akd=nanmean(akd[later]), mouth_akd=nanmean(mouth[later]),
        )
    series: dict[str, Any] = {"mouth": out.mouth, "eye": out.eye, "eyes": out.eyes, "mouth_luma": out.mouth_luma,
                              "mouth_seam": out.mouth_seam, "pose_error_deg": pose,
                              "pixel_change": run.change}
    if compare:
        series.update(l1=run.l1, psnr=run.psnr, ssim=run.ssim, akd=akd, mouth_akd=mouth)
    series["yaw_pitch_roll_delta"] = delta_angles(out, out_reference)
    return summary, series


def _yaw(angles: list[list[float] | None]) -> np.ndarray:
    """(T,) yaw degrees from ``delta_angles``' output, NaN where there was no face."""
    return np.array([a[0] if a is not None else math.nan for a in angles], dtype=np.float64)


def summary_over(items: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per method: the mean of each metric over clips/pairs where it was measurable, and how many.

    ``items``: dicts with ``"methods": {name: {key: number}}``. Returns ``{name: {key: mean,
    "n": {key: count}}}`` in the order methods first appear; a mean over nothing is NaN.
    """
    values: dict[str, dict[str, list[float]]] = {}
    for item in items:
        for name, scores in item["methods"].items():
            row = values.setdefault(name, {k: [] for k in keys})
            for k in keys:
                v = scores.get(k)
                if isinstance(v, (int, float)) and not math.isnan(v):
                    row[k].append(float(v))
    out: dict[str, dict[str, Any]] = {}
    for name, row in values.items():
        out[name] = {k: (float(np.mean(v)) if v else math.nan) for k, v in row.items()}
        out[name]["n"] = {k: len(v) for k, v in row.items()}
    return out
