"""``livehead eval`` measurements: self-reenactment, cross-identity, temporal stability.

Everything runs frame by frame through ``FrameProcessor`` (no threads, no clock), so a run is
deterministic. Every output is measured the same way as the real frames it is compared with: a
second FaceTracker in static-image mode (independent detections, no tracking prior), at the size
of the avatar image the engine renders.

* **Self-reenactment**: each clip's first frame is the avatar and the clip drives it; frame t of
  the output is compared with frame t of the clip. Frame 0 is the avatar itself and is left out
  of the reconstruction averages.
* **Cross-identity**: every photo × every clip; nothing to compare pixels with, so the output is
  measured against the driver: head-rotation change, mouth and eye opening, identity vs the photo.
* **Temporal stability**: in the clip's still segments (``metrics.still_mask`` of the real
  frames), how much the output's landmarks and face pixels still move, with and without smoothing.
* **Baselines**: ``still`` (the avatar photo unchanged) runs next to every engine, so each number
  has a floor to beat; engines that cannot run here (missing checkpoint, not written yet) are
  listed as unavailable with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator, Protocol

import cv2
import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.avatars.photo import avatar_from_array, fit_size, load_avatar
from livehead.stages.capture import VideoFileSource
from livehead.config import LiveHeadConfig, with_overrides
from livehead.face.geometry import euler_from_rotation
from livehead.stages.motion import eye_openness, mouth_openness, to_local
from livehead.pipeline.processor import FrameProcessor
from livehead.stages.tracking import FaceTracker
from livehead.types import FaceObservation
from livehead.eval import metrics as M
from livehead.eval.identity import SAME_PERSON_DISTANCE, load_embedder

log = logging.getLogger(__name__)

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

CLIP_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_ENGINES = ("mesh", "fomm", "fv2v", "liveportrait")
STILL = "still"
NO_SMOOTHING = " (no smoothing)"  # suffix of the method name of an engine run with smoothing off


@dataclass(frozen=True)
class EvalSettings:
    engines: tuple[str, ...] = DEFAULT_ENGINES  # engines to try; those that cannot run are reported, not fatal
    frames: int | None = None  # frames per clip (None: the whole clip)
    size: tuple[int, int] = (1280, 720)  # output size; avatars (photos, first frames) are fitted inside it
    cross_identity: bool = True  # photos × clips
    stability: bool = True  # also run each engine with smoothing off (self-reenactment)
    identity: bool = True  # try the optional dlib identity metric
    identity_samples: int = 8  # frames per sequence that get a face embedding (dlib is ~50 ms a face)
    strip_frames: int = 3  # side-by-side frames per clip in the report
    still_threshold: float = 0.008  # face sizes per frame, see metrics.still_mask


class Progress(Protocol):
    """What ``run_eval`` reports while it runs (the CLI draws a progress bar from it)."""

    def start(self, total_frames: int) -> None: ...

    def advance(self, frames: int, note: str) -> None: ...


@dataclass
class Strip:
    """One side-by-side row for the report: images of equal meaning at one frame index."""

    kind: str  # "self" or "cross"
    clip: str
    photo: str | None
    frame: int
    labels: list[str]
    images: list[np.ndarray]  # (H, W, 3) uint8 RGB each, sizes may differ


@dataclass
class EvalResult:
    data: dict[str, Any]  # every number; floats may be NaN (not measurable) or inf (identical images)
    strips: list[Strip] = field(default_factory=list)


# ---- the still baseline ----------------------------------------------------------------------
@dataclass
class _StillState:
    avatar: AvatarImage


class StillAnimator:
    """Baseline engine: the avatar photo, unchanged. What a static picture scores on each metric."""

    name: ClassVar[str] = STILL

    def prepare(self, avatar: AvatarImage) -> _StillState:
        return _StillState(avatar)

    def render(self, state: _StillState, driving: Driving) -> np.ndarray:
        return state.avatar.image

    def describe(self) -> dict[str, str]:
        return {"engine": STILL, "backend": "none", "device": "cpu", "precision": "-",
                "detail": "baseline: the avatar photo, unchanged"}


# ---- inputs ----------------------------------------------------------------------------------
def collect_media(paths: list[str | Path], suffixes: tuple[str, ...], what: str) -> list[Path]:
    """Files with ``suffixes`` among ``paths`` (files, or folders searched one level deep), sorted."""
    from livehead.errors import InputError

    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{what} not found: {p}. Give files or folders that exist.")
    return out


def _iter_frames(path: Path, limit: int | None) -> Iterator[np.ndarray]:
    """Decode a clip again (cheaper in memory than holding every frame for every pass)."""
    source = VideoFileSource(path=path)
    try:
        n = 0
        while limit is None or n < limit:
            frame = source.read()
            if frame is None:
                return
            yield frame
            n += 1
    finally:
        source.close()


def _fits(size: tuple[int, int], bounds: tuple[int, int]) -> bool:
    return size[0] <= bounds[0] and size[1] <= bounds[1]


# ---- measurement -----------------------------------------------------------------------------
@dataclass
class _Measure:
    """One frame measured by the evaluation tracker (all NaN when it found no face)."""

    landmarks: np.ndarray  # (478, 3) pixels
    face_size: float
    rotation: np.ndarray  # (3, 3)
    mouth: float  # motion.mouth_openness, canonical units
    eye: float  # mean eye_openness ratio
    box: tuple[float, float, float, float] | None

    @property
    def found(self) -> bool:
        return self.box is not None


def _measure_obs(obs: FaceObservation | None) -> _Measure:
    if obs is None:
        return _Measure(np.full((478, 3), np.nan), math.nan, np.full((3, 3), np.nan), math.nan, math.nan, None)
    local = to_local(obs)
    return _Measure(obs.landmarks.astype(np.float64), obs.face_size, np.asarray(obs.pose.rotation, np.float64),
                    mouth_openness(local), M.eye_opening(eye_openness(local)), obs.box)


class _Meter:
    """The evaluation tracker (static-image mode), with a cache for repeated images (the still baseline)."""

    def __init__(self) -> None:
        self.tracker = FaceTracker(static_image_mode=True, max_faces=1)
        self._cache: dict[bytes, _Measure] = {}

    def __call__(self, image: np.ndarray) -> _Measure:
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest() + bytes(str(image.shape), "ascii")
        hit = self._cache.get(key)
        if hit is None:
            hit = _measure_obs(self.tracker.track(np.ascontiguousarray(image)))
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def close(self) -> None:
        self.tracker.close()


@dataclass
class _Series:
    """Per-frame measurements of one sequence (driver or output)."""

    landmarks: list[np.ndarray] = field(default_factory=list)
    face_size: list[float] = field(default_factory=list)
    rotation: list[np.ndarray] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)
    eye: list[float] = field(default_factory=list)
    found: list[bool] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float] | None] = field(default_factory=list)

    def add(self, m: _Measure) -> None:
        self.landmarks.append(m.landmarks)
        self.face_size.append(m.face_size)
        self.rotation.append(m.rotation)
        self.mouth.append(m.mouth)
        self.eye.append(m.eye)
        self.found.append(m.found)
        self.boxes.append(m.box)

    def __len__(self) -> int:
        return len(self.found)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.landmarks), np.asarray(self.face_size)


@dataclass
class _ClipData:
    name: str
    path: Path
    fps: float
    native: tuple[int, int]  # (w, h) of the clip
    work: tuple[int, int]  # (w, h) the avatar (its first frame) is rendered at
    observations: list[FaceObservation | None]  # the driver, tracked as the live pipeline tracks it
    truth: _Series  # real frames at ``work`` size, measured by the evaluation tracker
    still: np.ndarray  # (T,) bool
    calib: int  # first frame with a tracked driver face (the calibration frame)
    strip_at: list[int]

    @property
    def frames(self) -> int:
        return len(self.observations)


def _prepare_clip(path: Path, settings: EvalSettings, meter: _Meter, progress: Progress | None) -> _ClipData:
    source = VideoFileSource(path=path)
    fps, native = source.fps, source.size
    source.close()
    work = native if _fits(native, settings.size) else fit_size(native, settings.size)
    obs: list[FaceObservation | None] = []
    truth = _Series()
    with FaceTracker(static_image_mode=False, max_faces=1) as tracker:
        for i, frame in enumerate(_iter_frames(path, settings.frames)):
            obs.append(tracker.track(frame, i / fps))
            truth.add(meter(_resize(frame, work)))
    if progress is not None:
        progress.advance(0, f"tracked {path.name}")
    lms, sizes = truth.arrays()
    still = M.still_mask(lms, sizes, threshold=settings.still_threshold) if len(obs) >= 2 else np.zeros(len(obs), bool)
    calib = next((i for i, o in enumerate(obs) if o is not None), -1)
    strip_at = _strip_indices(truth, calib, settings.strip_frames)
    return _ClipData(path.stem, path, fps, native, work, obs, truth, still, calib, strip_at)


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _strip_indices(truth: _Series, calib: int, count: int) -> list[int]:
    """Frames worth looking at: widest mouth, largest head turn, and the middle of the clip."""
    n = len(truth)
    if n == 0 or count <= 0:
        return []
    picks = []
    mouth = np.asarray(truth.mouth, dtype=np.float64)
    if np.isfinite(mouth).any():
        picks.append(int(np.nanargmax(mouth)))
    if calib >= 0 and truth.found[calib]:
        turn = [M.geodesic_deg(r, truth.rotation[calib]) if f else -1.0 for r, f in zip(truth.rotation, truth.found)]
        picks.append(int(np.argmax(turn)))
    picks.append(n // 2)
    out: list[int] = []
    for p in picks:
        if p not in out and p > 0:
            out.append(p)
    return sorted(out[:count])


# ---- engines ---------------------------------------------------------------------------------
@dataclass
class _Method:
    name: str  # "still", "mesh", "mesh (no smoothing)", …
    engine: str
    animator: Any
    smoothing: bool


def _resolve_engines(names: tuple[str, ...], config: LiveHeadConfig) -> tuple[list[_Method], dict[str, dict]]:
    """Build every requested engine; the ones that cannot run here are reported with the reason."""
    from livehead.animators import animator_from_config
    from livehead.config import with_overrides

    methods = [_Method(STILL, STILL, StillAnimator(), True)]
    report: dict[str, dict] = {STILL: {"available": True, "reason": None, "describe": StillAnimator().describe()}}
    for name in names:
        if name == STILL:
            continue
        try:
            animator = animator_from_config(with_overrides(config, {"engine.engine": name}))
        except Exception as exc:  # an engine that is missing or unfinished must not end the evaluation
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("Engine %s unavailable: %s", name, reason)
            report[name] = {"available": False, "reason": reason, "describe": None}
            continue
        report[name] = {"available": True, "reason": None, "describe": dict(animator.describe())}
        methods.append(_Method(name, name, animator, True))
    return methods, report


def _prepare(method: _Method, avatar: AvatarImage, report: dict[str, dict]) -> Any | None:
    """A fresh prepared avatar for one run; a failing ``prepare`` marks the engine unavailable.

    Fresh for every run, never shared: engines may cache driver-side work in the state keyed by
    ``Driving.reference_id``, which restarts at 1 with every new ``FrameProcessor``, so a state
    reused with another clip could keep the previous clip's calibration.
    """
    if report[method.engine]["available"] is False:
        return None
    try:
        return method.animator.prepare(avatar)
    except Exception as exc:  # e.g. a neural engine without its checkpoint: report it, keep going
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("Engine %s cannot prepare %s: %s", method.engine, avatar.name, reason)
        report[method.engine].update(available=False, reason=reason)
        return None


# ---- one driven sequence ---------------------------------------------------------------------
@dataclass
class _Run:
    """What one method produced on one (avatar, clip): per-frame numbers and a few kept frames."""

    out: _Series = field(default_factory=_Series)
    l1: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    change: list[float] = field(default_factory=list)  # mean |Δ| in the face box vs the previous frame
    render_ms: list[float] = field(default_factory=list)
    kept: dict[int, np.ndarray] = field(default_factory=dict)
    error: str | None = None


def _drive(
    method: _Method,
    state: Any,
    avatar_measure: _Measure,
    clip: _ClipData,
    config: LiveHeadConfig,
    meter: _Meter,
    *,
    compare: bool,
    keep: set[int],
    progress: Progress | None,
    note: str,
) -> _Run:
    cfg = with_overrides(config, {"smoothing.enabled": method.smoothing})
    processor = FrameProcessor(cfg, method.animator, state)
    run = _Run()
    h, w = state.avatar.image.shape[:2]
    box = _face_region(avatar_measure.box, (w, h))
    previous = None
    done = 0
    for i, frame in enumerate(_iter_frames(clip.path, clip.frames)):
        t0 = time.perf_counter()
        result = processor.process(frame, clip.observations[i], now=i / clip.fps)
        run.render_ms.append((time.perf_counter() - t0) * 1e3)
        image = result.avatar_frame
        run.out.add(meter(image))
        if compare:
            truth = _resize(frame, (w, h))
            run.l1.append(M.l1(image, truth))
            run.psnr.append(M.psnr(image, truth))
            run.ssim.append(M.ssim(image, truth))
        run.change.append(math.nan if previous is None else M.frame_change(previous, image, box=box))
        previous = image.copy()  # an engine may render into a buffer it reuses
        if i in keep:
            run.kept[i] = image.copy()
        done += 1
        if progress is not None and done % 10 == 0:
            progress.advance(10, note)
    if progress is not None:
        progress.advance(done % 10, note)
    return run


def _face_region(
    box: tuple[float, float, float, float] | None, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """A face box grown by a quarter each way: where animation shows (for pixel change)."""
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mx, my = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    return (int(max(0, x0 - mx)), int(max(0, y0 - my)), int(min(size[0], x1 + mx)), int(min(size[1], y1 + my)))


# ---- scoring ---------------------------------------------------------------------------------
def _nanmean(values: list[float] | np.ndarray) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _pose_errors(driver: _Series, calib: int, out: _Series, out_reference: np.ndarray) -> list[float]:
    if calib < 0 or not driver.found[calib] or not np.isfinite(out_reference).all():
        return [math.nan] * len(out)
    ref = driver.rotation[calib]
    return [
        M.pose_error_deg(ref, driver.rotation[i], out_reference, out.rotation[i])
        if driver.found[i] and out.found[i] else math.nan
        for i in range(len(out))
    ]


def _delta_angles(series: _Series, reference: np.ndarray) -> list[list[float] | None]:
    """(yaw, pitch, roll) degrees of each frame's rotation change against ``reference``, for plots."""
    if not np.isfinite(reference).all():
        return [None] * len(series)
    return [list(euler_from_rotation(r @ reference.T)) if f else None for r, f in zip(series.rotation, series.found)]


