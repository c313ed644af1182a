"""Engine ``mesh``: landmark-driven thin-plate-spline warp of the avatar photo. No weights needed.

Once per avatar (``prepare``): the photo's own neutral is made — its mouth closed if it shows
teeth or an open mouth (``lips.closing_map``) — and it is split into a person layer and a
background plate (``segmentation``), with control points on the head's outline (``head3d``).

Per frame (``render``): fit a TPS from the moved landmarks and outline points back to the
neutral's (plus the pinned image border), sample it every ``grid_step`` pixels (finer around lips
and eyes), ``cv2.remap`` only the region that moves, lay the warped person over the still plate,
close the eyelids (``eyes``) and draw the mouth interior inside the opening (``mouth``).

Why TPS on a coarse grid rather than a triangle mesh: TPS bends smoothly between sparse points,
so hair and neck near the face follow without visible triangle seams, and the cost is set by
the grid (≈ 2k samples at 720p with 16 px), not by the landmark count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.animators.mesh import eyeballs, eyes, lid_lines, mouth
from livehead.animators.mesh.head3d import (
    Outline,
    exposure,
    front_points,
    head_motion,
    head_outline,
    landmark_normals,
    move_outline,
    visibility,
)
from livehead.animators.mesh.lips import closing_map
from livehead.animators.mesh.segmentation import PERSON_FROM, Layers, split_layers
from livehead.animators.mesh.warp import (
    TPS_REGULARISATION,
    border_anchors,
    fit_tps,
    pixel_roi,
    remap,
    remap_region,
    tps_field,
)
from livehead.face import landmarks as lm
from livehead.face.expression import CLOSED_GAP, mouth_openness
from livehead.face.geometry import euler_from_rotation, rotation_from_euler, smoothstep
from livehead.stages.motion import avatar_neutral, to_local
from livehead.stages.tracking import person_mask

log = logging.getLogger(__name__)

# Landmarks that steer the warp: every contour that carries expression, plus enough of the face
# surface to keep it rigid. Using all 478 costs more and adds tracker noise for no visible gain.
CONTROL = tuple(
    sorted(
        set(
            lm.LIPS
            + lm.RIGHT_EYE
            + lm.LEFT_EYE
            + lm.RIGHT_IRIS
            + lm.LEFT_IRIS
            + lm.RIGHT_BROW
            + lm.LEFT_BROW
            + lm.FACE_OVAL
            + lm.NOSE
            + lm.CHEEKS
            + lm.CHIN_INNER
            + lm.RIGID
        )
    )
)
_RIGID = lm.as_index(lm.RIGID)
# Control points a turn of up to ~40° can hide: the outline and cheeks (turned away), and what
# lies beside the nose — nose wings, eye corners, brow ends, mouth corners. Lips, irises and chin
# stay in view; testing them every frame only costs time.
_HIDEABLE = lm.as_index(tuple(sorted(set(lm.FACE_OVAL + lm.CHEEKS + lm.NOSE + lm.RIGID + lm.RIGHT_EYE + lm.LEFT_EYE
                                        + lm.RIGHT_BROW + lm.LEFT_BROW + lm.MOUTH_CORNERS))))
_INNER_LIPS = set(lm.LIPS_UPPER_INNER + lm.LIPS_LOWER_INNER) - set(lm.INNER_MOUTH_CORNERS)
HIDDEN_REGULARISATION = 0.03  # TPS regularisation of a fully hidden control point: it no longer pulls
SMALL_FACE_PX = 100  # faces shorter than this animate, but with little detail in eyes and mouth
# Face height (forehead to chin) over the distance between the eye centres: 2.6–3.0 on the real
# photos we have (and in anthropometric tables); drawn and rendered characters have big eyes set
# wide apart on a short face (the 3D cartoon we have: 2.3).
STYLISED_FACE = 2.45


@dataclass
class MeshState:
    """Per-avatar cache: the closed-mouth neutral, its layers, and the warp's fixed points."""

    avatar: AvatarImage
    base: np.ndarray  # (H, W, 3) uint8 RGB: the photo with its mouth closed (the photo itself if it was)
    neutral: np.ndarray  # (478, 3) landmarks of ``base`` (motion.avatar_neutral)
    control: np.ndarray  # (K,) landmark indices
    source_points: np.ndarray  # (K + M + B, 2) neutral pixels: control landmarks, outline points, border
    anchors: np.ndarray  # (B, 2)
    outline: Outline | None  # head-outline points (None: segmentation off)
    layers: Layers | None  # person mask + background plate (None: segmentation off)
    person_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the person layer (the whole image without layers)
    tone: mouth.Tone  # the avatar's skin tone, for the mouth interior
    lip_tone: mouth.Tone | None  # the avatar's lip colour (mouth.lip_tone of the closed-mouth base)
    normals: np.ndarray  # (478, 3) outward surface normals of ``neutral`` (head3d.landmark_normals)
    hideable: np.ndarray  # (K,) bool: control points a head turn can hide (see _HIDEABLE)
    exposure: tuple  # head3d.exposure of the hideable control points and the outline points in the neutral
    lids: lid_lines.LidLines  # lid_lines.measure of the closed-mouth base
    eyeballs: eyeballs.Eyeballs  # eyeballs.measure of the closed-mouth base
    warnings: tuple[str, ...] = ()


