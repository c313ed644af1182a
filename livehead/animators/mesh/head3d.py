"""The head as a rigid 3D body for the warp: hair and head outline turn with the face, the body stays.

Face landmarks carry the face; everything around it — hair, the head's outline, ears, the neck
— has no landmark, so a warp steered by face points alone bends it like a rubber sheet (a turned
head shears, the jaw and neck bend sideways). Here the person's outline (from the segmentation)
gets control points:

* around the head they move with the head's rigid 3D motion, measured each frame from the target
  face (rotation, scale, translation of the rigid landmarks), at the depth of the ears: a head
  seen from the front has its outline on the great circle through the ears;
* from the chin down they hand over to the body, which does not move, so the neck stretches
  between the two and the shoulders stay where the photo has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from livehead.face import landmarks as lm
from livehead.face.geometry import smoothstep, umeyama
from livehead.stages.tracking import canonical_face

__all__ = ["Outline", "exposure", "front_points", "head_motion", "head_outline", "landmark_normals", "move_outline", "visibility"]

_RIGID = lm.as_index(lm.RIGID)
_EARS = (234, 454)  # the face outline's left- and rightmost points, at ear depth
SPACING = 0.22  # outline points every this many face heights
HEAD_FREE = 0.1  # fully rigid with the head down to this far below the chin (face heights)
BODY_FIXED = 0.6  # fully still from this far below the chin (face heights)
SHOULDER_SLOPE = (50.0, 25.0)  # degrees from level: an outline flatter than the first may be a shoulder, than the second is


# Occlusion test (canonical units): a landmark is hidden by another one this close across the
# image that lies this much nearer the camera (the nose over the far cheek in a turned head).
OCCLUDER_RADIUS = 0.07  # about the landmark spacing, so the mesh has no holes between points
OCCLUDER_DEPTH = 0.12  # a surface's own neighbours differ by less, even at a grazing angle
FRONT_DEPTH = -0.1  # canonical depth in front of which a landmark counts as an occluder
HIDE_AFTER = 0.15  # a point turned this far past edge-on (normal · view, ≈ 9°) is hidden


@dataclass(frozen=True)
class Outline:
    """Control points on the person's outline: ``points`` (M, 3) avatar pixels (z at ear depth),
    ``weight`` (M,) share of the head's motion each follows (1 head, 0 body), ``normals`` (M, 3)
    outward in the image plane."""

    points: np.ndarray
    weight: np.ndarray
    normals: np.ndarray


@lru_cache(maxsize=1)
def front_points() -> np.ndarray:
    """Indices of the landmarks that stand out from the face (nose, lips, chin, cheekbones):
    the only ones that can hide another landmark when the head turns."""
    return np.nonzero(canonical_face()[:468, 2] < FRONT_DEPTH)[0]


@lru_cache(maxsize=1)
def _neighbours(k: int = 10) -> np.ndarray:
    """(478, k) indices of each landmark's nearest neighbours on the canonical face (itself excluded)."""
    c = canonical_face()
    d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    return np.argsort(d2, axis=1)[:, :k]


