"""Overlays for the preview (and, with ``--overlay-on-output``, the virtual camera).

Pure drawing functions: each takes an ``(H, W, 3) uint8`` RGB image and returns a new image of
the same shape; the input is never modified. Colours are RGB tuples. Text uses OpenCV's Hershey
font, which draws ASCII only, and scales with the image height so a 1080p preview and a 480p
test frame read alike. What the help overlay and the calibration prompt list comes from the
keymap (see :mod:`livehead.ui.keymap`), never from a hand-written list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from livehead.ui.controls import ControlState
from livehead.ui.keymap import help_rows, keys_for, modifiers_label

__all__ = [
    "OverlayInputs",
    "decorate",
    "draw_fps",
    "draw_calibration_prompt",
    "draw_ghost",
    "draw_help",
    "draw_landmarks",
    "draw_stats",
    "calibration_prompt_text",
]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
GREEN = (80, 220, 100)
YELLOW = (255, 210, 60)
RED = (255, 70, 70)
GREY = (190, 190, 190)

Row = Sequence[tuple[str, tuple[int, int, int]]]  # cells of one text row: (text, colour)


def _check_image(image: np.ndarray, name: str = "image") -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {got}")


def _font_scale(height: int) -> float:
    # 0.6 at 720p is readable from arm's length; never below 0.35, where Hershey turns to mush
    return max(0.35, 0.6 * height / 720.0)


_MIN_SCALE = 0.3


def _layout(rows: Sequence[Row], scale: float, column_gap: int | None) -> tuple[int, int, list[int], int, int, int, int, int]:
    """Pixel layout of a text table at ``scale``: box size, column widths, line metrics."""
    thickness = 1 if scale < 0.8 else 2
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    line_h = int(text_h + baseline + 6 * scale)
    pad = max(4, int(10 * scale))
    gap = column_gap if column_gap is not None else max(8, int(20 * scale))
    ncols = max(len(r) for r in rows)
    col_w = [0] * ncols
    for row in rows:
        for i, (text, _) in enumerate(row):
            col_w[i] = max(col_w[i], cv2.getTextSize(text, _FONT, scale, thickness)[0][0])
    box_w = sum(col_w) + gap * (ncols - 1) + 2 * pad
    box_h = line_h * len(rows) + 2 * pad
    return box_w, box_h, col_w, line_h, text_h, pad, gap, thickness


def _panel(
    image: np.ndarray,
    rows: Sequence[Row],
    *,
    anchor: str = "top-left",
    column_gap: int | None = None,
    alpha: float = 0.6,
) -> np.ndarray:
    """Draw a table of text cells on a translucent dark box; return a new image.

    ``anchor`` is ``"top-left"``, ``"top-right"`` or ``"bottom-center"``. Columns are aligned by
    the widest cell in each, because the Hershey font is proportional and spaces do not align.
    """
    out = image.copy()
    if not rows:
        return out
    h, w = out.shape[:2]
    scale = _font_scale(h)
    for _ in range(3):  # shrink the font until the panel fits (small previews, long help)
        box_w, box_h, *_ = _layout(rows, scale, column_gap)
        margin = max(4, int(12 * scale))
        fit = min((w - 2 * margin) / box_w, (h - 2 * margin) / box_h)
        if fit >= 1.0 or scale <= _MIN_SCALE:
            break
        scale = max(_MIN_SCALE, scale * fit)
    box_w, box_h, col_w, line_h, text_h, pad, gap, thickness = _layout(rows, scale, column_gap)
    margin = max(4, int(12 * scale))
    if anchor == "top-left":
        x0, y0 = margin, margin
    elif anchor == "top-right":
        x0, y0 = w - margin - box_w, margin
    elif anchor == "bottom-center":
        x0, y0 = (w - box_w) // 2, h - margin - box_h
    else:
        raise ValueError(f"anchor must be 'top-left', 'top-right' or 'bottom-center', got {anchor!r}")
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(w, x0 + box_w), min(h, y0 + box_h)
    if x1 > x0 and y1 > y0:
        region = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = (region.astype(np.float32) * (1.0 - alpha)).astype(np.uint8)
    for r, row in enumerate(rows):
        y = y0 + pad + r * line_h + text_h
        x = x0 + pad
        for i, (text, colour) in enumerate(row):
            cv2.putText(out, text, (x, y), _FONT, scale, colour, thickness, cv2.LINE_AA)
            x += col_w[i] + gap
    return out


def draw_stats(
    image: np.ndarray,
    *,
    fps: float,
    stage_ms: Mapping[str, float],
    engine: str,
    backend: str,
    device: str,
    precision: str,
    dropped_frames: int = 0,
    camera_lost: bool = False,
    notices: Sequence[str] = (),
) -> np.ndarray:
    """Stats overlay, top-left: fps, what is running, dropped frames, per-stage milliseconds.

    ``stage_ms`` maps stage name → milliseconds (e.g. ``{"tracking": 4.1, "render": 14.0}``),
    drawn in the given order with their sum. ``camera_lost`` adds a red warning row, and so does
    each of ``notices`` (e.g. "NO FACE FOR 5 S", "RECORD FAILED").
    """
    _check_image(image)
    rows: list[Row] = [
        [("fps", GREY), (f"{fps:.1f}", WHITE)],
        [("engine", GREY), (f"{engine} / {backend} / {device} / {precision}", WHITE)],
        [("dropped", GREY), (str(dropped_frames), YELLOW if dropped_frames else WHITE)],
    ]
    for stage, ms in stage_ms.items():
        rows.append([(stage, GREY), (f"{ms:.1f} ms", WHITE)])
    if stage_ms:
        rows.append([("total", GREY), (f"{sum(stage_ms.values()):.1f} ms", WHITE)])
    if camera_lost:
        rows.append([("CAMERA LOST", RED), ("reconnecting...", RED)])
    rows += [[(notice, RED)] for notice in notices]
    return _panel(image, rows, anchor="top-left")


def draw_fps(image: np.ndarray, fps: float, notices: Sequence[str] = ()) -> np.ndarray:
    """The small always-on preview label, top-left: output frames per second, and ``notices`` in red
    below it (what the user must know even with the stats overlay off)."""
    _check_image(image)
    return _panel(image, [[(f"{fps:4.1f} fps", WHITE)], *[[(n, RED)] for n in notices]], anchor="top-left")


def draw_help(image: np.ndarray, keymap: Mapping[str, str], *, global_modifiers: str = "") -> np.ndarray:
    """Help overlay, top-right: one row per bound action, generated from ``keymap``."""
    _check_image(image)
    rows: list[Row] = [[(keys, YELLOW), (text, WHITE)] for keys, text in help_rows(keymap)]
    if global_modifiers:
        rows.append([("", WHITE), (f"other apps focused: hold {modifiers_label(global_modifiers)} with the key", GREY)])
    return _panel(image, rows, anchor="top-right")


def draw_landmarks(
    image: np.ndarray,
    points: np.ndarray,
    *,
    colour: tuple[int, int, int] = GREEN,
    radius: int | None = None,
) -> np.ndarray:
    """Dots at ``points``: (N, 2) or (N, 3) float, x/y in pixels of ``image`` (z ignored).

    Convention: column 0 is x (to the right), column 1 is y (down). Points outside the image
    are skipped; non-finite rows too.
    """
    _check_image(image)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise ValueError(f"points must be (N, 2) or (N, 3), got shape {pts.shape}")
    out = image.copy()
    h, w = out.shape[:2]
    r = radius if radius is not None else max(1, round(h / 480))
    xy = pts[:, :2]
    keep = np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    for x, y in np.rint(xy[keep]).astype(int):
        cv2.circle(out, (int(x), int(y)), r, colour, -1, cv2.LINE_8)  # AA blurs 1-px dots into neighbours
    return out


def draw_ghost(frame: np.ndarray, avatar: np.ndarray, opacity: float) -> np.ndarray:
    """Blend ``avatar`` over ``frame`` at ``opacity`` (0 = frame only, 1 = avatar only).

    The avatar is scaled to fit inside the frame with its aspect ratio kept and centred, the way
    the output shows it, so the user can line their face up with the avatar's before calibrating.
    Outside the fitted area the frame is left as it is.
    """
    _check_image(frame, "frame")
    _check_image(avatar, "avatar")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    out = frame.copy()
    if opacity == 0.0:
        return out
    fh, fw = frame.shape[:2]
    ah, aw = avatar.shape[:2]
    s = min(fw / aw, fh / ah)
    tw, th = max(1, round(aw * s)), max(1, round(ah * s))
    fitted = avatar if (tw, th) == (aw, ah) else cv2.resize(avatar, (tw, th), interpolation=cv2.INTER_AREA)
    x0, y0 = (fw - tw) // 2, (fh - th) // 2
    region = out[y0 : y0 + th, x0 : x0 + tw]
    out[y0 : y0 + th, x0 : x0 + tw] = cv2.addWeighted(fitted, opacity, region, 1.0 - opacity, 0.0)
    return out


def calibration_prompt_text(keymap: Mapping[str, str]) -> str:
    """"Look at the camera and press X", naming whatever keys the keymap binds to calibrate."""
    keys = keys_for(keymap, "calibrate")
    if not keys:
        return "Look at the camera; no key is bound to calibrate (set one in [controls] keymap)"
    return "Look at the camera and press " + " or ".join(keys)


def draw_calibration_prompt(image: np.ndarray, keymap: Mapping[str, str]) -> np.ndarray:
    """The prompt shown until the first calibration, bottom-centre."""
    _check_image(image)
    return _panel(image, [[(calibration_prompt_text(keymap), YELLOW)]], anchor="bottom-center")


@dataclass(frozen=True)
class OverlayInputs:
    """What the overlays may show besides the output frame; cheap to build (nothing is drawn or composed yet).

    ``compositor`` places avatar-sized images and points in the output (``compose(image)``,
    ``to_output(points, image_size)``); ``target_landmarks`` are in avatar pixels (478, 3).
    """

    compositor: Any
    avatar: np.ndarray
    camera: np.ndarray | None = None
    target_landmarks: np.ndarray | None = None
    fps: float = 0.0
    stage_ms: Mapping[str, float] | None = None
    engine: Mapping[str, str] | None = None
    dropped_frames: int = 0
    camera_lost: bool = False
    notices: tuple[str, ...] = ()  # red lines: a failed sink, no face for a while, a face leaving the frame


def decorate(output: np.ndarray, control: ControlState, keymap: Mapping[str, str], inputs: OverlayInputs) -> np.ndarray:
    """The preview's view of ``output``: the overlays that ``control`` switched on, drawn in order
    (ghost, landmarks, stats or the fps label, help, calibration prompt)."""
    frame = output
    if control.ghost_opacity > 0 and inputs.camera is not None:
        frame = draw_ghost(inputs.compositor.compose(inputs.camera), inputs.compositor.compose(inputs.avatar),
                           control.ghost_opacity)
    if control.show_landmarks and inputs.target_landmarks is not None:
        image_size = inputs.avatar.shape[1::-1]
        frame = draw_landmarks(frame, inputs.compositor.to_output(inputs.target_landmarks, image_size))
    if control.show_stats:
        info = inputs.engine or {}
        frame = draw_stats(
            frame, fps=inputs.fps, stage_ms=inputs.stage_ms or {}, engine=info.get("engine", "?"),
            backend=info.get("backend", "?"), device=info.get("device", "?"), precision=info.get("precision", "?"),
            dropped_frames=inputs.dropped_frames, camera_lost=inputs.camera_lost, notices=inputs.notices,
        )
    else:
        frame = draw_fps(frame, inputs.fps, inputs.notices)
    if control.show_help:
        frame = draw_help(frame, keymap)
    if control.needs_calibration:
        frame = draw_calibration_prompt(frame, keymap)
    return frame
