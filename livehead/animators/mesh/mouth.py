"""Mouth interior: what shows between the avatar's lips when they part.

The avatar's own neutral is closed (a photo that shows teeth is closed once per avatar, see
``lips.closing_map``), so every opening is new and gets one interior, drawn only inside the
avatar's inner-lip contour and feathered at the inner lip line:

* ``driver`` (default when the driver's frame is at hand): the driver's own mouth interior —
  teeth where the driver shows teeth, upper and lower, tongue when shown — carried column by
  column between the inner-lip contours (``lips.interior_source``, never an affine box), then
  toned like the avatar (brightness within ``TONE_LIMIT``, colourfulness of the avatar's skin,
  so a black-and-white photo gets a grey mouth), and the driver's lip tissue that shows at the
  edge of the opening tinted like the avatar's own lips (``lip_tone``): lipstick, pale lips or
  a grey photo keep their colour instead of showing a band of the driver's;
* ``synth``: a drawn cavity with upper and lower teeth and tongue, lit like the avatar's face
  (the scripted demo, or no driver frame).

A closed mouth leaves no trace: the fill fades out as the opening shrinks below ``FADE_PX``.
"""

from __future__ import annotations

import cv2
import numpy as np

from livehead.animators.mesh.lips import interior_source
from livehead.animators.mesh.warp import pixel_roi
from livehead.face import landmarks as lm

__all__ = ["Tone", "blend", "driver_mouth", "face_tone", "inner_mouth_polygon", "lip_ring", "lip_tone", "mouth_mask",
           "opening_alpha", "synth_mouth"]

_INNER = lm.INNER_MOUTH_RING
_OUTER = lm.LIPS_UPPER_OUTER + tuple(reversed(lm.LIPS_LOWER_OUTER[1:-1]))
# Cheeks, forehead, nose: skin away from lips, eyes and hair, sampled for the face's tone.
_SKIN = (50, 280, 205, 425, 117, 346, 118, 347, 101, 330, 151, 9, 108, 337, 5, 195, 36, 266, 203, 423)
TONE_LIMIT = (0.85, 1.15)  # luma gain range from driver to avatar: lit like the avatar, never a dark hole
FADE_PX = 2.0  # openings narrower than this (px) fade out: closed lips leave no trace
# Chroma distance (Cr, Cb units) from the driver's lip colour at which a pixel of the interior
# counts as lip by e^-½: lips sit 10–20 apart from skin in chroma, teeth and the dark cavity 30+.
LIP_SIGMA = 12.0
# The opening's rim: lip tissue there takes the avatar's lip brightness relative to its skin
# instead of the driver's (within LIP_LUMA_LIMIT), fully from RIM_REACH / 2 of the opening's
# height outside the inner-lip contour, fading to none RIM_REACH / 2 inside it. 0.2 from the
# contour inwards hid the pale ring better but darkened the measured interior 4–8 %; 0.04 left
# the ring on a moustached photo.
RIM_REACH = 0.1
LIP_LUMA_LIMIT = (0.6, 1.2)
_YCC = np.array([[0.299, 0.587, 0.114], [0.5, -0.418688, -0.081312], [-0.168736, -0.331264, 0.5]])  # Y, Cr, Cb


def inner_mouth_polygon(landmarks: np.ndarray) -> np.ndarray:
    """(20, 2) float32 polygon of the inner lip edge (the opening), pixels."""
    return landmarks[list(_INNER), :2].astype(np.float32)


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, int], *, shift: int = 2) -> np.ndarray:
    """(H, W) uint8 mask (0/255) of the inner-mouth opening, anti-aliased via sub-pixel drawing."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(inner_mouth_polygon(landmarks) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=shift)
    return mask


def lip_ring(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the lips themselves, between the outer and inner lip contours."""
    outer = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(outer, [np.round(landmarks[list(_OUTER), :2]).astype(np.int32)], 255)
    return (outer > 0) & (mouth_mask(landmarks, shape[:2]) == 0)


