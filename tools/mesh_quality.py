"""Measure the mesh engine the way issue 14 does: photo × clip pairs and self-reenactment.

Every pair runs frame by frame through ``FrameProcessor`` with default settings (calibration on
the first frame, as ``livehead --source clip`` does). Driver and output frames are measured by
two trackers:

* **MediaPipe** (static-image mode, as ``livehead eval`` measures), in this process;
* **dlib's 68-point model** (independent of MediaPipe, as the issue's numbers are), in a side
  virtual environment through ``tools/dlib68.py`` (see its docstring for the venv); identity
  distances come from dlib's face-recognition embeddings there too.

Usage (from the repository root)::

    PYTHONPATH=$PWD /work/main/.venv/bin/python tools/mesh_quality.py \\
        --dlib-python /tmp/dlibvenv/bin/python --out /tmp/mesh_quality

    # a quick look at two pairs, 300 frames each:
    ... tools/mesh_quality.py --pairs sadtalker_happy.png:liveportrait_d6.mp4,self:liveportrait_d14.mp4 --frames 300
    # a scripted ±35° head turn of each photo's own face (no clip turns that far):
    ... tools/mesh_quality.py --pairs sadtalker_sad.png:turn:35,liveportrait_s12.jpg:turn:35

It prints the issue's table (both trackers), writes ``results.json`` and a contact sheet per pair
(``sheet_<photo>_<clip>.png``: face, mouth and eyes of driver and output, frame by frame) into
``--out``. Measures (driver vs output, per pair):

* mouth-opening correlation; eye-opening correlation per eye (mean of the two);
* head-yaw correlation, yaw gain (output 5–95 % yaw range / driver's) and mean yaw error on
  clips where the driver turns (yaw range ≥ ``TURNING_DEG``);
* identity distance of output frames to the photo (dlib, < 0.6 = same person);
* inner-mouth brightness (luma inside the inner-lip contour), output / driver, on frames where
  the driver's mouth is clearly open; mouth-boundary seam score, output / driver;
* self-reenactment: mouth-landmark error of the output against the real frames, as a share of
  the still photo's (frame 0 held still);
* how far the two trackers agree on the *driver* (``agreement``: dlib's mouth and eye readings
  of the driver frames against MediaPipe's): a dlib correlation near or below that is the trackers
  disagreeing, not the render (the output follows the tracker that drives it).

``results.json`` also keeps each pair's measured frame numbers (``frames``) and both trackers'
per-frame readings of driver and output (``series``), to look into a pair without rendering it again.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livehead.animators.registry import animator_from_config
from livehead.avatars.photo import avatar_from_array, load_avatar
from livehead.config import LiveHeadConfig, with_overrides
from livehead.eval import metrics as M
from livehead.eval.contact_sheet import SheetFrame, contact_sheet
from livehead.pipeline.processor import FrameProcessor
from livehead.stages.tracking import FaceTracker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_measures import TURN_FPS, Measures, measure_dlib, measure_mediapipe, turn_driver  # noqa: E402

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
TURNING_DEG = 10.0  # driver yaw range (5–95 %) from which a clip counts as "the head turns"
OPEN_MOUTH = 0.12  # dlib inner-lip gap / inter-ocular above which the driver's mouth is "open"
OPEN_MOUTH_MP = 0.08  # the same for MediaPipe's mouth_openness (canonical units)

# Photo × clip pairs: every new clip and photo of issue 14 (d6, d9, d10, d14, s7, s12, happy, sad)
# at least once, the older ones for continuity, and each clip driving its own first frame.
DEFAULT_PAIRS = (
    "sadtalker_happy.png:liveportrait_d6.mp4",
    "sadtalker_happy.png:liveportrait_d14.mp4",
    "sadtalker_sad.png:liveportrait_d10.mp4",
    "liveportrait_s7.jpg:liveportrait_d9.mp4",
    "liveportrait_s12.jpg:liveportrait_d14.mp4",
    "liveportrait_s12.jpg:liveportrait_d10.mp4",
    "aniportrait_Aragaki.png:liveportrait_d6.mp4",
    "dreamtalk_f30.png:liveportrait_d9.mp4",
    "aniportrait_lyl.png:tpsmm_driving.mp4",
    "liveportrait_s1.jpg:liveportrait_d0.mp4",
    "liveportrait_s2.jpg:liveportrait_d20.mp4",
    "sadtalker_sad.png:dreamtalk_W011_front_neutral_level1_001.mp4",
    "self:liveportrait_d0.mp4",
    "self:liveportrait_d6.mp4",
    "self:liveportrait_d9.mp4",
    "self:liveportrait_d10.mp4",
    "self:liveportrait_d14.mp4",
    "self:tpsmm_driving.mp4",
    "sadtalker_sad.png:turn:35",
    "aniportrait_Aragaki.png:turn:35",
    "liveportrait_s12.jpg:turn:35",
)

# ---- running one pair ------------------------------------------------------------------------
def read_clip(path: Path, limit: int | None) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while limit is None or len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames, fps


@dataclass
class PairRun:
    photo: str
    clip: str
    indices: list[int]
    driver_files: list[str]
    output_files: list[str]
    avatar_file: str
    driver_mp: Measures
    output_mp: Measures
    still_points_mp: np.ndarray | None
    sheet: list[SheetFrame]
    render_ms: list[float]
    near: dict[str, list[float]]  # file → a face box (x0, y0, x1, y1) that narrows dlib's search
    truth_yaw: list[float] | None = None  # scripted driver: its exact yaw per measured frame


def run_pair(photo: str, clip: str, frames: list[np.ndarray], fps: float, observations: list, config: LiveHeadConfig,
             work: Path, stride: int, meter: FaceTracker, driver_cache: dict, sheet_columns: int) -> PairRun:
    turn = clip.startswith("turn:")
    if photo == "self":
        first = frames[0]
        avatar = avatar_from_array(first, name=f"{clip} frame 0", content_hash=f"self-{clip}")
    else:
        avatar = load_avatar(MEDIA / photo, working_size=config.output.size)
    animator = animator_from_config(config, engine="mesh")  # every engine.* and motion override applies
    processor = FrameProcessor(config, animator, animator.prepare(avatar))
    angles = None
    if turn:
        observations, angles = turn_driver(avatar.face, float(clip.split(":")[1]))
        frames = [None] * len(observations)
    tag = f"{Path(photo).stem}_{Path(clip).stem}".replace(":", "")
    folder = work / tag
    folder.mkdir(parents=True, exist_ok=True)
    avatar_file = str(folder / "avatar.png")
    cv2.imwrite(avatar_file, cv2.cvtColor(avatar.image, cv2.COLOR_RGB2BGR))
    indices, d_files, o_files, render_ms = [], [], [], []
    out_mp = Measures()
    still = Measures()
    measure_mediapipe(meter, avatar.image, still)
    sheet_at = set(np.linspace(0, len(frames) - 1, sheet_columns).round().astype(int).tolist())
    sheet = []
    near: dict[str, list[float]] = {avatar_file: list(avatar.face.box)}
    drv_mp = driver_cache.setdefault(clip, {})
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        result = processor.process(frame, observations[i], now=i / fps)
        render_ms.append((time.perf_counter() - t0) * 1e3)
        if i % stride and i not in sheet_at:
            continue
        out = result.avatar_frame
        if i % stride == 0:
            indices.append(i)
            o_file = folder / f"out_{i:05d}.png"
            cv2.imwrite(str(o_file), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
            o_files.append(str(o_file))
            t = result.target_landmarks
            near[str(o_file)] = [float(t[:, 0].min()), float(t[:, 1].min()), float(t[:, 0].max()), float(t[:, 1].max())]
            if turn:
                measure_mediapipe(meter, out, out_mp)
                continue
            d_file = work / "drivers" / Path(clip).stem / f"drv_{i:05d}.png"
            if not d_file.exists():
                d_file.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(d_file), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            d_files.append(str(d_file))
            if observations[i] is not None:
                near[str(d_file)] = list(observations[i].box)
            measure_mediapipe(meter, out, out_mp)
            if i not in drv_mp:
                m = Measures()
                measure_mediapipe(meter, frame, m)
                drv_mp[i] = m
        if i in sheet_at and observations[i] is not None and frame is not None:
            sheet.append(SheetFrame(f"#{i}", frame, observations[i].landmarks, out, result.target_landmarks))
    driver = Measures()
    if turn:
        truth = [angles[i][0] for i in indices]
        for y in truth:
            driver.add_missing()
            driver.yaw[-1] = y
        return PairRun(photo, clip, indices, [], o_files, avatar_file, driver, out_mp, None, sheet, render_ms, near,
                       truth)
    for i in indices:
        m = drv_mp[i]
        for name in ("mouth", "eyes", "yaw", "luma", "seam", "points", "ocular"):
            getattr(driver, name).append(getattr(m, name)[0])
    still_points = still.points[0] if photo == "self" else None
    return PairRun(photo, clip, indices, d_files, o_files, avatar_file, driver, out_mp, still_points, sheet,
                   render_ms, near)


# ---- scoring ---------------------------------------------------------------------------------
def _arr(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def score(driver: Measures, output: Measures, *, open_threshold: float, self_still: np.ndarray | None,
          turning: bool | None = None) -> dict:
    d_eyes, o_eyes = _arr(driver.eyes), _arr(output.eyes)
    right, left = M.per_eye_correlation(d_eyes, o_eyes)
    d_yaw, o_yaw = _arr(driver.yaw), _arr(output.yaw)
    ok = np.isfinite(d_yaw) & np.isfinite(o_yaw)
    yaw_range = float(np.percentile(d_yaw[ok], 95) - np.percentile(d_yaw[ok], 5)) if ok.sum() > 3 else math.nan
    # Yaw change against the first frame measured in both (the calibration frame).
    err = math.nan
    if ok.any():
        first = int(np.nonzero(ok)[0][0])
        err = float(np.mean(np.abs((o_yaw[ok] - o_yaw[first]) - (d_yaw[ok] - d_yaw[first]))))
    mouth_open = _arr(driver.mouth) > open_threshold
    seam_o, seam_d = _arr(output.seam), _arr(driver.seam)
    both = mouth_open & np.isfinite(seam_o) & np.isfinite(seam_d)
    out = {
        "frames": len(driver.mouth),
        "found": float(np.mean(np.isfinite(_arr(output.mouth)))),
        "mouth_corr": M.pearson(_arr(driver.mouth), _arr(output.mouth)),
        "eye_corr_right": right,
        "eye_corr_left": left,
        "eye_corr": float(np.nanmean([right, left])) if np.isfinite([right, left]).any() else math.nan,
        "yaw_corr": M.pearson(d_yaw, o_yaw),
        "yaw_gain": M.yaw_gain(d_yaw, o_yaw),
        "driver_yaw_range": yaw_range,
        "yaw_error": err,
        "turning": bool(yaw_range >= TURNING_DEG) if turning is None else turning,
        "mouth_brightness": M.brightness_ratio(_arr(output.luma), _arr(driver.luma), mouth_open),
        "open_frames": int(mouth_open.sum()),
        "seam_ratio": float(np.mean(seam_o[both]) / np.mean(seam_d[both])) if both.any() else math.nan,
        "closed_output_mouth": float(np.nanmedian(_arr(output.mouth)[~mouth_open])) if (~mouth_open).any() else math.nan,
        "closed_driver_mouth": float(np.nanmedian(_arr(driver.mouth)[~mouth_open])) if (~mouth_open).any() else math.nan,
    }
    if self_still is not None:
        errs, still_errs = [], []
        for k, (p_out, p_drv) in enumerate(zip(output.points, driver.points)):
            if k == 0 or p_out is None or p_drv is None:
                continue
            unit = driver.ocular[k]
            errs.append(np.linalg.norm(p_out - p_drv, axis=1).mean() / unit)
            still_errs.append(np.linalg.norm(self_still - p_drv, axis=1).mean() / unit)
        out["mouth_error_vs_still"] = float(np.mean(errs) / np.mean(still_errs)) if errs else math.nan
    return out


def series(driver: Measures, output: Measures) -> dict:
    """The per-frame readings behind a pair's scores (NaN where no face was found), for looking into
    one pair without rendering it again: mouth opening, eye openings (right, left), yaw in degrees."""
    return {f"{who}_{name}": _arr(getattr(m, name)).tolist()
            for who, m in (("driver", driver), ("output", output)) for name in ("mouth", "eyes", "yaw")}


def agreement(mediapipe: Measures, dlib: Measures) -> dict:
    """Correlation of the two trackers' readings of the same driver frames: mouth opening and the
    eyes' mean opening (each tracker's own measure, as ``score`` uses them)."""
    return {"mouth": M.pearson(_arr(mediapipe.mouth), _arr(dlib.mouth)),
            "eyes": M.pearson(_arr(mediapipe.eyes).mean(1), _arr(dlib.eyes).mean(1))}


def run_dlib(python: str, jobs: list[dict], work: Path) -> list[dict]:
    jobs_path, out_path = work / "dlib_jobs.json", work / "dlib_results.json"
    json.dump(jobs, open(jobs_path, "w"))
    script = Path(__file__).with_name("dlib68.py")
    subprocess.run([python, str(script), str(jobs_path), str(out_path)], check=True)
    return json.load(open(out_path))


def summarise(rows: list[dict], tracker: str) -> None:
    cross = [r for r in rows if r["photo"] != "self"]
    selfs = [r for r in rows if r["photo"] == "self"]

    def stats(key: str, items: list[dict], goal) -> str:
        v = np.array([r[tracker][key] for r in items], dtype=np.float64)
        v = v[np.isfinite(v)]
        if not v.size:
            return f"{key:24s} n/a"
        at = int(sum(goal(x) for x in v))
        return f"{key:24s} mean {v.mean():7.3f}  worst {v.min() if key.endswith('corr') else v.max():7.3f}  range [{v.min():.2f}, {v.max():.2f}]  at goal {at}/{v.size}"

    print(f"\n== {tracker} ==  cross-identity pairs: {len(cross)}, self-reenactment: {len(selfs)}")
    both = cross + selfs
    print(stats("mouth_corr", both, lambda x: x >= 0.9))
    print(stats("eye_corr", both, lambda x: x >= 0.7))
    print(stats("yaw_corr", both, lambda x: x >= 0.9))
    turning = [r for r in both if r[tracker]["turning"]]
    print(stats("yaw_corr", turning, lambda x: x >= 0.9).replace("yaw_corr   ", "  (turning)"))
    v = np.array([r[tracker]["yaw_gain"] for r in turning], dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size:
        print(f"{'yaw_gain (turning)':24s} range [{v.min():.2f}, {v.max():.2f}]  within 0.8–1.2: {int(((v >= 0.8) & (v <= 1.2)).sum())}/{v.size}")
    if turning:
        e = np.array([r[tracker]["yaw_error"] for r in turning])
        print(f"{'yaw_error (turning)':24s} mean {np.nanmean(e):.2f}°  worst {np.nanmax(e):.2f}°  ≤2°: {int((e <= 2).sum())}/{len(e)}")
    b = np.array([r[tracker]["mouth_brightness"] for r in both], dtype=np.float64)
    b = b[np.isfinite(b)]
    if b.size:
        print(f"{'mouth_brightness':24s} mean |ratio-1| {np.mean(np.abs(b - 1)) * 100:.0f} %  range [{b.min():.2f}, {b.max():.2f}]  within 20 %: {int((np.abs(b - 1) <= 0.2).sum())}/{b.size}")
    print(stats("seam_ratio", both, lambda x: x <= 1.3))
    if tracker == "dlib":
        ids = np.array([r.get("identity", math.nan) for r in cross], dtype=np.float64)
        ids = ids[np.isfinite(ids)]
        if ids.size:
            print(f"{'identity_distance':24s} mean {ids.mean():.3f}  worst {ids.max():.3f}  ≤0.40: {int((ids <= 0.4).sum())}/{ids.size}")
    if tracker == "dlib":
        for key, score_key, goal in (("mouth", "mouth_corr", 0.9), ("eyes", "eye_corr", 0.7)):
            missed = [r for r in both if "agreement" in r and r[tracker][score_key] < goal]
            under = sum(r[tracker][score_key] >= r["agreement"][key] - 0.05 for r in missed)
            print(f"{key + ' misses':24s} {len(missed)}, of which {under} within 0.05 of (or above) the trackers' own"
                  f" agreement on the driver")
    m = np.array([r[tracker].get("mouth_error_vs_still", math.nan) for r in selfs], dtype=np.float64)
    m = m[np.isfinite(m)]
    if m.size:
        print(f"{'self mouth err / still':24s} range [{m.min() * 100:.1f} %, {m.max() * 100:.1f} %]  ≤10 %: {int((m <= 0.1).sum())}/{m.size}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", default=",".join(DEFAULT_PAIRS), help="comma-separated photo:clip (photo 'self' = the clip's first frame)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: whole clip)")
    p.add_argument("--measured", type=int, default=150, help="frames measured per pair (evenly strided)")
    p.add_argument("--out", default="/tmp/mesh_quality", help="output folder (frames, sheets, results.json)")
    p.add_argument("--dlib-python", default="/tmp/dlibvenv/bin/python", help="python of the side venv with dlib ('' to skip)")
    p.add_argument("--sheet-columns", type=int, default=12)
    p.add_argument("--set", action="append", default=[], help="config override key=value (e.g. motion.pose_strength=1)")
    ns = p.parse_args(argv)
    work = Path(ns.out)
    work.mkdir(parents=True, exist_ok=True)
    overrides: dict = {}
    for item in ns.set:
        key, value = item.split("=", 1)
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    config = with_overrides(LiveHeadConfig(), overrides)
    pairs = [tuple(x.split(":", 1)) for x in ns.pairs.split(",") if x]
    meter = FaceTracker(static_image_mode=True, max_faces=1)
    clips: dict[str, tuple] = {}
    driver_cache: dict = {}
    runs: list[PairRun] = []
    for photo, clip in pairs:
        if clip.startswith("turn:"):
            clips[clip] = ([], TURN_FPS, [])
        elif clip not in clips:
            frames, fps = read_clip(MEDIA / clip, ns.frames)
            with FaceTracker(static_image_mode=False, max_faces=1) as tracker:
                observations = [tracker.track(f, i / fps) for i, f in enumerate(frames)]
            clips[clip] = (frames, fps, observations)
        frames, fps, observations = clips[clip]
        stride = max(1, (len(frames) or int(6 * TURN_FPS)) // ns.measured)
        t0 = time.perf_counter()
        run = run_pair(photo, clip, frames, fps, observations, config, work, stride, meter, driver_cache,
                       ns.sheet_columns)
        runs.append(run)
        print(f"{photo} × {clip}: {len(frames)} frames, {len(run.indices)} measured, render median "
              f"{np.median(run.render_ms):.1f} ms, {time.perf_counter() - t0:.0f} s", flush=True)
        if run.sheet:
            sheet = contact_sheet(run.sheet, title=f"{photo} driven by {clip}")
            cv2.imwrite(str(work / f"sheet_{Path(photo).stem}_{Path(clip).stem}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        clips_left = {c for _, c in pairs[len(runs):]}
        if clip not in clips_left:
            clips.pop(clip, None)
    meter.close()

    rows = []
    dlib_results = None
    if ns.dlib_python:
        jobs, seen = [], {}
        for run in runs:
            for f in [run.avatar_file, *run.driver_files, *run.output_files]:
                if f not in seen:
                    seen[f] = len(jobs)
                    is_out = "/out_" in f
                    jobs.append({"image": f, "near": run.near.get(f),
                                 "embed": f == run.avatar_file or (is_out and run.output_files.index(f) % 10 == 0)})
        t0 = time.perf_counter()
        results = run_dlib(ns.dlib_python, jobs, work)
        print(f"dlib measured {len(jobs)} images in {time.perf_counter() - t0:.0f} s")
        dlib_results = (seen, results)
    for run in runs:
        row = {"photo": run.photo, "clip": run.clip, "render_ms_median": float(np.median(run.render_ms)),
               "frames": list(map(int, run.indices)), "series": {"mediapipe": series(run.driver_mp, run.output_mp)}}
        self_still = run.still_points_mp
        row["mediapipe"] = score(run.driver_mp, run.output_mp, open_threshold=OPEN_MOUTH_MP, self_still=self_still)
        if dlib_results is not None:
            seen, results = dlib_results
            drv, out = Measures(), Measures()
            if run.truth_yaw is not None:
                drv = run.driver_mp
            for f in run.driver_files:
                measure_dlib(results[seen[f]], cv2.imread(f)[:, :, ::-1], drv)
            for f in run.output_files:
                measure_dlib(results[seen[f]], cv2.imread(f)[:, :, ::-1], out)
            still = None
            if run.photo == "self":
                s = Measures()
                measure_dlib(results[seen[run.avatar_file]], cv2.imread(run.avatar_file)[:, :, ::-1], s)
                still = s.points[0]
            # Whether the head turns is the MediaPipe driver's call: dlib's yaw is noisier and
            # would count talking heads as turning.
            row["series"]["dlib"] = series(drv, out)
            row["dlib"] = score(drv, out, open_threshold=OPEN_MOUTH, self_still=still,
                                turning=row["mediapipe"]["turning"])
            if run.truth_yaw is None:
                row["agreement"] = agreement(run.driver_mp, drv)
            emb_photo = results[seen[run.avatar_file]].get("embedding")
            dists = [np.linalg.norm(np.asarray(results[seen[f]]["embedding"]) - np.asarray(emb_photo))
                     for f in run.output_files if emb_photo is not None and results[seen[f]].get("embedding")]
            row["identity"] = float(np.mean(dists)) if dists else math.nan
        rows.append(row)
        d = row.get("dlib", {})
        print(f"{run.photo:28s} {run.clip:44s} mp: mouth {row['mediapipe']['mouth_corr']:.2f} eye {row['mediapipe']['eye_corr']:.2f} "
              f"yaw {row['mediapipe']['yaw_corr']:.2f} gain {row['mediapipe']['yaw_gain']:.2f} bright {row['mediapipe']['mouth_brightness']:.2f} | "
              f"dlib: mouth {d.get('mouth_corr', math.nan):.2f} eye {d.get('eye_corr_right', math.nan):.2f}/{d.get('eye_corr_left', math.nan):.2f} "
              f"yaw {d.get('yaw_corr', math.nan):.2f} gain {d.get('yaw_gain', math.nan):.2f} err {d.get('yaw_error', math.nan):.1f} "
              f"bright {d.get('mouth_brightness', math.nan):.2f} seam {d.get('seam_ratio', math.nan):.2f} "
              f"id {row.get('identity', math.nan):.2f} closed {d.get('closed_output_mouth', math.nan):.3f}/{d.get('closed_driver_mouth', math.nan):.3f}"
              + (f" self {d.get('mouth_error_vs_still', math.nan) * 100:.1f}%" if run.photo == "self" else "")
              + (f" | trackers on driver: mouth {row['agreement']['mouth']:.2f} eye {row['agreement']['eyes']:.2f}"
                 if "agreement" in row else ""))
    json.dump(rows, open(work / "results.json", "w"), indent=1, default=float)
    summarise(rows, "mediapipe")
    if dlib_results is not None:
        summarise(rows, "dlib")
    return 0


if __name__ == "__main__":
    sys.exit(main())