def landmark_normals(points: np.ndarray) -> np.ndarray:
    """(478, 3) unit surface normals of a face's (478, 3) landmarks, pointing out of the head.

    Each normal is the direction of least spread of the landmark's canonical neighbours (a local
    plane fit), turned away from a point behind the face (the head's inside).
    """
    pts = np.asarray(points, dtype=np.float64)
    nb = pts[_neighbours()]  # (478, k, 3)
    centred = nb - nb.mean(1, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    normals = vt[:, -1, :]
    inside = pts[:468].mean(0)
    inside[2] = pts[:468, 2].max()
    flip = np.sum(normals * (pts - inside), axis=1) < 0
    normals[flip] *= -1.0
    return normals


def head_motion(neutral: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, rotation (3, 3), translation (3,)) taking the neutral head to the target (rigid landmarks, 3D)."""
    return umeyama(neutral[_RIGID].astype(np.float64), target[_RIGID].astype(np.float64))


def exposure(points: np.ndarray, normals: np.ndarray, occluders: np.ndarray, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """How each of ``points`` faces the camera and how much nearer surface covers it.

    Args:
        points: (M, 3) positions in pixels (x, y) and depth (z, same scale, away from the camera).
        normals: (M, 3) outward unit normals at ``points``, in the same frame.
        occluders: (N, 3) surface points that may hide them (the face mesh); None: facing only.
        unit: pixels per canonical unit (the face's pose scale).

    Returns:
        (facing, cover), each (M,): ``facing`` = normal · (towards the camera), 1 head-on, 0
        edge-on, < 0 turned away; ``cover`` in [0, 1], how firmly a nearer occluder (within
        ``OCCLUDER_RADIUS`` across, ``OCCLUDER_DEPTH`` nearer) sits in front. Both are continuous
        in the geometry, so points fade rather than pop as the head turns (see ``visibility``).
    """
    facing = -normals[:, 2]
    if occluders is None:
        return facing, np.zeros(len(points))
    radius, depth = np.float32(OCCLUDER_RADIUS * unit), np.float32(OCCLUDER_DEPTH * unit)
    p, q = points.astype(np.float32), occluders.astype(np.float32)
    d2 = ((p[:, None, :2] - q[None, :, :2]) ** 2).sum(-1)
    closeness = np.maximum(1.0 - np.sqrt(d2) / radius, 0.0)
    lead = np.clip((p[:, None, 2] - q[None, :, 2] - depth) / depth, 0.0, 1.0)
    cover = (closeness * lead).max(1)
    return facing, np.clip(cover, 0.0, 1.0)


def visibility(facing: np.ndarray, cover: np.ndarray, neutral_facing: np.ndarray, neutral_cover: np.ndarray) -> np.ndarray:
    """(M,) in [0, 1]: 0 hidden, 1 as visible as in the photo; from ``exposure`` now and in the neutral.

    Only change counts: a point at the photo's own silhouette (edge-on) or tucked beside the
    nose stays a control point until the head turns it further away (``HIDE_AFTER`` of facing)
    or something new comes in front of it.
    """
    turned = facing - np.minimum(neutral_facing, 0.0)
    covered = np.clip(2.0 * (cover - neutral_cover), 0.0, 1.0)
    return smoothstep((turned + HIDE_AFTER) / HIDE_AFTER) * (1.0 - covered)


def head_outline(person: np.ndarray, landmarks: np.ndarray) -> Outline:
    """Outline points of the person mask ``person`` (H, W) uint8 around the face ``landmarks`` (478, 3).

    Points on the image border are left out (the border is pinned anyway), and so are points
    farther than two face heights from the face, which belong to the body only. A few points
    inside the body below the neck are added, pinned.
    """
    h, w = person.shape
    oval = landmarks[list(lm.FACE_OVAL), :2].astype(np.float64)
    top, chin = float(oval[:, 1].min()), float(oval[:, 1].max())
    face_h = max(chin - top, 1.0)
    centre = oval.mean(0)
    contours, _ = cv2.findContours((person >= 128).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return Outline(np.zeros((0, 3)), np.zeros(0), np.zeros((0, 3)))
    contour = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    # Resample evenly along the contour.
    seg = np.linalg.norm(np.diff(contour, axis=0, append=contour[:1]), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.arange(0.0, arc[-1], SPACING * face_h)
    closed = np.vstack([contour, contour[:1]])

    def along(a: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(a, arc, closed[:, 0], period=arc[-1]), np.interp(a, arc, closed[:, 1], period=arc[-1])], 1)

    pts = along(at)
    step = 0.05 * face_h
    tangent = along(at + step) - along(at - step)
    margin = 2.0
    inside = (pts[:, 0] > margin) & (pts[:, 0] < w - 1 - margin) & (pts[:, 1] > margin) & (pts[:, 1] < h - 1 - margin)
    near = np.linalg.norm((pts - centre) / face_h, axis=1) < 2.0
    # Not on the face itself: the face outline has its own landmarks there.
    oval_i = np.round(oval).astype(np.int32)
    off_face = np.array([cv2.pointPolygonTest(oval_i, (float(x), float(y)), True) < -0.05 * face_h for x, y in pts],
                        dtype=bool)
    keep = inside & near & off_face
    pts, tangent = (pts[keep], tangent[keep]) if len(pts) else (pts, tangent)
    outward = pts - centre
    shoulder = _shoulder(pts, tangent, landmarks, oval, face_h)
    # The body inside the outline is still too: a few pins keep the chest from sliding with the chin.
    gy, gx = np.mgrid[chin + BODY_FIXED * face_h : h - margin : 0.5 * face_h,
                      centre[0] - 1.5 * face_h : centre[0] + 1.6 * face_h : 0.5 * face_h]
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    grid = grid[(grid[:, 0] > margin) & (grid[:, 0] < w - 1 - margin)]
    if len(grid):
        grid = grid[person[grid[:, 1].astype(int), grid[:, 0].astype(int)] >= 128]
        pts = np.vstack([pts, grid])
        shoulder = np.concatenate([shoulder, np.ones(len(grid))])
        outward = np.vstack([outward, np.tile([0.0, 1.0], (len(grid), 1))])
    below = (pts[:, 1] - chin) / face_h
    weight = np.minimum(1.0 - smoothstep((below - HEAD_FREE) / (BODY_FIXED - HEAD_FREE)), 1.0 - shoulder)
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-9)
    depth = float(np.mean(landmarks[list(_EARS), 2]))
    return Outline(np.column_stack([pts, np.full(len(pts), depth)]), weight,
                   np.column_stack([outward, np.zeros(len(pts))]))


def _shoulder(points: np.ndarray, tangent: np.ndarray, landmarks: np.ndarray, oval: np.ndarray,
              face_h: float) -> np.ndarray:
    """(M,) in [0, 1]: how surely each outline point is a shoulder (body), not head or hair.

    In a close-up the shoulders rise beside the jaw, above the chin, where the rule "still from
    ``BODY_FIXED`` below the chin" would move them with the head (and uncover the plate beside
    the neck). A shoulder's outline lies below the mouth, beside the face, and runs more across
    than down (``SHOULDER_SLOPE``); hair hanging beside the face runs down and stays with the head.
    """
    mouth_y = float(landmarks[list(lm.MOUTH_CORNERS), 1].mean())
    centre_x = float(oval[:, 0].mean())
    half = max(float(np.abs(oval[:, 0] - centre_x).max()), 1.0)
    across = np.abs(tangent[:, 0]) / np.maximum(np.linalg.norm(tangent, axis=1), 1e-9)
    low, high = np.cos(np.radians(SHOULDER_SLOPE))
    return (smoothstep((points[:, 1] - mouth_y) / (0.1 * face_h))
            * smoothstep((np.abs(points[:, 0] - centre_x) - 0.9 * half) / (0.2 * half))
            * smoothstep((across - low) / (high - low)))


def move_outline(outline: Outline, motion: tuple[float, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Outline points after the head's ``motion`` (``head_motion``): ((M, 3) positions, (M, 3) normals).

    The motion applies in full to head points and blends to none on body points.
    """
    if len(outline.points) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    scale, rotation, translation = motion
    moved = scale * outline.points @ rotation.T + translation
    w = outline.weight[:, None]
    normals = w * (outline.normals @ rotation.T) + (1.0 - w) * outline.normals
    return w * moved + (1.0 - w) * outline.points, normals