class MeshAnimator:
    """The default engine: runs anywhere, needs no checkpoint."""

    name: ClassVar[str] = "mesh"

    def __init__(self, *, grid_step: int = 16, mouth_fill: str = "auto", segmentation: bool = True,
                 **_: object) -> None:
        if grid_step < 2:
            raise ValueError(f"grid_step must be ≥ 2 pixels, got {grid_step}")
        if mouth_fill not in ("auto", "driver", "synth", "none"):
            raise ValueError(f"mouth_fill must be auto, driver, synth or none, got {mouth_fill!r}")
        self.grid_step = grid_step
        self.mouth_fill = mouth_fill
        self.segmentation = segmentation
        # Each frame solves a ~300² system; multi-threaded BLAS only adds hand-off overhead at
        # that size (measured 3.6 ms on one thread vs 9.7 ms on two, with the tracker running).
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        cv2.setNumThreads(1)

    def describe(self) -> dict[str, str]:
        layers = "head over still background" if self.segmentation else "whole-photo warp"
        return {"engine": "mesh", "backend": "opencv", "device": "cpu", "precision": "fp32",
                "detail": f"TPS grid {self.grid_step}px, mouth fill {self.mouth_fill}, {layers}"}

    # ---- per avatar ------------------------------------------------------------------------
    def prepare(self, avatar: AvatarImage) -> MeshState:
        h, w = avatar.image.shape[:2]
        control = lm.as_index(CONTROL)
        neutral = avatar_neutral(avatar.face)
        base = self._close_mouth(avatar, neutral, control)
        anchors = border_anchors(w, h)
        layers = outline = None
        if self.segmentation:
            layers = split_layers(base, neutral, person_mask(avatar.image))
            outline = head_outline(layers.person, neutral)
        points = [neutral[control, :2].astype(np.float64)]
        if outline is not None:
            points.append(outline.points[:, :2])
        source = np.concatenate(points + [anchors])
        person_box = (0, 0, w, h)
        if layers is not None:
            ys, xs = np.nonzero(layers.person >= PERSON_FROM)
            if xs.size:
                person_box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        warnings = _suitability(avatar)
        for text in warnings:
            log.warning("Avatar %s: %s", avatar.name, text)
        normals = landmark_normals(neutral)
        unit = avatar.face.face_size
        hideable = np.isin(control, _HIDEABLE)
        seen = (exposure(neutral[control[hideable]], normals[control[hideable]], neutral[front_points()], unit),
                exposure(outline.points, outline.normals, None, unit) if outline is not None else None)
        return MeshState(avatar=avatar, base=base, neutral=neutral, control=control, source_points=source,
                         anchors=anchors, outline=outline, layers=layers, person_box=person_box,
                         tone=mouth.face_tone(base, neutral), lip_tone=mouth.lip_tone(base, neutral),
                         normals=normals, hideable=hideable,
                         exposure=seen, lids=lid_lines.measure(base, neutral),
                         eyeballs=eyeballs.measure(base, neutral), warnings=warnings)

    def _close_mouth(self, avatar: AvatarImage, neutral: np.ndarray, control: np.ndarray) -> np.ndarray:
        """The photo with its lips closed over its teeth (unchanged if the mouth is already closed).

        The jaw moves with a TPS over every control point but the inner lips; the lips region
        is then mapped column by column (``lips.closing_map``), all in one remap of the photo.
        """
        image = avatar.image
        photo = avatar.face.landmarks
        if mouth_openness(to_local(avatar.face)) <= CLOSED_GAP:
            return image.copy()
        h, w = image.shape[:2]
        keep = np.array([i for i in control if i not in _INNER_LIPS])
        anchors = border_anchors(w, h)
        tps = fit_tps(np.concatenate([neutral[keep, :2], anchors]), np.concatenate([photo[keep, :2], anchors]),
                      norm=float(max(w, h)))
        field = tps_field(tps, (w, h), 4)
        map_x, map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        if field is not None:
            fx0, fy0, fx1, fy1 = field.roi
            mx, my = cv2.convertMaps(field.map1, field.map2, cv2.CV_32FC1)
            map_x[fy0:fy1, fx0:fx1], map_y[fy0:fy1, fx0:fx1] = mx, my
        lips = closing_map(photo, neutral, (w, h))
        if lips is not None:
            (x0, y0, x1, y1), lx, ly, inside = lips
            # Feather the seam between the lip map and the jaw warp over a pixel or two.
            weight = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 1.0) * inside
            sub_x, sub_y = map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1]
            sub_x += weight * (lx - sub_x)
            sub_y += weight * (ly - sub_y)
        return cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

    # ---- per frame -------------------------------------------------------------------------
    def render(self, state: MeshState, driving: Driving) -> np.ndarray:
        h, w = state.base.shape[:2]
        target = driving.target_landmarks
        # Eyes are warped open and their lids moved afterwards: a TPS folds when a lid lands on the
        # other, and smears lashes and iris when it lifts a lid.
        # Each eye's opening is compared in the head's own frame: a turn foreshortens the eye's
        # width, a nod its height, neither opens or closes it.
        pose = head_motion(state.neutral, target)
        in_head = _in_neutral_frame(target, pose)
        ratios = eyes.eye_ratios(in_head, state.neutral)
        target = _close_slits(_turn_further(target, in_head, state.neutral, pose))
        # The TPS leaves each iris at home in its eye; it is slid to where the driver looks afterwards.
        looking = eyes.open_lids(_keep_apart(target, state.neutral), state.neutral, ratios)
        opened = eyes.irises_home(looking, state.neutral)
        # Turning the head hides the far cheek behind the face and the cheek beside the nose
        # behind the nose: those control points fade out, or the warp would fold over itself.
        motion = head_motion(state.neutral, opened)
        unit = state.avatar.face.face_size * motion[0]
        normals = state.normals @ motion[1].T
        hideable = state.control[state.hideable]
        facing, cover = exposure(opened[hideable], normals[hideable], opened[front_points()], unit)
        seen = np.ones(len(state.control))
        seen[state.hideable] = visibility(facing, cover, *state.exposure[0])
        points, hidden = [opened[state.control, :2].astype(np.float64)], [1.0 - seen]
        if state.outline is not None:
            moved, outline_normals = move_outline(state.outline, motion)
            points.append(moved[:, :2])
            facing, cover = exposure(moved, outline_normals, None, unit)
            hidden.append(1.0 - visibility(facing, cover, *state.exposure[1]))
        dst = np.concatenate(points + [state.anchors])
        hidden.append(np.zeros(len(state.anchors)))
        regularisation = TPS_REGULARISATION + HIDDEN_REGULARISATION * np.concatenate(hidden)
        tps = fit_tps(dst, state.source_points, norm=float(max(w, h)), regularisation=regularisation)
        bounds = None
        if state.layers is not None:
            # Only the person's box, grown by the farthest any control point moved, can show the
            # person or uncover the plate; outside it the photo stays as it is, unwarped.
            pad = int(np.ceil(float(np.abs(dst - state.source_points).max()))) + 2
            px0, py0, px1, py1 = state.person_box
            bounds = (px0 - pad, py0 - pad, px1 + pad, py1 + pad)
        field = tps_field(tps, (w, h), self.grid_step, fine=_fine_boxes(opened, (w, h)), bounds=bounds)
        out = remap(state.base, field) if state.layers is None else _over_plate(state, field)
        irises = np.stack([looking[iris, :2] for _, _, iris in eyes.EYES])
        eyes.move_irises(out, opened, irises, state.lids.margins, state.eyeballs.irises,
                         lambda roi: eyeballs.bare_region(state.eyeballs.bare, field, roi))
        eyes.move_lids(out, looking, ratios, state.lids, state.eyeballs.irises)
        if self.mouth_fill != "none":
            self._fill_mouth(out, state, driving, target)
        return out

    def _fill_mouth(self, out: np.ndarray, state: MeshState, driving: Driving, target: np.ndarray) -> None:
        """In place: the mouth interior inside ``target``'s opening (the landmarks the warp used)."""
        h, w = out.shape[:2]
        width = float(np.linalg.norm(target[lm.MOUTH_CORNERS[1], :2] - target[lm.MOUTH_CORNERS[0], :2]))
        roi = pixel_roi(mouth.inner_mouth_polygon(target), (w, h), margin=4 + int(0.04 * width))
        if roi is None:
            return
        alpha = mouth.opening_alpha(target, roi)
        if float(alpha.max()) < 0.02:
            return
        use_driver = self.mouth_fill in ("auto", "driver") and driving.frame is not None
        if use_driver:
            drv = driving.observation.landmarks
            patch = mouth.driver_mouth(driving.frame, drv, target, roi, mouth.face_tone(driving.frame, drv), state.tone,
                                       lips=(mouth.lip_tone(driving.frame, drv), state.lip_tone))
        else:
            patch = mouth.synth_mouth(target, roi, state.tone)
        mouth.blend(out, patch, alpha, roi)


