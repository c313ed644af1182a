"""A driver's neutral face, estimated while tracking instead of taken from the first frame.

People start talking or smiling before they calibrate, so the calibration frame is a poor
neutral: its open mouth would be "closed" for the rest of the session and its smile "no smile".
Here the neutral is a robust statistic of the recent past, per person (reset on recalibration):

* **mouth**: the closed-lip gap is a low percentile of the inner-lip gap (lips meet between
  syllables), never above ``PRIOR_CLOSED_GAP``, so a driver who opens from the first frame on is
  still measured from closed;
* **eyes**: each eye's neutral opening is a middle percentile of its own history: blinks are
  short and rare, so they do not pull it down, and wide eyes or squints show as ratios ≠ 1;
* **shape**: the per-landmark median of the frames whose mouth was nearly closed — lip width and
  corner height, brows, gaze — is what expression deltas are measured against. Only frames
  whose head pose is near the calibration frame's count: a face's shape in its own frame drifts
  by several per cent of its size as the head pitches or turns (the tracker's depth is a guess),
  and a neutral taken from a mix of poses would shift every expression by that drift. Until
  enough such frames have been seen, the calibration frame (mouth closed) stands in.

The shape estimate replaces the calibration frame only where they differ by an expression
(``zero_shape``): the lips (a smile or talking shape at calibration) and each brow. Elsewhere,
and for differences within what the tracker's pose drift produces on its own, the calibration
frame stays the zero, so a driver who calibrates with a neutral face gets exactly relative motion
(a self-reenactment reproduces the clip's own landmarks). The calibration frame also stays the
zero of the lips where the avatar photo already shows its expression (``shared_expression``): a
smiling photo driven by someone who calibrated with that smile keeps it, instead of smiling twice.

Pure functions plus a small history dataclass the caller (``FrameProcessor``) holds and resets.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

from livehead.face import landmarks as lm
from livehead.face.expression import eye_openness, mouth_openness, set_mouth_gap
from livehead.face.geometry import smoothstep

__all__ = ["NeutralEstimate", "NeutralHistory", "shared_expression", "update_neutral", "zero_shape"]

SAMPLE_DT = 0.1  # s between kept samples (history rate 10 Hz)
WINDOW_S = 30.0  # s of history the estimate looks at
REFRESH_S = 0.5  # s between re-estimates once warmed up (a median over the history costs ~3 ms)
WARM_SAMPLES = 20  # re-estimate on every kept sample until this many
MOUTH_PERCENTILE = 5.0
PRIOR_CLOSED_GAP = 0.02  # canonical units; closed lips measure 0.000–0.02 on the clips we have
CLOSED_MARGIN = 0.02  # samples within this of the closed gap count as "mouth closed" for the shape
SHAPE_SAMPLES = 41  # calm samples the neutral shape's median is taken over
POSE_TOLERANCE = 6.0  # degrees of yaw and pitch from the calibration pose a sample may be off
MIN_SHAPES = 5  # calm samples near the calibration pose needed before they replace the calibration frame
EYE_PERCENTILE = 60.0
EYE_RANGE = (0.12, 0.45)  # plausible neutral eye openness (gap / width); bounds a blink-only start
# A region's largest landmark shift (canonical units, in the image plane) between the calibration
# frame and the estimate: below DRIFT it is the tracker's drift between poses and frames (up to
# 0.05 on the rigid points of the clips we have, where no expression can be), from EXPRESSION on
# it is an expression (a broad smile moves the mouth corners 0.1 or more); a smooth ramp between.
DRIFT = 0.05
EXPRESSION = 0.10
REGION_FALLOFF = 0.25  # canonical units: how far around a region its correction fades out


@dataclass(frozen=True)
class NeutralEstimate:
    """What "no expression" looks like for this driver, in the face's own frame.

    ``local`` is (478, 3) canonical units with the mouth closed; ``mouth_gap`` the closed-lip gap
    (canonical units) to subtract from measured gaps; ``eyes`` the (right, left) neutral eye
    openness (``expression.eye_openness``) to divide measured openness by.
    """

    local: np.ndarray
    mouth_gap: float
    eyes: tuple[float, float]
    samples: int
    # Distance of every landmark to each region of ``_REGIONS`` on ``local`` (see ``zero_shape``),
    # computed once per estimate rather than every frame; None: computed when needed.
    region_distance: tuple[np.ndarray, ...] | None = None


@dataclass
class NeutralHistory:
    """Kept samples (time, local shape, mouth gap, eye openness) and the last estimate."""

    times: collections.deque = field(default_factory=collections.deque)
    shapes: collections.deque = field(default_factory=collections.deque)
    gaps: collections.deque = field(default_factory=collections.deque)
    eyes: collections.deque = field(default_factory=collections.deque)
    poses: collections.deque = field(default_factory=collections.deque)  # (yaw, pitch) degrees
    first: np.ndarray | None = None  # the calibration frame's shape
    reference_pose: tuple[float, float] = (0.0, 0.0)
    estimate: NeutralEstimate | None = None
    estimated_at: float = -np.inf


def _estimate(history: NeutralHistory) -> NeutralEstimate:
    gaps = np.asarray(history.gaps)
    eyes = np.asarray(history.eyes)
    closed_gap = float(min(np.percentile(gaps, MOUTH_PERCENTILE), PRIOR_CLOSED_GAP))
    neutral_eyes = np.clip(np.percentile(eyes, EYE_PERCENTILE, axis=0), *EYE_RANGE)
    poses = np.asarray(history.poses, dtype=np.float64).reshape(-1, 2)
    near = (np.abs(poses - np.asarray(history.reference_pose)) <= POSE_TOLERANCE).all(1)
    calm = np.nonzero((gaps <= closed_gap + CLOSED_MARGIN) & near)[0]
    if calm.size >= MIN_SHAPES:
        # A median over up to SHAPE_SAMPLES of them, evenly spread in time (all 300 would cost
        # ~10 ms on the render thread twice a second; more samples change nothing visible).
        pick = calm[np.linspace(0, calm.size - 1, min(calm.size, SHAPE_SAMPLES)).round().astype(int)]
        local = np.median(np.asarray([history.shapes[i] for i in pick]), axis=0).astype(np.float64)
    else:
        local = np.asarray(history.first, dtype=np.float64)
    # The shape's own lips closed, so an expression delta against it opens from closed.
    local = set_mouth_gap(local, local, closed_gap)
    return NeutralEstimate(local, closed_gap, (float(neutral_eyes[0]), float(neutral_eyes[1])), len(gaps),
                           region_distance(local))


# Regions whose shape at calibration may be an expression: (where it is measured, what it moves,
# whether an avatar photo can show the same expression: see ``shared_expression``, the mouth's).
# The lips decide for the lower face (an open mouth at calibration moved the jaw and cheeks too,
# and closing it again is not an exact inverse); each brow for itself.
_REGIONS = (
    (lm.as_index(lm.LIPS), lm.as_index(lm.LIPS + lm.JAW_LOWER + lm.CHIN_INNER + lm.CHEEKS), True),
    (lm.as_index(lm.RIGHT_BROW), lm.as_index(lm.RIGHT_BROW), False),
    (lm.as_index(lm.LEFT_BROW), lm.as_index(lm.LEFT_BROW), False),
)


def zero_shape(reference: np.ndarray, estimate: NeutralEstimate, avatar: np.ndarray | None = None) -> np.ndarray:
    """The driver's zero of expression (478, 3): the calibration frame ``reference`` (local units)
    with its mouth closed, and in each region where the estimate differs from it by an expression
    (see ``DRIFT`` / ``EXPRESSION``) the estimate's shape instead, faded out around the region.

    ``avatar`` (478, 3 local units, mouth closed): the face the expression is added to. Where it
    already shows the calibration frame's mouth expression (``shared_expression``: a photo taken
    smiling, driven by someone who calibrated smiling, or by the same person in the same moment),
    the calibration frame stays the zero there, so that smile is not added a second time.
    """
    ref = set_mouth_gap(np.asarray(reference, dtype=np.float64), reference, estimate.mouth_gap)
    dev = estimate.local - ref
    weight = np.zeros(len(ref))
    distances = estimate.region_distance or region_distance(estimate.local)
    for (measured, _, mouth), near in zip(_REGIONS, distances):
        shift = float(np.sqrt((dev[measured, :2] ** 2).sum(1)).max())
        x = np.clip((shift - DRIFT) / (EXPRESSION - DRIFT), 0.0, 1.0)
        if x > 0.0 and mouth and avatar is not None:
            x *= 1.0 - shared_expression(avatar, ref, estimate.local)
        if x > 0.0:
            weight = np.maximum(weight, smoothstep(x) * np.exp(-0.5 * (near / REGION_FALLOFF) ** 2))
    return ref + weight[:, None] * dev


# The lips' expression as their shape around the upper lip's centre, in mouth widths (the mouth's
# place on the face and its width are mostly identity, not expression; the corners' lift against
# the width is what a smile or a pout changes): upper outer lip with the corners.
_LIP_SHAPE = lm.as_index(lm.LIPS_UPPER_OUTER)
_LIP_CENTRE = 0


def shared_expression(avatar: np.ndarray, calibration: np.ndarray, neutral: np.ndarray) -> float:
    """In [0, 1]: how far the ``avatar``'s lips are along the way from the driver's ``neutral`` to
    its ``calibration`` frame (all (478, 3) local units, mouths closed); 0 a neutral mouth, 1 the
    calibration frame's smile or pout.

    The lip shapes are compared around the upper lip's centre, scaled to one mouth width, and
    projected on the calibration expression's own direction, so a different person's mouth (wider,
    thinner lips) mostly moves across that direction, not along it.
    """
    def shape(local: np.ndarray) -> np.ndarray:
        width = float(np.linalg.norm(local[_LIP_SHAPE[-1], :2] - local[_LIP_SHAPE[0], :2]))
        return ((local[_LIP_SHAPE, :2] - local[_LIP_CENTRE, :2]) / max(width, 1e-9)).ravel()

    direction = shape(calibration) - shape(neutral)
    norm = float(direction @ direction)
    if norm < 1e-12:
        return 0.0
    return float(np.clip((shape(avatar) - shape(neutral)) @ direction / norm, 0.0, 1.0))


def region_distance(local: np.ndarray) -> tuple[np.ndarray, ...]:
    """(478,) distance of each landmark of ``local`` to the nearest landmark each region moves."""
    return tuple(np.sqrt(((local[:, None, :2] - local[None, moved, :2]) ** 2).sum(-1)).min(1) for _, moved, _ in _REGIONS)


def update_neutral(history: NeutralHistory | None, local: np.ndarray, now: float,
                   pose: tuple[float, float] = (0.0, 0.0)) -> tuple[NeutralEstimate, NeutralHistory]:
    """Add the driver's face ``local`` (478, 3) seen at ``now`` (s) with head ``pose`` (yaw, pitch
    degrees) and return the current estimate.

    ``history`` None starts a new person (after calibration): this face is the calibration frame,
    whose pose the shape samples must stay near, and with its mouth closed it is the first
    estimate, refined as samples arrive. Samples closer than ``SAMPLE_DT`` to the last kept one
    are not kept; out-of-order times are ignored.
    """
    if history is None:
        history = NeutralHistory(first=np.asarray(local, dtype=np.float64).copy(), reference_pose=tuple(pose))
    if not history.times or now - history.times[-1] >= SAMPLE_DT:
        history.times.append(now)
        history.shapes.append(np.asarray(local, dtype=np.float32))
        history.gaps.append(mouth_openness(local))
        history.eyes.append(eye_openness(local))
        history.poses.append(tuple(pose))
        while now - history.times[0] > WINDOW_S:
            for q in (history.times, history.shapes, history.gaps, history.eyes, history.poses):
                q.popleft()
        if len(history.times) <= WARM_SAMPLES or now - history.estimated_at >= REFRESH_S:
            history.estimate = _estimate(history)
            history.estimated_at = now
    if history.estimate is None:
        history.estimate = _estimate(history)
        history.estimated_at = now
    return history.estimate, history
