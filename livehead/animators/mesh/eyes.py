"""Blinks, wide eyes and gaze for a 2D warp: move the avatar's eyelids and irises, each eye on its own.

A thin-plate spline cannot close an eye: the closed upper lid lands on the lower lid, two control
points share a position but want different sources, and the fit folds (seen as black rings).
Nor can it open one wider: it stretches the lashes and the top of the iris upward into a tall
smeared eye. So the TPS keeps each eye at the avatar's own open shape (the iris where the driver
looks) and this module moves the upper lid afterwards, per eye, in the eye's own frame: along
each column the lash line slides to the new lid edge and the skin above it follows, while the
eye below stays where it is.

* **Closing** is a lid, not a squeeze, so the iris is hidden rather than flattened. A lid that
  barely moves stretches the photo's own lid skin down; a squint (a smile) or a closing eye is
  covered by painted lid — the colour and light of the skin just above it, shaded towards the
  lashes, with the photo's grain — since stretched skin turns into streaks (under a brow close
  to the eye, only lashes and eyeliner lie in reach, and they smear). The painted lid starts
  above the photo's whole dark band along the lid (lashes, eyeliner: ``lid_lines.lash_tops``) and
  takes its colour from skin with such dark lines closed away, so no outline of the open eye is
  left round the shut one; it shuts onto the photo's dark lower-lid line
  (``lid_lines.lower_lines``), which on drawn faces runs below the tracker's. Winks are one eye
  at ratio 0.
* **Opening wider** (surprise) lifts the lash line, from the lid's margin (the tracker's lid line
  runs through the lashes), and folds the lid skin above it together towards the brow; what the
  lid uncovers is eyeball: the white continues the eye just under the lid upwards (the white on
  either side of the iris, over the iris's columns) and the iris continues as a disc, its hidden
  top mirrored from its visible lower half.
* **Gaze**: dragged across the eye by the warp, an iris smears into the white; so the TPS keeps it
  at home in its eye (``irises_home``) and ``move_irises`` slides it to where the driver looks as
  a disc, between the lids' margins: the photo's own iris (``eyeballs``: fitted to the photo, the
  tracker's circle can be off it or smaller), over the white the photo's eyeball has under it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from livehead.animators.mesh import eye_frame as ef
from livehead.animators.mesh import eyeballs
from livehead.animators.mesh.eye_frame import EYES
from livehead.animators.mesh.lid_lines import LidLines
from livehead.animators.mesh.warp import pixel_roi
from livehead.face.geometry import smoothstep

__all__ = ["EYES", "eye_ratios", "irises_home", "move_irises", "move_lids", "open_lids"]

SKIN_ABOVE = 0.9  # lid region above the open lid edge, in units of the open eye's height
BROW_CLEARANCE = 0.6  # that skin reaches at most this share of the way up to the brow: brow hair must not slide into the lid
# A painted lid gets grain as strong as the fine detail of the skin above it (the robust spread
# of its luma less a blur of GRAIN_SIGMA px): left smooth, its detail was 2-25 times weaker than
# the skin round it and it read as a sticker on grainy photos. The skin's own detail, mirrored or
# stretched down over the lid, turned into upright streaks; the grain is a fixed noise texture
# carried in the eye's frame, so it moves with the lid and does not flicker.
GRAIN_SIGMA = 0.8
LASH_SHARE = 0.5  # the lash line's thickness above the lid edge, in units of the open eye's height
# A painted lid's colour varies along the eye as the skin above it (up to LID_BAND eye heights
# above, short of the brow), smoothed over LID_SMOOTH of the eye's length.
LID_BAND, LID_SMOOTH = 0.3, 0.2
# ... and darkens towards the lashes: by LASH_SHADE along the closed lash line, fading with the
# height above it over SHADE_REACH open-eye heights. In real blinks (the shut frames of five clips)
# the lid is, at 0.1, 0.25, 0.4 and 0.55 open-eye heights above the lashes, 0.62, 0.84, 0.93 and
# 0.98 (medians) as light as the skin between it and the brow: the closed lashes and their shadow.
# Shaded evenly from its top instead (15 % at the lashes), a 68-point tracker read shut eyes less
# surely (eye correlation 0.02–0.17 lower on six pairs); bridging towards the lighter skin under
# the eye, it read them as open.
LASH_SHADE, SHADE_REACH = 0.6, 0.18
SHUT_BELOW = 0.1  # eye ratios under this draw a fully shut lid
HOLD_FROM = 0.5  # eye ratios under this hold the lower lid and iris in the avatar's own place, fully from SHUT_BELOW + 0.1
MIN_CHANGE = 0.03  # ratios within this of 1 leave the eye alone
# Share of the eye closed from which a painted lid covers the lid's own stretched skin (in part;
# fully from PAINT_TO); tracker noise (a few per cent) keeps the photo's own lid. Painted only from
# 0.35, a squint (0.85–0.7 of the neutral's opening) stretched what lies between the lashes and the
# brow's clearance (on the made-up sad photo under 2 px, stretched 2–9 times) over the eye: lashes
# and eyeliner drawn out into a streaked smear (dark on sad, happy and Aragaki, pale on s12), which
# a 68-point tracker read as no narrowing at all (sad: the same eye opening at ratios 1 and 0.7).
PAINT_FROM, PAINT_TO = 0.1, 0.3
# A closing lid stretches the skin above its lashes; stretched by 1 + STREAK_FROM or more, that
# skin is taken with dark lines up to about LASH_WIDTH open-eye heights wide (lashes) closed away.
STREAK_FROM = 1.0
LASH_WIDTH = 0.08
WIDE_MAX = 1.5  # eye ratios above this are drawn at this (eye_ratios clips there)
# A widening lid may fold its skin to this share of its height below the brow, no further.
FOLD_MIN = 0.3
LID_SHADOW = 0.1  # the uncovered eyeball darkens this much more just under the lid
MARGIN_SHADOW = 0.12  # the open lid's shadow on the eyeball below its margin, in eye heights
WHITE_SEARCH = (0.0, 0.25, 0.5)  # offsets (iris radii, outward) at which the white beside an iris is sought
IRIS_MARGIN = 4.0  # px round a moving iris's old and new disc that it changes (its soft rim, taken out with it, included)
LOWER_MARGIN = 0.1  # the lower lid's margin above the tracker's lower-lid line, in eye heights


def _gap(points: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float:
    """Signed mean lid gap in pixels, perpendicular to the axis from ``upper[0]`` to ``upper[-1]``."""
    c0, c1 = points[upper[0], :2], points[upper[-1], :2]
    axis = (c1 - c0) / max(np.linalg.norm(c1 - c0), 1e-9)
    normal = np.array([-axis[1], axis[0]])
    return float(np.mean((points[lower[1:-1], :2] - points[upper[1:-1], :2]) @ normal))


def eye_ratios(target: np.ndarray, neutral: np.ndarray) -> tuple[float, ...]:
    """Per eye: target lid gap / neutral lid gap, after removing scale (0 = closed)."""
    out = []
    for upper, lower, _ in ef.EYES:
        scale = np.linalg.norm(target[upper[-1], :2] - target[upper[0], :2]) / max(
            np.linalg.norm(neutral[upper[-1], :2] - neutral[upper[0], :2]), 1e-9)
        # Both gaps use the same corner order, so their signs agree for an open eye.
        neutral_gap = scale * _gap(neutral, upper, lower)
        if abs(neutral_gap) < 1e-6:
            out.append(1.0)
            continue
        out.append(float(np.clip(_gap(target, upper, lower) / neutral_gap, 0.0, WIDE_MAX)))
    return tuple(out)


def _similarity(src0, src1, dst0, dst1) -> np.ndarray:
    """2×2 rotation·scale taking the vector src0→src1 onto dst0→dst1."""
    a, b = src1 - src0, dst1 - dst0
    na = max(float(a @ a), 1e-12)
    c, s = (a @ b) / na, (a[0] * b[1] - a[1] * b[0]) / na
    return np.array([[c, -s], [s, c]])


def open_lids(target: np.ndarray, neutral: np.ndarray, ratios: tuple[float, ...]) -> np.ndarray:
    """Target landmarks with each closing or widening eye put back to its open shape for the TPS.

    The open upper lid is the avatar's own open lid shape (from ``neutral``), carried onto the
    target's lower lid by the eye's rotation and scale. Dividing the closed gap by the ratio
    instead would blow tracker noise up twentyfold as the eye shuts. A widening eye keeps its
    iris where the driver looks.

    As an eye shuts (ratio under ``HOLD_FROM``), its lower lid goes back to the avatar's own place
    (from the eye's corners): a tracker lifts the lower lid as the upper one comes down (a fifth of
    the eye's height in a blink), which shifted the whole open eye up against the iris (the warp
    bent the lids round it) and shut the lid above the photo's own lower lid (the iris's bottom
    showed under the shut lid). A squint keeps the driver's lower lid: a smile lifts it.
    """
    out = target.copy()
    for (upper, lower, iris), r in zip(ef.EYES, ratios):
        if abs(r - 1.0) < MIN_CHANGE:
            continue
        m = _similarity(neutral[upper[0], :2], neutral[upper[-1], :2], target[upper[0], :2], target[upper[-1], :2])
        # How much of the driver's own lid and gaze a closing eye keeps: all while partly open, none nearly shut.
        keep = float(np.clip((r - SHUT_BELOW - 0.1) / (HOLD_FROM - SHUT_BELOW - 0.1), 0.0, 1.0))
        if r < 1.0:
            home = target[upper[0], :2] + (neutral[lower[1:-1], :2] - neutral[upper[0], :2]) @ m.T
            out[lower[1:-1], :2] = keep * target[lower[1:-1], :2] + (1.0 - keep) * home
        inner = upper[1:-1]
        out[inner, :2] = out[lower[1:-1], :2] + (neutral[inner, :2] - neutral[lower[1:-1], :2]) @ m.T
        if r > 1.0:
            continue
        lid_t = out[lower[1:-1], :2].mean(0)
        # Partly open: keep the driver's gaze by undoing the squeeze; nearly shut: the avatar's
        # own place in the eye (from its corners, as ``irises_home``), so the iris stays still under
        # a blink. Placed from the lower lid, which a tracker lifts as the eye shuts, it rose into
        # the lid and its top showed through the lash line.
        unsqueezed = lid_t + (target[iris, :2] - lid_t) / max(r, 0.2)
        home = target[upper[0], :2] + (neutral[iris, :2] - neutral[upper[0], :2]) @ m.T
        out[iris, :2] = keep * unsqueezed + (1.0 - keep) * home
    return out


def irises_home(landmarks: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """``landmarks`` with each iris at the avatar's own place in the eye (``neutral``'s), carried by
    the eye's rotation and scale: where the TPS leaves the iris, for ``move_irises`` to move it."""
    out = landmarks.copy()
    for upper, _, iris in ef.EYES:
        m = _similarity(neutral[upper[0], :2], neutral[upper[-1], :2], landmarks[upper[0], :2], landmarks[upper[-1], :2])
        out[iris, :2] = landmarks[upper[0], :2] + (neutral[iris, :2] - neutral[upper[0], :2]) @ m.T
    return out