# (landmarks that may be pushed, landmarks they must keep clear of, +1 if the pushed ones lie
# below, the share of its neutral height the gap may shrink to): soft tissue between features. A
# driver's lower lip rolled down by the tongue, an upper lip raised into a sneer or brows knitted
# into a frown bring one contour almost onto the next; the avatar's skin or lip between them then
# gets squeezed into streaks ("drips", smeared lids). The skin under the nose gives way more: a
# broad smile lifts the upper lip to 55–60 % of its height below the nose (d9), and holding it
# lower pushes the lip's top edge onto its bottom one (the upper lip vanishes, or folds).
MIN_SPACING = 0.7
_APART = (
    (lm.as_index(lm.CHIN_INNER), lm.as_index(lm.LIPS_LOWER_OUTER), 1.0, MIN_SPACING),
    (lm.as_index(lm.LIPS_UPPER_OUTER), lm.as_index((2, 98, 327, 97, 326, 167, 393, 164)), 1.0, 0.45),
    (lm.as_index(lm.RIGHT_BROW), lm.as_index(lm.RIGHT_EYE_UPPER), -1.0, MIN_SPACING),
    (lm.as_index(lm.LEFT_BROW), lm.as_index(lm.LEFT_EYE_UPPER), -1.0, MIN_SPACING),
)
# The chin below the lower lip: pushing only the skin points between them would drive them past
# the chin's outline (a fold: a crease and a pointed chin), so the lower face moves down as one
# piece first, fully at the chin (152) and fading up to the lower lip (17) and out to the jaw
# (a Gaussian ``CHIN_REACH`` mouth widths wide across the face).
_LIP, _CHIN = 17, 152
CHIN_REACH = 1.0


