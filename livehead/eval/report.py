"""Files of ``livehead eval``: ``eval.json`` (every number) and ``report.html`` (for people).

Layout of the output folder::

    eval.json           every number, see ``JSON_NOTES``
    report.html         tables, plots and frames; opens offline (no scripts, no web fonts)
    plots/*.png         per-clip matplotlib plots, referenced by report.html
    frames/*.jpg        side-by-side frames, referenced by report.html
    sheets/*.png        contact sheets (face, mouth, eyes of driver and output, frame by frame)

JSON cannot hold NaN or infinity, so a number that could not be measured is ``null`` (the reason
is next to it: ``engines[...].reason``, ``identity_metric.reason``, ``n`` counts in summaries) and
an infinite PSNR (identical images) is the string ``"inf"``.

The HTML shows frames of the evaluated people: keep reports internal when the media's terms say
so (``../shared/media/README.md``).
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livehead.eval.methods import NO_SMOOTHING, STILL
from livehead.eval.stability import DRIVER
from livehead.eval.types import EvalResult, Strip

__all__ = [
    "CROSS_COLUMNS", "JSON_NOTES", "METRICS", "SCALE", "SELF_COLUMNS", "STABILITY_COLUMNS", "json_ready", "write_json",
    "write_report",
]

JSON_NOTES = "null = not measurable (see reasons and n counts); \"inf\" = identical images (PSNR)"

# key -> (column label, format, better direction ("low", "high" or None), meaning)
METRICS: dict[str, tuple[str, str, str | None, str]] = {
    "l1": ("L1", "{:.4f}", "low", "mean |output − real| on [0, 1], frames 1… (frame 0 is the avatar)"),
    "psnr": ("PSNR dB", "{:.2f}", "high", "peak signal-to-noise ratio against the real frame"),
    "ssim": ("SSIM", "{:.3f}", "high", "structural similarity (Gaussian σ 1.5) against the real frame"),
    "akd": ("AKD", "{:.4f}", "low", "mean distance of all 478 landmarks (output vs real), in face sizes "
                                    "(≈ inter-ocular distance)"),
    "mouth_akd": ("mouth AKD", "{:.4f}", "low", "AKD over the 40 lip landmarks only"),
    "pose_error_deg": ("pose err °", "{:.2f}", "low", "angle between the driver's head-rotation change and the "
                                                      "output's (geodesic, degrees)"),
    "mouth_corr": ("mouth r", "{:.3f}", "high", "Pearson correlation of mouth opening, driver vs output "
                                               "(n/a when the output never moves)"),
    "eye_corr": ("eye r", "{:.3f}", "high", "Pearson correlation of eye opening, driver vs output"),
    "eye_corr_right": ("R eye r", "{:.3f}", "high", "eye-opening correlation of the subject's right eye alone "
                                                    "(a wink shows in one eye)"),
    "eye_corr_left": ("L eye r", "{:.3f}", "high", "eye-opening correlation of the subject's left eye alone"),
    "yaw_corr": ("yaw r", "{:.3f}", "high", "Pearson correlation of head yaw (change since calibration), driver vs "
                                            "output"),
    "yaw_gain": ("yaw gain", "{:.2f}", None, "output yaw range / driver's (5–95 %): 1 = turns as far as the driver; "
                                             "n/a when the driver turns less than 2°"),
    "mouth_brightness_ratio": ("mouth luma", "{:.2f}", None, "mean brightness inside the output's inner lips / the "
                                                             "driver's, on frames where the driver's mouth is open: "
                                                             "1 = as bright (teeth where the driver shows teeth), "
                                                             "low = a dark hole"),
    "mouth_seam_ratio": ("mouth seam", "{:.2f}", None, "edge strength on the inner lip line (relative to the lips "
                                                       "around it), output / driver, open-mouth frames: well above 1 "
                                                       "= a pasted outline, well below = a smear"),
    "identity_distance": ("identity dist", "{:.3f}", "low", "dlib 128-d face-embedding distance to the real "
                                                            "frame (self) or the photo (cross); < 0.6 = same person"),
    "same_person_rate": ("same person", "{:.0%}", "high", "share of sampled frames with identity distance < 0.6"),
    "face_missing_rate": ("face lost", "{:.1%}", "low", "frames where the tracker finds the real face but not the "
                                                       "output's"),
    "render_ms_median": ("ms/frame", "{:.1f}", None, "median smoothing + transfer + render + compose time during "
                                                     "eval (not a benchmark: use livehead bench)"),
    "jitter_still": ("jitter ‰", "{:.2f}", "low", "landmark movement per frame during still segments, in "
                                                  "thousandths of the face size"),
    "pixel_change_still": ("pixel Δ", "{:.2f}", "low", "mean |frame − previous frame| (0–255) in the face region "
                                                       "during still segments"),
}
SCALE = {"jitter_still": 1000.0}  # shown ×1000 (‰ of the face size); JSON keeps raw fractions


def json_ready(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones, NaN as None and ±inf as "inf"/"-inf" (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(data: dict[str, Any], path: Path) -> None:
    """Strict JSON (``allow_nan=False``): parsers in any language read it."""
    payload = json_ready({**data, "notes": JSON_NOTES})
    Path(path).write_text(json.dumps(payload, indent=1, allow_nan=False), encoding="utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


# ---- plots -----------------------------------------------------------------------------------
def _series(values: list[Any]) -> np.ndarray:
    return np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _shade_still(ax, still: list[bool]) -> None:
    start = None
    for i, s in enumerate(list(still) + [False]):
        if s and start is None:
            start = i
        elif not s and start is not None:
            ax.axvspan(start, i - 1, color="0.9", lw=0)
            start = None


def _self_plot(clip: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    truth = clip["series"]["truth"]
    methods = clip["series"]["methods"]
    fig = Figure(figsize=(10, 8.2), dpi=90, layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    x = np.arange(len(truth["mouth"]))
    panels = [("mouth opening (canonical units)", "mouth", True), ("mouth AKD (face sizes)", "mouth_akd", False),
              ("PSNR (dB)", "psnr", False), ("pose error (°)", "pose_error_deg", False)]
    for ax, (title, key, with_truth) in zip(axes, panels):
        _shade_still(ax, truth["still"])
        if with_truth:
            ax.plot(x, _series(truth["mouth"]), color="black", lw=2, label="real clip")
        for name, s in methods.items():
            if key in s:
                y = _series(s[key])
                y[~np.isfinite(y)] = np.nan
                ax.plot(np.arange(len(y)), y, lw=1.2, label=name, ls="--" if name.endswith(NO_SMOOTHING) else "-")
        ax.set_ylabel(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=4, loc="upper right")
    axes[-1].set_xlabel("frame (grey: still segments)")
    fig.suptitle(f"Self-reenactment: {clip['clip']}")
    fig.savefig(path)


def _cross_plot(clip_name: str, pairs: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7.5), dpi=90, layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    driver = pairs[0]["series"]["driver"]
    ypr = driver["yaw_pitch_roll_delta"]
    x = np.arange(len(ypr))
    rows = [("yaw change (°)", 0), ("pitch change (°)", 1)]
    for ax, (label, k) in zip(axes[:2], rows):
        ax.plot(x, [math.nan if v is None else v[k] for v in ypr], color="black", lw=2, label="driver")
        ax.set_ylabel(label, fontsize=9)
    axes[2].plot(x, _series(driver["mouth"]), color="black", lw=2, label="driver")
    axes[2].set_ylabel("mouth opening", fontsize=9)
    for pair in pairs:
        for name, s in pair["series"]["methods"].items():
            if name == STILL:
                continue
            label = f"{pair['photo']} ({name})"
            d = s["yaw_pitch_roll_delta"]
            for ax, (_, k) in zip(axes[:2], rows):
                ax.plot(np.arange(len(d)), [math.nan if v is None else v[k] for v in d], lw=1, label=label)
            axes[2].plot(np.arange(len(s["mouth"])), _series(s["mouth"]), lw=1, label=label)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2, loc="upper right")
    axes[-1].set_xlabel("frame")
    fig.suptitle(f"Cross-identity: photos driven by {clip_name} (measured on the output)")
    fig.savefig(path)


def _strip_image(strip: Strip, height: int = 240) -> np.ndarray:
    """Images side by side at one height, each with its label on a white band above."""
    tiles = []
    for label, image in zip(strip.labels, strip.images):
        h, w = image.shape[:2]
        tile = cv2.resize(image, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)
        band = np.full((24, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(band, label[: max(4, tile.shape[1] // 8)], (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        tiles.append(np.vstack([band, tile]))
        tiles.append(np.full((height + 24, 4, 3), 255, np.uint8))
    return np.hstack(tiles[:-1])


# ---- HTML ------------------------------------------------------------------------------------
def _cell(key: str, value: Any, best: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td class="na" title="not measurable">n/a</td>'
    if value in ("inf", math.inf):
        return "<td>∞</td>"
    if key in METRICS and isinstance(value, (int, float)):
        text = METRICS[key][1].format(value * SCALE.get(key, 1.0))
    else:
        text = html.escape(str(value))
    return f'<td class="best">{text}</td>' if best else f"<td>{text}</td>"


def _best(rows: dict[str, dict[str, Any]], key: str, skip: tuple[str, ...]) -> str | None:
    better = METRICS.get(key, ("", "", None, ""))[2]
    vals = {n: r.get(key) for n, r in rows.items() if n not in skip}
    vals = {n: v for n, v in vals.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if better is None or len(vals) < 2:
        return None
    pick = min if better == "low" else max
    return pick(vals, key=vals.get)


def _table(rows: dict[str, dict[str, Any]], keys: tuple[str, ...], *, first: str = "method",
           skip_best: tuple[str, ...] = (STILL,)) -> str:
    keys = tuple(k for k in keys if any(k in r for r in rows.values()))
    head = "".join(
        f'<th title="{html.escape(METRICS[k][3])}">{html.escape(METRICS[k][0])}'
        f'{" ↓" if METRICS[k][2] == "low" else " ↑" if METRICS[k][2] == "high" else ""}</th>'
        for k in keys
    )
    best = {k: _best(rows, k, skip_best) for k in keys}
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(_cell(k, r.get(k), best[k] == name) for k in keys) + "</tr>"
        for name, r in rows.items()
    )
    return f'<table><tr><th>{html.escape(first)}</th>{head}</tr>{body}</table>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.6em} h2{margin-top:2em;border-bottom:1px solid #ccc} h3{margin-top:1.4em}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child{text-align:left} tr:nth-child(even){background:#fafafa} td.best{font-weight:bold;background:#e8f5e9}
td.na{color:#999} .note{color:#555;font-size:.9em} img{max-width:100%;border:1px solid #eee;margin:4px 0}
code{background:#f3f3f3;padding:1px 4px} dl dt{font-weight:bold;margin-top:6px} dl dd{margin-left:16px}
"""