def move_irises(image: np.ndarray, opened: np.ndarray, irises: np.ndarray, margins: tuple[float, ...],
                fits: tuple[tuple[float, float], ...],
                bare: Callable[[tuple[int, int, int, int]], tuple[np.ndarray, np.ndarray]]) -> None:
    """In place: slide each iris of ``image`` (warped with ``opened``, iris at home) to ``irises``
    ((2, 5, 2) pixels: centre and rim per eye, subject's right first), inside the open eye
    (``margins``: ``lid_lines.lid_margins`` of the avatar; ``fits``: ``eyeballs.Eyeballs.irises``,
    the photo's irises against the tracker's; ``bare(roi)``: ``eyeballs.bare_region`` warped like
    ``image``).

    A warp that drags the iris across the eye smears it and squeezes the white beside it; here
    the iris moves as a disc, its part that was under a lid mirrored from the part in view, and
    the white it uncovers is the photo's eyeball with the iris taken out. Nothing outside the
    opening between the lids changes.
    """
    h, w = image.shape[:2]
    for (upper, lower, iris), to, margin, fit in zip(ef.EYES, irises, margins, fits):
        a, b = opened[iris[0], :2].astype(np.float64), np.asarray(to[0], dtype=np.float64)
        if np.hypot(*(b - a)) < 0.3:
            continue
        c0, ax, nm, length = ef.frame(opened, upper, lower)
        if length < 4:
            continue
        up_curve, lo_curve = ef.curve(opened, upper, c0, ax, nm), ef.curve(opened, lower, c0, ax, nm)
        # The photo's iris, not the tracker's circle: moved with it, at its offset and size.
        a, radius = eyeballs.circle(opened[iris, :2].astype(np.float64), ax, fit)
        b = b + a - opened[iris[0], :2]
        # Only the old and new place of the iris change, within the eye.
        far = radius + IRIS_MARGIN
        discs = np.concatenate([a - far, a + far, b - far, b + far]).reshape(4, 2)
        eye, near = pixel_roi(opened[np.concatenate([upper, lower]), :2], (w, h), margin=2), pixel_roi(discs, (w, h))
        if eye is None or near is None:
            continue
        x0, y0, x1, y1 = max(eye[0], near[0]), max(eye[1], near[1]), min(eye[2], near[2]), min(eye[3], near[3])
        if x1 <= x0 or y1 <= y0:
            continue
        s, t = ef.grid((x0, y0, x1, y1), c0, ax, nm)
        # The eyeball shows between the lids' margins, a little inside the tracker's lid lines
        # (which run through the lashes): the change fades in from the lines to the margins.
        height = ef.height(up_curve, lo_curve)
        top, bottom = margin * height + 1.0, LOWER_MARGIN * height + 1.0
        u, lo = np.interp(s, *up_curve), np.interp(s, *lo_curve)
        opening = np.clip((t - u) / top, 0.0, 1.0) * np.clip((lo - t) / bottom, 0.0, 1.0) * (s > 0) * (s < length)
        if not opening.any():
            continue
        up_curve, lo_curve = (up_curve[0], up_curve[1] + top), (lo_curve[0], lo_curve[1] - bottom)
        s_a, t_a = float((a - c0) @ ax), float((a - c0) @ nm)
        d_s, d_t = float((b - a) @ ax), float((b - a) @ nm)

        def sample(src_s: np.ndarray, src_t: np.ndarray) -> np.ndarray:
            return ef.sample(image, c0, ax, nm, src_s, src_t)

        # The iris: its texture moved along. Its part under the upper lid in the photo is mirrored
        # from below its centre; its part under the lower lid repeats the last row in view, not
        # the mirrored top: that lies in the upper lid's shadow and drew a dark line under the iris.
        src_s, src_t = s - d_s, t - d_t
        su, sl = np.interp(src_s, *up_curve) + 1.0, np.interp(src_s, *lo_curve) - 1.0
        src_t = np.clip(np.where(src_t < su, 2.0 * t_a - src_t, src_t), su, np.maximum(sl, su))
        iris_px = sample(src_s, src_t)
        # Where the iris was, the photo's eyeball with the iris taken out.
        white, old_iris = bare((x0, y0, x1, y1))
        new_iris = np.clip(radius - np.hypot(s - s_a - d_s, t - t_a - d_t) + 0.5, 0.0, 1.0)
        region = image[y0:y1, x0:x1].astype(np.float32)
        old_iris = old_iris * (1.0 - new_iris)
        moved = new_iris[..., None] * iris_px + old_iris[..., None] * white \
            + (1.0 - new_iris - old_iris)[..., None] * region
        k = opening[..., None]
        image[y0:y1, x0:x1] = np.clip(region * (1.0 - k) + moved * k + 0.5, 0, 255).astype(np.uint8)