# A warped photo reads as turned less than its landmarks are: it has no occlusion at the far
# cheek (those points fade out, see ``head3d.visibility``) and no change of shading. Measured on
# a scripted ±35° turn of two photos, MediaPipe saw 78 % and dlib 84 % of the turn; so yaw and
# pitch are rendered up to this much larger, and the output reads as the driver's turn (roll,
# an in-plane rotation, is seen in full and left alone). The shortfall comes from hidden points,
# so it grows with the angle: the gain reaches its full value at FULL_GAIN_DEG and is 1 at rest
# (small turns of real clips read right without it).
TURN_GAIN = 1.15
FULL_GAIN_DEG = 30.0


def _in_neutral_frame(target: np.ndarray, pose: tuple[float, np.ndarray, np.ndarray]) -> np.ndarray:
    """``target`` (478, 3) with the head's rigid motion ``pose`` (``head_motion(neutral, target)``)
    undone: the face's shape, in the neutral's frame."""
    scale, rotation, translation = pose
    return (target.astype(np.float64) - translation) @ rotation / scale


def _turn_further(target: np.ndarray, local: np.ndarray, neutral: np.ndarray,
                  pose: tuple[float, np.ndarray, np.ndarray]) -> np.ndarray:
    """``target`` (478, 3) re-posed with its yaw and pitch against ``neutral`` scaled by up to ``TURN_GAIN``.

    ``pose`` is the head's rigid motion from ``neutral`` to ``target`` (fitted on the rigid
    landmarks) and ``local`` the target in the neutral's frame (``_in_neutral_frame``); the face
    keeps its expression and turns about the centre of the rigid landmarks.
    """
    scale, rotation, translation = pose
    yaw, pitch, roll = euler_from_rotation(rotation)
    if abs(yaw) < 0.5 and abs(pitch) < 0.5:
        return target
    def gain(angle: float) -> float:
        return 1.0 + (TURN_GAIN - 1.0) * smoothstep(abs(angle) / FULL_GAIN_DEG)

    further = rotation_from_euler(gain(yaw) * yaw, gain(pitch) * pitch, roll)
    centre = neutral[_RIGID].astype(np.float64).mean(0)
    pivot = scale * centre @ rotation.T + translation
    return (pivot + scale * (local - centre) @ further.T).astype(np.float32)