def _identity(
    embedder: Any, run: _Run, targets: dict[int, np.ndarray | None], out_boxes: list
) -> dict[str, Any]:
    """Mean embedding distance of the kept output frames to their targets (None: not measurable)."""
    distances = []
    for i, target in targets.items():
        if target is None or i not in run.kept or out_boxes[i] is None:
            continue
        emb = embedder.embed(run.kept[i], out_boxes[i])
        if emb is not None:
            distances.append(M.identity_distance(emb, target))
    if not distances:
        return {"identity_distance": math.nan, "same_person_rate": math.nan, "identity_frames": 0}
    d = np.asarray(distances)
    return {"identity_distance": float(d.mean()), "same_person_rate": float((d < SAME_PERSON_DISTANCE).mean()),
            "identity_frames": int(d.size)}


def _score(clip: _ClipData, run: _Run, out_reference: np.ndarray, *, compare: bool) -> tuple[dict, dict]:
    """(summary numbers, per-frame series) of one run; frame 0 (the avatar) is left out of averages."""
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
    summary: dict[str, Any] = {
        "frames": n,
        "pose_error_deg": _nanmean(pose[later]),
        "mouth_corr": M.pearson(truth.mouth[:n], out.mouth),
        "eye_corr": M.pearson(truth.eye[:n], out.eye),
        "face_missing_rate": (sum(missing) / sum(with_face)) if sum(with_face) else math.nan,
        "jitter_still": M.landmark_jitter(lms, sizes, clip.still[:n]),
        "pixel_change_still": M.masked_mean(run.change, clip.still[:n]),
        "render_ms_median": float(np.median(run.render_ms)) if run.render_ms else math.nan,
    }
    if compare:
        summary.update(
            l1=_nanmean(run.l1[later]), psnr=_mean_psnr(run.psnr[later]), ssim=_nanmean(run.ssim[later]),
            akd=_nanmean(akd[later]), mouth_akd=_nanmean(mouth[later]),
        )
    series: dict[str, Any] = {"mouth": out.mouth, "eye": out.eye, "pose_error_deg": pose,
                              "pixel_change": run.change}
    if compare:
        series.update(l1=run.l1, psnr=run.psnr, ssim=run.ssim, akd=akd, mouth_akd=mouth)
    series["yaw_pitch_roll_delta"] = _delta_angles(out, out_reference)
    return summary, series