class Tone:
    """Mean skin colour of a face in (Y, Cr, Cb), from a few landmark-sampled pixels (cheap per frame)."""

    def __init__(self, ycc: np.ndarray) -> None:
        self.ycc = ycc

    @property
    def luma(self) -> float:
        return float(self.ycc[0])

    @property
    def chroma(self) -> np.ndarray:
        return self.ycc[1:]


def face_tone(image: np.ndarray, landmarks: np.ndarray) -> Tone:
    """The face's skin tone: the median of small patches around skin landmarks of ``image`` (H, W, 3) RGB."""
    h, w = image.shape[:2]
    pts = np.round(landmarks[list(_SKIN), :2]).astype(int)
    pts[:, 0] = np.clip(pts[:, 0], 1, w - 2)
    pts[:, 1] = np.clip(pts[:, 1], 1, h - 2)
    samples = np.concatenate([image[pts[:, 1] + dy, pts[:, 0] + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return Tone(np.median(samples.astype(np.float64), axis=0) @ _YCC.T)


def lip_tone(image: np.ndarray, landmarks: np.ndarray) -> Tone | None:
    """The lips' own colour: the median of the pixels between the outer and inner lip contours of
    ``image`` (H, W, 3) RGB. None when the lips cover too few pixels to tell."""
    h, w = image.shape[:2]
    box = pixel_roi(landmarks[list(_OUTER), :2], (w, h), margin=1)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    ring = lip_ring(landmarks[:, :2] - np.array([x0, y0], dtype=np.float64), (y1 - y0, x1 - x0))
    if int(ring.sum()) < 12:
        return None
    return Tone(np.median(image[y0:y1, x0:x1][ring].astype(np.float64), axis=0) @ _YCC.T)


def opening_alpha(target: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """(h, w) float32 in [0, 1]: the target opening inside ``roi``, feathered at the inner lip line.

    The opening is grown by about 1 % of the mouth width before a feather of the same size: the
    warp stretches the closed lips' meeting line along both edges of a new opening, a thin dark
    rim that reads as a drawn outline, and the driver's own inner lip edge (which the interior
    carries just outside the contour) replaces it. Narrow openings fade out (``FADE_PX``).
    """
    x0, y0, x1, y1 = roi
    shift = 3
    poly = inner_mouth_polygon(target) - np.array([x0, y0], np.float32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * (1 << shift)).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=shift)
    width = float(np.linalg.norm(target[lm.INNER_MOUTH_CORNERS[1], :2] - target[lm.INNER_MOUTH_CORNERS[0], :2]))
    grow = max(1, int(round(0.01 * width)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(0.6, 0.008 * width))
    gap = float(np.mean(target[list(lm.LIPS_LOWER_INNER[1:-1]), 1] - target[list(lm.LIPS_UPPER_INNER[1:-1]), 1]))
    fade = np.clip(gap / FADE_PX, 0.0, 1.0)
    return (alpha * fade * fade * (3 - 2 * fade)).astype(np.float32)


def driver_mouth(frame: np.ndarray, frame_landmarks: np.ndarray, target_landmarks: np.ndarray,
                 roi: tuple[int, int, int, int], driver_tone: Tone, avatar_tone: Tone,
                 lips: tuple[Tone | None, Tone | None] = (None, None)) -> np.ndarray:
    """The driver's mouth interior carried into the target opening, (h, w, 3) uint8 RGB of ``roi``.

    Toned from ``driver_tone`` to ``avatar_tone``: luma scaled by their ratio within
    ``TONE_LIMIT``; chroma scaled by the ratio of their colourfulness (at most 1.2) and shifted
    halfway to the avatar's tint, so teeth stay white-ish and a grey photo gets a grey mouth.
    ``lips`` (driver's, avatar's ``lip_tone``): pixels tinted like the driver's lips (within
    ``LIP_SIGMA``) take the avatar's lip tint, the closer the more; at the opening's rim
    (``RIM_REACH``) also the avatar's lip brightness relative to its skin (``LIP_LUMA_LIMIT``).
    """
    map_x, map_y, depth = interior_source(target_landmarks, frame_landmarks, roi)
    patch = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    ycc = patch @ _YCC.T.astype(np.float32)
    gain = float(np.clip(avatar_tone.luma / max(driver_tone.luma, 1.0), *TONE_LIMIT))
    d_sat, a_sat = float(np.linalg.norm(driver_tone.chroma)), float(np.linalg.norm(avatar_tone.chroma))
    sat = float(np.clip(a_sat / max(d_sat, 1e-3), 0.0, 1.2))
    shift = 0.5 * (avatar_tone.chroma - sat * driver_tone.chroma)
    driver_lips, avatar_lips = lips
    lip_weight = None
    if driver_lips is not None and avatar_lips is not None:
        distance = np.linalg.norm(ycc[..., 1:] - driver_lips.chroma.astype(np.float32), axis=-1)
        lip_weight = np.exp(-0.5 * (distance / LIP_SIGMA) ** 2)[..., None]
        # Lip tissue at the opening's rim is lit like the avatar's lips, not the driver's: a
        # driver's light pink lips carried into a dark-lipped or moustached avatar read as a pale
        # ring drawn around the opening (deeper in, the tongue keeps the face-toned brightness).
        rel = (avatar_lips.luma / max(avatar_tone.luma, 1.0)) / max(driver_lips.luma / max(driver_tone.luma, 1.0), 1e-3)
        rel = float(np.clip(rel, *LIP_LUMA_LIMIT))
        rim = np.clip(0.5 - np.minimum(depth, 1.0 - depth) / RIM_REACH, 0.0, 1.0)
        gain = gain * (1.0 + (rel - 1.0) * lip_weight[..., 0] * rim)
    ycc[..., 0] *= gain
    ycc[..., 1:] = ycc[..., 1:] * sat + shift.astype(np.float32)
    if lip_weight is not None:
        # The tint the driver's lips got above, moved the rest of the way to the avatar's lips.
        # Colour only: brightness is set above, the lips' own only at the rim and within
        # LIP_LUMA_LIMIT (a moustache over the avatar's lips darkens their sampled colour, and
        # the interior must not turn into a dark hole).
        ycc[..., 1:] += lip_weight * (avatar_lips.chroma - (driver_lips.chroma * sat + shift)).astype(np.float32)
    rgb = ycc @ np.linalg.inv(_YCC).T.astype(np.float32)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def synth_mouth(target_landmarks: np.ndarray, roi: tuple[int, int, int, int], tone: Tone) -> np.ndarray:
    """Draw a mouth interior (cavity, teeth, tongue) for the target opening inside ``roi``.

    Sizes follow the mouth width, shades follow the avatar's skin luma so the inside is lit like
    the face around it. The upper teeth are an arc under the upper lip, tallest at the front and
    receding into shadow towards the corners, with faint gaps between them and the lip's shadow
    along their top; the cavity darkens towards the back and the corners; a tongue rises from
    the lower lip as the mouth opens. Every part has soft edges (drawn as flat bands with straight
    edges it read as a pasted box).
    """
    x0, y0, x1, y1 = roi
    c0, c1 = target_landmarks[list(lm.INNER_MOUTH_CORNERS), :2].astype(np.float64)
    axis = c1 - c0
    width = max(np.linalg.norm(axis), 1.0)
    u_dir = axis / width
    v_dir = np.array([-u_dir[1], u_dir[0]])  # points to image +y for a level mouth
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    rel_x, rel_y = xs - c0[0], ys - c0[1]
    u = rel_x * u_dir[0] + rel_y * u_dir[1]
    v = rel_x * v_dir[0] + rel_y * v_dir[1]

    def contour(indices: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        rel = target_landmarks[list(indices), :2].astype(np.float64) - c0
        cu, cv = rel @ u_dir, rel @ v_dir
        order = np.argsort(cu)
        return cu[order], cv[order]

    upper = contour(lm.LIPS_UPPER_INNER)
    top = np.interp(u, *upper)
    bottom = np.interp(u, *contour(lm.LIPS_LOWER_INNER))
    gap = np.maximum(bottom - top, 1e-3)
    gap_ratio = float(gap.max()) / width
    across = np.clip(u / width, 0.0, 1.0)
    front = np.sin(np.pi * across)  # 1 at the middle of the mouth, 0 at its corners
    soft = max(0.7, 0.012 * width)  # px over which every edge fades

    luma = float(np.clip(tone.luma / 170.0, 0.45, 1.3))
    cavity = np.array([62.0, 24.0, 27.0]) * luma
    teeth = np.array([222.0, 214.0, 200.0]) * min(luma, 1.05)
    tongue = np.array([172.0, 82.0, 86.0]) * luma
    # Cavity: darker at the back (the middle of the opening) and towards the corners.
    depth = np.clip((v - top) / gap, 0.0, 1.0)  # 0 at the upper lip, 1 at the lower lip
    img = cavity * ((0.5 + 0.5 * front) * (1.0 - 0.35 * np.sin(np.pi * depth)))[..., None]
    # Tongue: a dome rising from the lower lip as the mouth opens, lower towards the corners.
    if gap_ratio > 0.1:
        rise = gap * min((gap_ratio - 0.1) / 0.3, 1.0) * 0.45 * front ** 0.7
        tongue_top = bottom - rise
        inside = _soft_edge(v - tongue_top, soft)
        shade = 0.7 + 0.3 * np.clip((v - tongue_top) / np.maximum(rise, 1e-3), 0.0, 1.0)
        img = _over(img, tongue * (shade * (0.6 + 0.4 * front))[..., None], inside)
    # Upper teeth: from under the upper lip down to a smooth arc (the dental arch, tallest at the
    # front), not following the lip into its corners: there the teeth turn away into the dark.
    lip_line = np.polyval(np.polyfit(*upper, 1), u)  # the upper lip's run, without its curl into the corners
    tall = min(0.15 * width, 0.55 * float(gap.max()))
    edge = np.minimum(lip_line + tall * (1.0 - 0.6 * (2.0 * across - 1.0) ** 2), bottom - 0.4 * gap)
    below_lip = v - top
    on_teeth = _soft_edge(edge - v, soft) * _soft_edge(below_lip + soft, soft) * np.clip(front / 0.35, 0.0, 1.0)
    gaps = np.zeros_like(u)
    for k in (-3, -2, -1, 0, 1, 2, 3):  # the gaps between the front teeth (wider apart sideways), faint
        at = 0.5 + 0.085 * k + 0.01 * np.sign(k) * abs(k) ** 1.5
        gaps += np.exp(-0.5 * ((across - at) / 0.008) ** 2) * (1.0 - 0.25 * abs(k))
    lit = (0.3 + 0.7 * front) * (0.85 + 0.15 * np.clip(below_lip / (0.35 * max(tall, 1e-3)), 0.0, 1.0))
    img = _over(img, teeth * (lit * (1.0 - 0.08 * np.clip(gaps, 0.0, 1.0)))[..., None], on_teeth)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(0.6, 0.006 * width))
    return np.clip(img, 0, 255).astype(np.uint8)


def _soft_edge(distance: np.ndarray, soft: float) -> np.ndarray:
    """0–1: inside where ``distance`` > 0, fading over ``soft`` px either side."""
    return np.clip(0.5 + distance / (2.0 * soft), 0.0, 1.0)


def _over(under: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``colour`` laid over ``under`` with ``alpha`` (both (h, w, 3) or broadcastable; alpha (h, w))."""
    a = alpha[..., None]
    return colour * a + under * (1.0 - a)


def blend(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, roi: tuple[int, int, int, int]) -> None:
    """In place: image[roi] = alpha·patch + (1 − alpha)·image[roi]; alpha (h, w) float32 in [0, 1]."""
    x0, y0, x1, y1 = roi
    a = alpha[..., None]
    region = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (a * patch.astype(np.float32) + (1.0 - a) * region + 0.5).astype(np.uint8)
