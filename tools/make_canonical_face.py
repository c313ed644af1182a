"""Build livehead/data/canonical_face.npy: the frontal, symmetric reference face for head pose.

Runs the tracker on scikit-image's public-domain astronaut photo, rotates the landmarks into a
frontal frame (x along the eye line, y from forehead to chin), then averages each point with the
mirror image of its left/right partner so the result has no yaw or roll of its own.
Usage: python tools/make_canonical_face.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from skimage import data

from livehead.face import landmarks as lm
from livehead.stages.tracking import FaceTracker


def frontal_frame(points: np.ndarray) -> np.ndarray:
    """Rows: x (subject's right → left eye, i.e. image +x), y (forehead → chin), z = x × y."""
    x = points[list(lm.LEFT_EYE_CORNERS)].mean(0) - points[list(lm.RIGHT_EYE_CORNERS)].mean(0)
    x /= np.linalg.norm(x)
    y = points[152] - points[10]
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)])


def main() -> None:
    with FaceTracker(static_image_mode=True) as tracker:
        obs = tracker.track(data.astronaut())
    assert obs is not None, "no face found in the astronaut photo"
    pts = obs.landmarks.astype(np.float64)
    pts = (pts - pts[list(lm.RIGID)].mean(0)) @ frontal_frame(pts).T
    mirrored = pts * np.array([-1.0, 1.0, 1.0])
    _, partner = cKDTree(mirrored[:468]).query(pts[:468])
    sym = pts.copy()
    sym[:468] = 0.5 * (pts[:468] + mirrored[partner])
    # Irises: pair the right iris (468..472) with the left one (473..477) point by point.
    right, left = list(lm.RIGHT_IRIS), list(lm.LEFT_IRIS)
    _, iris_partner = cKDTree(mirrored[left]).query(pts[right])
    for k, i in enumerate(right):
        j = left[iris_partner[k]]
        sym[i] = 0.5 * (pts[i] + mirrored[j])
        sym[j] = sym[i] * np.array([-1.0, 1.0, 1.0])
    sym -= sym[list(lm.RIGID)].mean(0)
    inter_ocular = np.linalg.norm(sym[list(lm.LEFT_EYE_CORNERS)].mean(0) - sym[list(lm.RIGHT_EYE_CORNERS)].mean(0))
    sym /= inter_ocular
    out = Path(__file__).resolve().parents[1] / "livehead" / "data" / "canonical_face.npy"
    np.save(out, sym.astype(np.float32))
    print(f"wrote {out} ({sym.shape}), max asymmetry before averaging "
          f"{np.abs(pts[:468] - mirrored[partner]).max() / inter_ocular:.3f} inter-ocular units")


if __name__ == "__main__":
    main()