def _clean_skin(image: np.ndarray, roi: tuple[int, int, int, int], dark: float, *, lashes: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """The skin round an eye with its dark lines closed away: those up to ``dark`` px thick that run
    along the eye (eyeliner, a crease, brow hairs; a grey closing along the columns), then those up
    to about ``lashes`` px wide in any direction (upright lashes; a disc's closing). Returns
    ((h, w, 3) float32 over ``roi`` and a bit beyond, its top-left corner (x, y) in ``image``).
    Skin itself is unchanged."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = roi
    along, across = int(np.ceil(dark)), int(np.ceil(lashes))
    pad = max(along, across) + 2
    px0, py0, px1, py1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
    skin = np.ascontiguousarray(image[py0:py1, px0:px1])
    if along > 0:
        skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, np.ones((2 * along + 1, 1), np.uint8))
    if across > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * across + 1, 2 * across + 1))
        skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, disc)
    return skin.astype(np.float32), np.array([px0, py0], np.float64)


def _grain_texture(size: int = 128, seed: int = 14) -> np.ndarray:
    """(size, size) float32 noise of unit spread at the scale of one or two pixels, tileable."""
    noise = np.random.default_rng(seed).standard_normal((size, size)).astype(np.float32)
    noise = cv2.GaussianBlur(np.pad(noise, 4, mode="wrap"), (0, 0), 0.7)[4:-4, 4:-4]
    return (noise - noise.mean()) / noise.std()


_GRAIN = _grain_texture()


def _fine_detail(skin: np.ndarray) -> np.ndarray:
    """The luma of ``skin`` (h, w, 3) float32 less a blur of ``GRAIN_SIGMA`` px: its grain, (h, w)."""
    luma = skin @ ef.LUMA
    return luma - cv2.GaussianBlur(luma, (0, 0), GRAIN_SIGMA)


def _lid_colour(skin: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, length: float, height: float,
                top, brow: tuple[np.ndarray, np.ndarray], s: np.ndarray) -> np.ndarray:
    """The colour a painted lid continues, (*s.shape, 3), smoothed along the eye: the skin of
    ``skin`` (``_clean_skin``, in its own pixels: ``c0`` shifted) just above the curve ``top(s)``
    but below the brow (its lower line ``brow``, (s, t))."""
    cols = np.linspace(0.0, length, max(int(length), 2))
    edge = top(cols)
    reach = np.clip(edge - np.interp(cols, *brow) - 1.0, 1.0, max(LID_BAND * height, 1.0))
    # The middle of a few rows per column: a crease, brow or lash line too thick to be closed away,
    # or a highlight, is one of them.
    band = ef.middlemost([ef.sample(skin, c0, ax, nm, cols[None, :], (edge - d * reach)[None, :])
                          for d in np.linspace(0.3, 1.0, 3)])[0]
    band = cv2.GaussianBlur(band[None], (0, 0), sigmaX=max(LID_SMOOTH * length, 1.0), sigmaY=0.1,
                            borderType=cv2.BORDER_REPLICATE)[0]
    return np.stack([np.interp(s, cols, band[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def move_lids(image: np.ndarray, opened: np.ndarray, ratios: tuple[float, ...], lines: LidLines,
              fits: tuple[tuple[float, float], ...]) -> None:
    """In place: move each upper lid of ``image`` (warped with ``opened`` landmarks) to ``ratios``
    of its open height (0 shut, 1 open, up to ``WIDE_MAX`` wider; ``lines``: ``lid_lines.measure``
    of the avatar; ``fits``: ``eyeballs.Eyeballs.irises``, the photo's irises against the tracker's)."""
    h, w = image.shape[:2]
    per_eye = zip(ef.EYES, ef.BROWS_LOWER, ratios, fits, *lines)
    for side, ((upper, lower, iris), brow, r, fit, share, dark, floor) in enumerate(per_eye):
        if abs(r - 1.0) < MIN_CHANGE:
            continue
        c0, ax, nm, length = ef.frame(opened, upper, lower)
        if length < 4:
            continue
        us, ut = ef.curve(opened, upper, c0, ax, nm)
        ls, lt = ef.curve(opened, lower, c0, ax, nm)
        height = ef.height((us, ut), (ls, lt))
        bs, bt = ef.curve(opened, brow, c0, ax, nm)
        brow_t = float(bt.max())  # the brow's lowest point
        top_margin = max(min(SKIN_ABOVE * height, BROW_CLEARANCE * (float(ut.min()) - brow_t)), 1.0)
        top = float(ut.min()) - top_margin
        lash = min(LASH_SHARE * height, 0.7 * top_margin)  # the lash line keeps its thickness and slides with the lid edge
        above = max(lash, dark * height)  # the photo's dark band above the lid line: lashes and eyeliner
        feather = max(1.0, 0.5 * lash)
        if r > 1.0:  # a rising lid folds its skin together up to the brow's lower edge
            top = min(top, float(bt.min()))
        else:  # a closing lid is painted from above that band, fading in over the skin there
            top = min(top, float(ut.min()) - above - 2.0 * feather - 1.0)
        # Output ROI: the eye's rotated box, from the skin above the lid to the lower lid's dark line.
        floor = floor * height if r < 1.0 else 0.0
        corners = [c0 + ax * s + nm * t for s in (0.0, length) for t in (top, lt.max() + floor + 1.0)]
        roi = pixel_roi(np.array(corners), (w, h), margin=1)
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        s, t = ef.grid(roi, c0, ax, nm)
        u = np.interp(s, us, ut)  # open upper lid
        lo = np.interp(s, ls, lt)  # lower lid
        # A closing lid shuts onto the photo's dark lower-lid line (``lid_lines.lower_lines``; on
        # drawn faces it runs below the tracker's line, and the white and iris showed under the
        # shut lid), narrowing to the tracker's line at the corners, where the lids meet.
        lo = lo + floor * smoothstep((lo - u) / (0.5 * height))
        # A tracker rarely reads a shut eye as exactly 0: the last few per cent snap shut, or a
        # sliver of white shows under the lid.
        r_lid = min(max((r - SHUT_BELOW) / (1.0 - SHUT_BELOW), 0.0), 1.0)
        u_new = lo - r_lid * (lo - u)  # the lowered upper lid
        if r > 1.0:
            # The raised upper lid. The tracker's lid line runs through the lashes; the eyeball
            # shows from the lid's margin a little below it, so that margin is the edge that rises.
            margin = share * height
            rise = (r - 1.0) * (lo - u)  # the lid line rises as far as the ratio asks
            u, lash = u + margin, lash + margin
            top_margin = np.maximum(u - np.interp(s, bs, bt) - 1.0, lash + 1.0)
            u_new = u - np.minimum(rise, (1.0 - FOLD_MIN) * (top_margin - lash))
        src_t = t.copy()
        shift = u_new - u
        # (A raised lid's band reaches a pixel under its new edge, where the eyeball fades in: the
        # lid's own margin shows there, not the lashes' old place as a dotted line.)
        edge = u_new + (1.0 if r > 1.0 else 0.0)
        band = (t > u_new - lash) & (t < edge + 0.5)
        src_t[band] = (t - shift)[band]
        # The lid's edge crosses pixel rows at a slant: each pixel there shows lid for the share of
        # it the lid covers (all lid or all eye, the edge was a staircase).
        edge_cover = np.clip(edge + 0.5 - t, 0.0, 1.0)[..., None].astype(np.float32)
        # The skin between the lid's top and the lashes stretches down over what the lid uncovers:
        # the photo's own lid, continuous with the skin above it. Stretched far, its texture
        # turns into streaks, so a closing eye gets a painted lid (from PAINT_FROM).
        t_b = u - top_margin
        skin_h = np.maximum(u - lash - t_b, 1e-6)
        skin = (t > t_b) & (t <= u_new - lash)
        src_t[skin] = (t_b + (t - t_b) * skin_h / np.maximum(u_new - lash - t_b, 1e-6))[skin]
        painted = float(np.clip((1.0 - r_lid - PAINT_FROM) / (PAINT_TO - PAINT_FROM), 0.0, 1.0))
        inside = (s > 0) & (s < length)
        src_t = np.where(inside, src_t, t)
        map_x = (c0[0] + s * ax[0] + src_t * nm[0]).astype(np.float32)
        map_y = (c0[1] + s * ax[1] + src_t * nm[1]).astype(np.float32)
        closed = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        lash_width = max(1.0, LASH_WIDTH * height)
        if r < 1.0:
            # Lashes tall enough to reach into that skin were drawn out into long upright streaks
            # (seen through the painted lid's fading corners), and their tips above it outlined
            # the shut lid: the more the skin stretches, the more of it, and of the skin above it
            # up to the box's top, comes from the skin with its lashes closed away.
            stretch = (u_new - lash - t_b) / skin_h
            amount = np.clip((stretch - 1.0) / STREAK_FROM, 0.0, 1.0)
            bare = np.where(inside & (t <= u_new - lash), amount * np.clip((t - top) / 2.0, 0.0, 1.0), 0.0)
            if bare.any():
                free, free_origin = _clean_skin(image, roi, 0.0, lashes=lash_width)
                smooth = ef.sample(free, c0 - free_origin, ax, nm, s, src_t)
                closed += bare.astype(np.float32)[..., None] * (smooth - closed)
        region = image[y0:y1, x0:x1].astype(np.float32)
        closed = region + edge_cover * (closed - region)
        if r > 1.0:
            circle = eyeballs.circle(opened[iris, :2].astype(np.float64), ax, fit)
            fill, weight = _eyeball(image, circle, c0, ax, nm, s, t, u_new, (us, ut + margin), (ls, lt), inside,
                                    length, height)
            image[y0:y1, x0:x1] = np.clip(closed * (1.0 - weight) + fill * weight + 0.5, 0, 255).astype(np.uint8)
            continue
        if painted == 0.0:
            image[y0:y1, x0:x1] = np.clip(closed + 0.5, 0, 255).astype(np.uint8)
            continue
        # The lid is painted from above the photo's whole dark band (lashes and eyeliner can reach
        # well above the tracker's line): left there, its top was a dark outline round the shut eye.
        # Towards the corners, where the lids meet, the band narrows to the lashes, so the painted
        # lid ends in points like the eye, not in tall upright edges.
        def lid_top(s_: np.ndarray) -> np.ndarray:
            gap = np.interp(s_, ls, lt) - np.interp(s_, us, ut)
            return np.interp(s_, us, ut) - lash - (above - lash) * smoothstep(gap / (0.5 * height)) - feather

        start = lid_top(s)
        # The lid's colour and light: the skin just above it, with the dark lines there (lashes
        # higher than measured, a crease) closed away, smoothed along the eye, shaded towards the
        # lashes; grain as strong as the skin's just above the lid, so the lid is not a flat sticker.
        clean, origin = _clean_skin(image, roi, above + feather, lashes=lash_width)
        lid = _lid_colour(clean, c0 - origin, ax, nm, length, height, lid_top, (bs, bt), s)
        above_lid = (t < start) & (t > start - max(LID_BAND * height, 3.0)) & inside
        detail = ef.sample(_fine_detail(region), c0 - np.array([x0, y0]), ax, nm, s[above_lid], t[above_lid])
        spread = float(1.4826 * np.median(np.abs(detail - np.median(detail)))) if detail.size >= 9 else 0.0
        tile = float(_GRAIN.shape[0])  # the two eyes take different parts of it
        grain = cv2.remap(_GRAIN, np.mod(s + side * tile / 2, tile).astype(np.float32),
                          np.mod(t, tile).astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        # The lid fades in over the skin above it with its dark lines closed away, so what is left
        # of the photo's lashes above the lid does not show as an outline.
        ramp = np.clip((t - start + feather) / (2.0 * feather), 0.0, 1.0)
        # ... and along the eye from its corners, where the photo's lashes and eyeliner reach past
        # the tracker's corners: ending there at full strength, the lid had upright edges.
        ends = np.clip(np.minimum(s, length - s) / max(2.0 * feather, 0.25 * length), 0.0, 1.0)
        cover = np.where(inside & (u_new - u > 0.25), smoothstep(ends), 0.0)
        above_lashes = np.clip(u_new - lash + 0.5 - t, 0.0, 1.0)  # the lash line's top edge, anti-aliased too
        weight = (cover * painted * smoothstep(ramp) * above_lashes).astype(np.float32)[..., None]
        # Shaded across the painted lid and the lash line slid down with it, darkest from the middle
        # of that line (where a tracker's lid line runs) down to the lid's edge.
        shade = LASH_SHADE * np.exp(-np.maximum(u_new - 0.5 * lash - t, 0.0) / (SHADE_REACH * height))
        on_lid = cover * painted * np.clip(u_new + 0.5 - t, 0.0, 1.0)
        fill = lid * (1.0 - shade[..., None]) + (spread * grain)[..., None]
        closed = closed * (1.0 - (on_lid * shade).astype(np.float32)[..., None])
        image[y0:y1, x0:x1] = np.clip(closed * (1.0 - weight) + fill * weight + 0.5, 0, 255).astype(np.uint8)


def _eyeball(image: np.ndarray, iris: tuple[np.ndarray, float], c0: np.ndarray, ax: np.ndarray, nm: np.ndarray,
             s: np.ndarray, t: np.ndarray, u_new: np.ndarray, upper: tuple[np.ndarray, np.ndarray],
             lower: tuple[np.ndarray, np.ndarray], inside: np.ndarray, length: float, height: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Eyeball for the band a raised lid uncovers, from ``u_new`` down to the open lid ``upper``: (fill, weight).

    ``s``/``t``: the ROI's pixels in the eye's frame (along it from corner ``c0``, across it towards
    the lower lid); ``upper``/``lower``: the open lids' (s, t) curves, the upper one at its margin.
    The white continues the eye just under the lid upwards, column by column (with the lid's
    shadow at the top, where the lid now is). Over the iris's columns but outside its circle
    (``iris``: centre and radius) it is the white on either side of the iris, blended
    across; inside the circle the iris is mirrored across its centre line along the eye, so its
    hidden top repeats its visible bottom.
    """
    u, lo = np.interp(s, *upper), np.interp(s, *lower)
    lift = np.maximum(u - u_new, 1e-6)
    depth = np.clip((t - u_new) / lift, 0.0, 1.0)  # 0 at the new lid edge, 1 at the old one

    def sample(src_s, src_t) -> np.ndarray:
        return ef.sample(image, c0, ax, nm, src_s, src_t)

    def white_at(src_s, src_u, src_lo) -> np.ndarray:
        return sample(src_s, src_u + 1.0 + depth * np.minimum(lift, np.maximum(src_lo - src_u - 2.0, 0.0)))

    centre, radius = iris
    s_c, t_c = float((centre - c0) @ ax), float((centre - c0) @ nm)
    white = white_at(s, u, lo)
    sides = np.clip([s_c - 1.3 * radius, s_c + 1.3 * radius], 0.05 * length, 0.95 * length)
    beside = ef.white_beside(s, sides, radius, WHITE_SEARCH, (0.05 * length, 0.95 * length),
                           lambda x: white_at(np.full_like(s, x), float(np.interp(x, *upper)), float(np.interp(x, *lower))))
    over_iris = np.clip((1.3 * radius - np.abs(s - s_c)) / (0.3 * radius), 0.0, 1.0)[..., None]
    white = over_iris * beside + (1.0 - over_iris) * white
    in_iris = np.clip(radius - np.hypot(s - s_c, t - t_c) + 0.5, 0.0, 1.0)[..., None]
    iris_fill = sample(s, np.clip(2.0 * t_c - t, u + 1.0, lo - 1.0))
    fill = (in_iris * iris_fill + (1.0 - in_iris) * white) * (1.0 - LID_SHADOW * (1.0 - depth))[..., None]
    # Up to the lid edge, fading out below the open lid's margin (the shadow it cast goes too), over
    # at most as far as the lid rose, so a lid that barely moves changes nothing.
    fade = np.minimum(lift, max(2.0, MARGIN_SHADOW * height))
    weight = np.where(inside & (t < lo), np.clip((u + fade - t) / fade, 0.0, 1.0) * np.clip(t - u_new, 0.0, 1.0), 0.0)
    return fill, weight.astype(np.float32)[..., None]
