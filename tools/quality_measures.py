"""Per-frame measures for ``tools/mesh_quality.py``: MediaPipe and dlib 68-point readings of a frame,
and the scripted head turn. See ``mesh_quality.py`` for how they are used."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from livehead.animators.mesh import mouth as mesh_mouth
from livehead.eval import metrics as M
from livehead.face.geometry import euler_from_rotation
from livehead.stages.motion import eye_openness, mouth_openness, to_local
from livehead.stages.tracking import FaceTracker, canonical_face

# dlib's 68 points → MediaPipe indices of the same places, for the 3D head model of solvePnP.
# Only points that do not move with expression: nose bridge and base, eye corners.
_DLIB_RIGID = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)
_MP_RIGID = (168, 197, 195, 1, 98, 2, 327, 33, 133, 362, 263)
_DLIB_MOUTH = np.arange(48, 68)
_DLIB_INNER = np.arange(60, 68)


# ---- per-frame measures ----------------------------------------------------------------------
@dataclass
class Measures:
    """One sequence measured by one tracker: (T,) or (T, 2) arrays, NaN where no face was found."""

    mouth: list[float] = field(default_factory=list)
    eyes: list[tuple[float, float]] = field(default_factory=list)
    yaw: list[float] = field(default_factory=list)
    luma: list[float] = field(default_factory=list)
    seam: list[float] = field(default_factory=list)
    points: list[np.ndarray | None] = field(default_factory=list)  # mouth points for the landmark error
    ocular: list[float] = field(default_factory=list)

    def add_missing(self) -> None:
        self.mouth.append(math.nan)
        self.eyes.append((math.nan, math.nan))
        self.yaw.append(math.nan)
        self.luma.append(math.nan)
        self.seam.append(math.nan)
        self.points.append(None)
        self.ocular.append(math.nan)


def measure_mediapipe(tracker: FaceTracker, image: np.ndarray, out: Measures) -> np.ndarray | None:
    obs = tracker.track(np.ascontiguousarray(image))
    if obs is None:
        out.add_missing()
        return None
    local = to_local(obs)
    out.mouth.append(max(mouth_openness(local), 0.0))
    out.eyes.append(eye_openness(local))
    out.yaw.append(obs.pose.yaw_pitch_roll[0])
    poly = mesh_mouth.inner_mouth_polygon(obs.landmarks)
    out.luma.append(M.inner_mouth_luma(image, poly))
    out.seam.append(M.mouth_seam(image, poly))
    out.points.append(obs.landmarks[list(M.MOUTH), :2].astype(np.float64))
    out.ocular.append(obs.face_size)
    return obs.landmarks


def _model_points() -> np.ndarray:
    return canonical_face()[list(_MP_RIGID)].astype(np.float64)


def dlib_yaw(points: np.ndarray, size: tuple[int, int]) -> float:
    """Head yaw in degrees from dlib's 68 points by solvePnP on the canonical face (focal = image width)."""
    w, h = size
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], dtype=np.float64)
    image = points[list(_DLIB_RIGID)].astype(np.float64)
    # Start frontal at the distance the eye corners' spacing implies: left to itself, the solver
    # often lands on the mirrored pose (nose depth on the wrong side), flipping the yaw's sign.
    model = _model_points()
    spacing = np.linalg.norm(model[10] - model[7]) / max(np.linalg.norm(image[10] - image[7]), 1e-6)
    tvec = np.array([[(image[:, 0].mean() - w / 2) * spacing], [(image[:, 1].mean() - h / 2) * spacing], [w * spacing]])
    ok, rvec, _ = cv2.solvePnP(model, image, camera, None, rvec=np.zeros((3, 1)), tvec=tvec, useExtrinsicGuess=True,
                               flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return math.nan
    return euler_from_rotation(cv2.Rodrigues(rvec)[0])[0]


def measure_dlib(result: dict, image: np.ndarray, out: Measures) -> None:
    if result.get("landmarks") is None:
        out.add_missing()
        return
    p = np.asarray(result["landmarks"], dtype=np.float64)
    ocular = float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0)))
    gap = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    out.mouth.append(float(gap / ocular))

    def ear(e: np.ndarray) -> float:
        return float((np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * np.linalg.norm(e[0] - e[3])))

    out.eyes.append((ear(p[36:42]), ear(p[42:48])))  # subject's right eye first
    out.yaw.append(dlib_yaw(p, (image.shape[1], image.shape[0])))
    out.luma.append(M.inner_mouth_luma(image, p[_DLIB_INNER]))
    out.seam.append(M.mouth_seam(image, p[_DLIB_INNER]))
    out.points.append(p[_DLIB_MOUTH])
    out.ocular.append(ocular)


# ---- a scripted head turn (no clip has one as large as the issue's) --------------------------------
TURN_FPS = 30.0


def turn_driver(face, amplitude: float, seconds: float = 6.0) -> tuple[list, list[tuple[float, float]]]:
    """Observations of ``face`` turning: yaw ±``amplitude`` over 4 s, then pitch ±``amplitude``/2 over 2 s.

    Returns (observations, [(yaw, pitch)] degrees per frame): the scripted angles are the
    driver's truth, exact by construction.
    """
    from livehead.face.geometry import rotation_from_euler
    from livehead.stages.motion import from_local
    from livehead.stages.tracking import observation_from_landmarks

    from livehead.face.expression import close_mouth

    local, pose = close_mouth(to_local(face)), face.pose
    observations, angles = [], []
    for i in range(int(seconds * TURN_FPS)):
        t = i / TURN_FPS
        yaw = amplitude * math.sin(2 * math.pi * t / 4.0) if t < 4.0 else 0.0
        pitch = 0.5 * amplitude * math.sin(2 * math.pi * (t - 4.0) / 2.0) if t >= 4.0 else 0.0
        pts = from_local(local, rotation_from_euler(yaw, pitch, 0.0) @ pose.rotation, pose.scale, pose.translation)
        observations.append(observation_from_landmarks(pts, timestamp=t, frame_size=face.frame_size))
        angles.append((yaw, pitch))
    return observations, angles