_UPPER_INNER, _LOWER_INNER = lm.as_index(lm.LIPS_UPPER_INNER[1:-1]), lm.as_index(lm.LIPS_LOWER_INNER[1:-1])


def _close_slits(target: np.ndarray) -> np.ndarray:
    """``target`` (478, 3) with inner-lip gaps of a few pixels narrowed, the lips meeting halfway:
    a gap g becomes max(0, g − c·(1 − smoothstep(g / 3c))) with c = ``mouth.FADE_PX`` (shut
    below about c, unchanged from 3c); the same array when no gap is that narrow.

    Lips a pixel or two apart are closed lips to the eye (MediaPipe puts a driver's shut or
    pouting lips that far apart), but the warp stretches the photo's dark meeting line over
    them into a band two or three times as thick, which reads as a mouth left ajar.
    """
    c = mouth.FADE_PX
    up, low = target[_UPPER_INNER, :2].astype(np.float64), target[_LOWER_INNER, :2].astype(np.float64)
    gap = np.linalg.norm(low - up, axis=1)
    slit = (gap > 1e-6) & (gap < 3.0 * c)
    if not slit.any():
        return target
    narrowed = np.maximum(gap[slit] - c * (1.0 - smoothstep(gap[slit] / (3.0 * c))), 0.0)
    shrink = (0.5 * (1.0 - narrowed / gap[slit]))[:, None] * (low[slit] - up[slit])
    out = target.copy()
    out[_UPPER_INNER[slit], :2] += shrink
    out[_LOWER_INNER[slit], :2] -= shrink
    return out