def _mean_psnr(values: list[float]) -> float:
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


def _summary_over(items: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per method: the mean of each metric over clips/pairs where it was measurable, and how many."""
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


SELF_KEYS = ("l1", "psnr", "ssim", "akd", "mouth_akd", "pose_error_deg", "mouth_corr", "eye_corr",
             "identity_distance", "face_missing_rate", "render_ms_median")
CROSS_KEYS = ("pose_error_deg", "mouth_corr", "eye_corr", "identity_distance", "same_person_rate",
              "face_missing_rate")
STABILITY_KEYS = ("jitter_still", "pixel_change_still")


# ---- the whole evaluation --------------------------------------------------------------------
def _machine() -> dict[str, Any]:
    import os

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count()}
    if hasattr(os, "getloadavg"):
        info["load_avg_1min"] = os.getloadavg()[0]
    return info


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
    from livehead.errors import InputError

    if not clips:
        raise InputError("No driving clips to evaluate. Give --clips clip.mp4 (or a folder of clips).")
    started = time.monotonic()
    config = with_overrides(LiveHeadConfig(), {"output.size": tuple(settings.size)})
    methods, engines = _resolve_engines(tuple(settings.engines), config)
    embedder, identity_reason = (load_embedder() if settings.identity else (None, "switched off (--no-identity)"))
    variants = []
    if settings.stability:
        variants = [dataclasses.replace(m, name=m.name + NO_SMOOTHING, smoothing=False)
                    for m in methods if m.name != STILL]

    meter = _Meter()
    try:
        if progress is not None:
            total = _planned_frames(clips, photos, settings, len(methods), len(variants))
            progress.start(total)
        clip_data = [_prepare_clip(p, settings, meter, progress) for p in clips]
        seen: dict[str, int] = {}
        for clip in clip_data:  # results are keyed by clip name: keep two "talk.mp4" apart
            seen[clip.name] = seen.get(clip.name, 0) + 1
            if seen[clip.name] > 1:
                clip.name = f"{clip.name}#{seen[clip.name]}"
        self_items, strips = _self_reenactment(clip_data, methods + variants, engines, config, meter, embedder,
                                               settings, progress)
        cross_items: list[dict] = []
        if settings.cross_identity and photos:
            cross_items, cross_strips = _cross_identity(clip_data, photos, methods, engines, config, meter,
                                                        embedder, settings, progress)
            strips += cross_strips
    finally:
        meter.close()

    data: dict[str, Any] = {
        "schema": "livehead.eval/1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": time.monotonic() - started,
        "machine": _machine(),
        "settings": {**dataclasses.asdict(settings), "smoothing": dataclasses.asdict(config.smoothing),
                     "motion": dataclasses.asdict(config.motion)},
        "engines": engines,
        "methods": [m.name for m in methods + variants if engines[m.engine]["available"]],
        "identity_metric": {"available": embedder is not None, "reason": identity_reason,
                            "model": getattr(embedder, "name", None),
                            "same_person_below": SAME_PERSON_DISTANCE},
        "self_reenactment": {"clips": {c["clip"]: c for c in self_items},
                             "summary": _summary_over(self_items, SELF_KEYS)},
        "cross_identity": {"pairs": cross_items, "summary": _summary_over(cross_items, CROSS_KEYS)},
        "stability": {
            "clips": {c["clip"]: {"still_frames": c["still_frames"], "driver": c["driver"]["stability"],
                                  "methods": {k: {s: v[s] for s in STABILITY_KEYS} for k, v in c["methods"].items()}}
                      for c in self_items},
            "summary": _summary_over(
                [{"methods": {"driver (real video)": c["driver"]["stability"], **c["methods"]}} for c in self_items],
                STABILITY_KEYS),
        },
    }
    return EvalResult(data, strips)


def _planned_frames(clips: list[Path], photos: list[Path], settings: EvalSettings, n_methods: int,
                    n_variants: int) -> int:
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


def _self_reenactment(clips, methods, engines, config, meter, embedder, settings, progress):
    items, strips = [], []
    for clip in clips:
        if clip.frames == 0 or clip.calib < 0:
            log.warning("No face in %s; left out of the evaluation.", clip.path.name)
            items.append({"clip": clip.name, "frames": clip.frames, "size": list(clip.work), "still_frames": 0,
                          "skipped": "no face tracked in the clip", "methods": {},
                          "driver": {"stability": {k: math.nan for k in STABILITY_KEYS}}, "series": {}})
            continue
        first = _frame_at(clip.path, 0)
        avatar = avatar_from_array(first, name=f"{clip.path.name} frame 0",
                                   content_hash=hashlib.sha256(first.tobytes()).hexdigest(),
                                   working_size=None if clip.work == clip.native else clip.work)
        ref = meter(avatar.image)
        ident = _identity_samples(clip.frames, settings)
        truth_emb = _truth_embeddings(embedder, clip, ident)
        keep = set(clip.strip_at) | set(ident)
        scores, series, kept = {}, {}, {}
        for method in methods:
            state = _prepare(method, avatar, engines)
            if state is None:
                continue
            run = _drive(method, state, ref, clip, config, meter, compare=True, keep=keep, progress=progress,
                         note=f"{clip.name}: {method.name}")
            summary, s = _score(clip, run, ref.rotation, compare=True)
            if embedder is not None:
                summary.update(_identity(embedder, run, truth_emb, run.out.boxes))
            else:
                summary.update(identity_distance=math.nan, same_person_rate=math.nan, identity_frames=0)
            scores[method.name], series[method.name], kept[method.name] = summary, s, run.kept
        truth_lms, truth_sizes = clip.truth.arrays()
        driver_change = _truth_change(clip)
        items.append({
            "clip": clip.name, "path": str(clip.path), "frames": clip.frames, "fps": clip.fps,
            "size": list(clip.work), "native_size": list(clip.native),
            "still_frames": int(clip.still.sum()), "calibration_frame": clip.calib,
            "face_found_rate": float(np.mean(clip.truth.found)),
            "driver": {
                "rotation_change_deg": _nanmean([M.geodesic_deg(r, clip.truth.rotation[clip.calib]) if f else math.nan
                                                 for r, f in zip(clip.truth.rotation, clip.truth.found)][1:]),
                "stability": {"jitter_still": M.landmark_jitter(truth_lms, truth_sizes, clip.still),
                              "pixel_change_still": M.masked_mean(driver_change, clip.still)},
            },
            "methods": scores,
            "series": {"truth": {"mouth": clip.truth.mouth, "eye": clip.truth.eye, "still": clip.still.tolist(),
                                 "yaw_pitch_roll_delta": _delta_angles(clip.truth, clip.truth.rotation[clip.calib])},
                       "methods": series},
        })
        for i in clip.strip_at:
            names = [m for m in kept if i in kept[m] and m != STILL]  # the still output is the avatar
            truth = _resize(_frame_at(clip.path, i), clip.work)
            strips.append(Strip("self", clip.name, None, i, ["avatar (frame 0)", *names, "ground truth"],
                                [avatar.image, *[kept[m][i] for m in names], truth]))
    return items, strips


def _truth_change(clip: _ClipData) -> list[float]:
    """Pixel change of the real clip in the same face box, for comparison with the outputs."""
    box = _face_region(clip.truth.boxes[0], clip.work)
    out, previous = [], None
    for frame in _iter_frames(clip.path, clip.frames):
        frame = _resize(frame, clip.work)
        out.append(math.nan if previous is None else M.frame_change(previous, frame, box=box))
        previous = frame
    return out


def _frame_at(path: Path, index: int) -> np.ndarray:
    for i, frame in enumerate(_iter_frames(path, index + 1)):
        if i == index:
            return frame
    raise IndexError(f"{path} has no frame {index}")


def _identity_samples(frames: int, settings: EvalSettings) -> list[int]:
    if frames <= 1 or settings.identity_samples <= 0:
        return []
    picks = np.linspace(1, frames - 1, min(settings.identity_samples, frames - 1)).round().astype(int)
    return sorted(set(picks.tolist()))


def _truth_embeddings(embedder, clip: _ClipData, indices: list[int]) -> dict[int, np.ndarray | None]:
    if embedder is None or not indices:
        return {}
    wanted, out = set(indices), {}
    for i, frame in enumerate(_iter_frames(clip.path, max(indices) + 1)):
        if i in wanted:
            box = clip.truth.boxes[i]
            out[i] = embedder.embed(_resize(frame, clip.work), box) if box is not None else None
    return out


def _cross_identity(clips, photos, methods, engines, config, meter, embedder, settings, progress):
    from livehead.errors import LiveHeadError

    items, strips = [], []
    for photo in photos:
        try:
            avatar = load_avatar(photo, working_size=tuple(settings.size))
        except LiveHeadError as exc:
            log.warning("Photo %s left out: %s", photo.name, exc)
            items.append({"photo": photo.name, "clip": None, "skipped": str(exc), "methods": {}})
            continue
        ref = meter(avatar.image)
        photo_emb = embedder.embed(avatar.image, ref.box) if embedder is not None and ref.found else None
        for clip in clips:
            if clip.calib < 0:
                continue
            driver_angles = _delta_angles(clip.truth, clip.truth.rotation[clip.calib])
            ident = _identity_samples(clip.frames, settings)
            keep = set(ident) | set(clip.strip_at[:1])
            scores, series, kept = {}, {}, {}
            for method in methods:
                state = _prepare(method, avatar, engines)
                if state is None:
                    continue
                run = _drive(method, state, ref, clip, config, meter, compare=False, keep=keep, progress=progress,
                             note=f"{photo.stem} × {clip.name}: {method.name}")
                summary, s = _score(clip, run, ref.rotation, compare=False)
                if embedder is not None and photo_emb is not None:
                    summary.update(_identity(embedder, run, {i: photo_emb for i in ident}, run.out.boxes))
                else:
                    summary.update(identity_distance=math.nan, same_person_rate=math.nan, identity_frames=0)
                scores[method.name], series[method.name], kept[method.name] = summary, s, run.kept
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
                                    [_frame_at(clip.path, i), avatar.image, *[kept[m][i] for m in names]]))
    return items, strips