SELF_COLUMNS = ("l1", "psnr", "ssim", "akd", "mouth_akd", "pose_error_deg", "mouth_corr", "eye_corr",
                "eye_corr_right", "eye_corr_left", "yaw_corr", "yaw_gain", "mouth_brightness_ratio",
                "mouth_seam_ratio", "identity_distance", "face_missing_rate", "render_ms_median")
CROSS_COLUMNS = ("pose_error_deg", "mouth_corr", "eye_corr", "eye_corr_right", "eye_corr_left", "yaw_corr",
                 "yaw_gain", "mouth_brightness_ratio", "mouth_seam_ratio", "identity_distance", "same_person_rate",
                 "face_missing_rate")
STABILITY_COLUMNS = ("jitter_still", "pixel_change_still")


def _html(data: dict[str, Any], plots: dict[str, list[str]], frames: list[tuple[str, str]],
          sheets: list[tuple[str, str]] = ()) -> str:
    e = html.escape
    s = data["settings"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>LiveHead eval</title><style>{_CSS}</style>"
             "</head><body>", "<h1>LiveHead evaluation</h1>"]
    parts.append(
        f"<p class='note'>{e(data['created'])} · {e(str(data['machine'].get('platform')))} · "
        f"{data['machine'].get('cpu_count')} CPUs · took {data['duration_s']:.0f} s · output size "
        f"{s['size'][0]}×{s['size'][1]} · frames per clip: {s['frames'] or 'all'}. "
        "Bold = best engine in the column (the still baseline is not ranked). Hover a header for its meaning.</p>"
    )
    rows = []
    for name, info in data["engines"].items():
        what = info.get("describe") or {}
        status = "available" if info["available"] else f"unavailable: {e(str(info['reason']))}"
        rows.append(f"<tr><th>{e(name)}</th><td style='text-align:left'>{status}</td>"
                    f"<td style='text-align:left'>{e(' · '.join(str(v) for v in what.values()))}</td></tr>")
    parts.append("<h2>Engines</h2><table><tr><th>engine</th><th>status</th><th>running as</th></tr>"
                 + "".join(rows) + "</table>")
    ident = data["identity_metric"]
    parts.append("<p class='note'>Identity metric: " + (
        f"{e(str(ident['model']))}." if ident["available"] else f"unavailable ({e(str(ident['reason']))}).") + "</p>")

    sr = data["self_reenactment"]
    parts.append("<h2>Self-reenactment</h2><p class='note'>Each clip's first frame is the avatar; the clip drives "
                 "it and every later frame is compared with the real one. Mean over clips:</p>")
    parts.append(_table(sr["summary"], SELF_COLUMNS))
    for name, clip in sr["clips"].items():
        parts.append(f"<h3>{e(name)}</h3>")
        if clip.get("skipped"):
            parts.append(f"<p class='note'>Skipped: {e(clip['skipped'])}</p>")
            continue
        drv = clip["driver"]
        parts.append(f"<p class='note'>{clip['frames']} frames at {clip['size'][0]}×{clip['size'][1]}, "
                     f"{clip['still_frames']} still; the head turns {_num(drv.get('rotation_change_deg'))}° from "
                     f"the first frame on average.</p>")
        parts.append(_table(clip["methods"], SELF_COLUMNS))
        parts += [f"<img src='{e(p)}' alt='plot {e(name)}'>" for p in plots.get(f"self:{name}", [])]

    ci = data["cross_identity"]
    parts.append("<h2>Cross-identity</h2>")
    if ci["pairs"]:
        parts.append("<p class='note'>Every photo driven by every clip, measured on the output: head-rotation "
                     "change against the driver's, mouth and eye opening correlation, identity against the photo. "
                     "Mean over pairs:</p>")
        parts.append(_table(ci["summary"], CROSS_COLUMNS))
        for pair in ci["pairs"]:
            if pair.get("skipped"):
                parts.append(f"<p class='note'>{e(pair['photo'])} skipped: {e(pair['skipped'])}</p>")
                continue
            parts.append(f"<h3>{e(pair['photo'])} × {e(pair['clip'])}</h3>")
            parts.append(_table(pair["methods"], CROSS_COLUMNS))
        for clip_name, srcs in plots.items():
            if clip_name.startswith("cross:"):
                parts += [f"<img src='{e(p)}' alt='cross plot'>" for p in srcs]
    else:
        parts.append("<p class='note'>No photos given (or --no-cross).</p>")

    st = data["stability"]
    parts.append("<h2>Temporal stability</h2><p class='note'>During still segments of each clip (the real person "
                 "barely moves): how much the output still moves. Lower is steadier; the real video is the "
                 "reference, the still photo the floor. Mean over clips:</p>")
    parts.append(_table(st["summary"], STABILITY_COLUMNS, skip_best=(STILL, DRIVER)))
    for name, clip in st["clips"].items():
        rows_ = {DRIVER: clip["driver"], **clip["methods"]}
        parts.append(f"<h3>{e(name)} ({clip['still_frames']} still frames)</h3>")
        parts.append(_table(rows_, STABILITY_COLUMNS, skip_best=(STILL, DRIVER)))

    if frames:
        parts.append("<h2>Frames</h2>")
        parts += [f"<p class='note'>{e(caption)}</p><img src='{e(p)}' alt='{e(caption)}'>" for p, caption in frames]

    if sheets:
        parts.append("<h2>Contact sheets</h2><p class='note'>Face, mouth and eyes of the driver (upper row) and "
                     "the output (lower row), frame by frame: the widest mouth, each eye's most closed frame, the "
                     "largest turns either way, then frames spread over the clip.</p>")
        parts += [f"<p class='note'>{e(caption)}</p><img src='{e(p)}' alt='{e(caption)}'>" for p, caption in sheets]

    parts.append("<h2>What the numbers mean</h2><dl>")
    parts += [f"<dt>{e(v[0])}</dt><dd>{e(v[3])}</dd>" for v in METRICS.values()]
    parts.append("</dl><p class='note'>Landmarks and head pose of real and generated frames are measured by the same "
                 "MediaPipe FaceMesh in static-image mode. Full numbers, per-frame series included: eval.json.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _num(v: Any) -> str:
    return "n/a" if not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:.1f}"


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write eval.json, report.html, plots/ and frames/ into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "sheets").mkdir(parents=True, exist_ok=True)
    data = result.data
    plots: dict[str, list[str]] = {}
    for name, clip in data["self_reenactment"]["clips"].items():
        if clip.get("skipped") or not clip["series"].get("methods"):
            continue
        rel = f"plots/self_{_slug(name)}.png"
        _self_plot(clip, out / rel)
        plots.setdefault(f"self:{name}", []).append(rel)
    by_clip: dict[str, list[dict]] = {}
    for pair in data["cross_identity"]["pairs"]:
        if not pair.get("skipped") and pair["series"]["methods"]:
            by_clip.setdefault(pair["clip"], []).append(pair)
    for clip_name, pairs in by_clip.items():
        rel = f"plots/cross_{_slug(clip_name)}.png"
        _cross_plot(clip_name, pairs, out / rel)
        plots.setdefault(f"cross:{clip_name}", []).append(rel)
    frames = []
    for strip in result.strips:
        stem = f"{strip.kind}_{_slug(strip.clip)}" + (f"_{_slug(strip.photo)}" if strip.photo else "")
        rel = f"frames/{stem}_{strip.frame:05d}.jpg"
        bgr = cv2.cvtColor(_strip_image(strip), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / rel), bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
        what = "self-reenactment" if strip.kind == "self" else f"cross-identity, photo {strip.photo}"
        frames.append((rel, f"{strip.clip}, frame {strip.frame} ({what})"))
    sheets = []
    for sheet in result.sheets:
        stem = f"{sheet.kind}_{_slug(sheet.clip)}" + (f"_{_slug(sheet.photo)}" if sheet.photo else "")
        rel = f"sheets/{stem}_{_slug(sheet.method)}.png"
        cv2.imwrite(str(out / rel), cv2.cvtColor(sheet.image, cv2.COLOR_RGB2BGR))
        what = "self-reenactment" if sheet.kind == "self" else f"photo {sheet.photo}"
        sheets.append((rel, f"{sheet.method}: {sheet.clip} ({what})"))
    data = {**data, "files": {"plots": [p for v in plots.values() for p in v], "frames": [f for f, _ in frames],
                              "sheets": [f for f, _ in sheets]}}
    json_path, html_path = out / "eval.json", out / "report.html"
    write_json(data, json_path)
    html_path.write_text(_html(json_ready(data), plots, frames, sheets), encoding="utf-8")
    return {"json": json_path, "html": html_path, "dir": out}