def _keep_apart(target: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """``target`` (478, 3) with the skin between lips, chin, nose, brows and lids kept at ≥ their share (``_APART``)
    of its neutral height.

    "Down" is the face's own vertical (eyes to chin). Each pushed point is paired with the
    point of the other set nearest across the face and moved along "down" (away from its pair)
    until the gap is back to the allowed minimum; nothing moves while the gap is larger.
    """
    out = target
    down_t = target[152, :2] - 0.5 * (target[33, :2] + target[263, :2])
    down_n = neutral[152, :2] - 0.5 * (neutral[33, :2] + neutral[263, :2])
    down_t, down_n = down_t / max(np.linalg.norm(down_t), 1e-9), down_n / max(np.linalg.norm(down_n), 1e-9)
    scale = np.linalg.norm(target[33, :2] - target[263, :2]) / max(np.linalg.norm(neutral[33, :2] - neutral[263, :2]), 1e-9)
    across_n = np.array([-down_n[1], down_n[0]])
    out = _keep_chin(out, neutral, down_t, down_n, across_n, scale)
    for pushed, clear, side, spacing in _APART:
        pair = clear[np.argmin(np.abs((neutral[pushed, :2] @ across_n)[:, None] - (neutral[clear, :2] @ across_n)[None, :]), axis=1)]
        gap_n = side * (neutral[pushed, :2] - neutral[pair, :2]) @ down_n
        gap_t = side * (out[pushed, :2] - out[pair, :2]) @ down_t
        short = spacing * scale * gap_n - gap_t
        move = (gap_n > 0) & (short > 0)
        if move.any():
            out = out.copy() if out is target else out
            out[pushed[move], :2] += (side * short[move])[:, None] * down_t
    return out


def _keep_chin(target: np.ndarray, neutral: np.ndarray, down_t: np.ndarray, down_n: np.ndarray,
               across_n: np.ndarray, scale: float) -> np.ndarray:
    """``target`` with the chin kept ≥ ``MIN_SPACING`` of its neutral distance below the lower lip
    (see ``_CHIN``); the same array when it already is."""
    gap_n = float((neutral[_CHIN, :2] - neutral[_LIP, :2]) @ down_n)
    short = MIN_SPACING * scale * gap_n - float((target[_CHIN, :2] - target[_LIP, :2]) @ down_t)
    if gap_n <= 0 or short <= 0:
        return target
    rel = neutral[:, :2].astype(np.float64) - neutral[_LIP, :2]
    width = float(np.linalg.norm(neutral[lm.MOUTH_CORNERS[1], :2] - neutral[lm.MOUTH_CORNERS[0], :2]))
    across = (neutral[:, :2] - neutral[_CHIN, :2]) @ across_n / max(CHIN_REACH * width, 1e-9)
    weight = smoothstep((rel @ down_n) / gap_n) * np.exp(-0.5 * across * across)
    weight[lm.as_index(lm.LIPS)] = 0.0
    out = target.copy()
    out[:, :2] += (short * weight)[:, None] * down_t
    return out


def _fine_boxes(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[tuple[int, int, int, int, int], ...]:
    """(x0, y0, x1, y1, step) boxes around the lips and each eye, where the warp is sampled finely.

    The step is about a sixteenth of the mouth's width (5–6 px at 720p) and a tenth of an eye's
    (5–6 px; coarser and the iris lags the gaze), at least 4 px: finer costs time and shows
    nothing more.
    """
    boxes = []
    for group, share, parts in ((lm.LIPS, 0.2, 16.0), (lm.RIGHT_EYE + lm.RIGHT_IRIS, 0.15, 10.0),
                                (lm.LEFT_EYE + lm.LEFT_IRIS, 0.15, 10.0)):
        pts = landmarks[list(group), :2]
        span = float(np.ptp(pts[:, 0]))
        roi = pixel_roi(pts, size, margin=int(share * span) + 6)
        if roi is not None:
            boxes.append((*roi, int(np.clip(span / parts, 4, 8))))
    return tuple(boxes)


def _over_plate(state: MeshState, field) -> np.ndarray:
    """The warped person laid over the still background plate, (H, W, 3) uint8.

    The person layer includes its soft edge (``segmentation.PERSON_FROM``) and is cut there
    rather than blended: the warped edge pixels already mix hair with the background they were
    photographed against, and a per-pixel blend of the whole outline costs more than the rest.
    """
    out = state.base.copy()
    if field is None:
        return out
    x0, y0, x1, y1 = field.roi
    region = remap_region(state.base, field, field.roi)
    person = remap_region(state.layers.person, field, field.roi)
    cv2.copyTo(state.layers.plate[y0:y1, x0:x1], cv2.compare(person, PERSON_FROM, cv2.CMP_LT), region)
    out[y0:y1, x0:x1] = region
    return out


def _suitability(avatar: AvatarImage) -> tuple[str, ...]:
    """Warnings for avatars the mesh engine animates with less detail (it still animates them)."""
    out = []
    x0, y0, x1, y1 = avatar.face.box
    if y1 - y0 < SMALL_FACE_PX:
        out.append(f"the face is only {y1 - y0:.0f} px tall (under {SMALL_FACE_PX}); eyes and mouth will move with "
                   "little detail. Use a photo where the face is larger, or crop the photo closer to the face.")
    local = to_local(avatar.face)
    centres = [local[list(lm.RIGHT_EYE_CORNERS), :2].mean(0), local[list(lm.LEFT_EYE_CORNERS), :2].mean(0)]
    ratio = float(np.linalg.norm(local[10, :2] - local[152, :2])) / max(float(np.linalg.norm(centres[1] - centres[0])), 1e-9)
    # On a small face the landmarks are too coarse to judge proportions; the size warning stands.
    if ratio < STYLISED_FACE and not out:
        out.append(f"this looks like a drawn or rendered character, not a photo (face height {ratio:.2f} × the eye "
                   f"distance; photos of people measure {STYLISED_FACE:.2f} or more). It is animated as a human face, "
                   "which can look off on stylised features; a photo of a real person works best.")
    return tuple(out)
