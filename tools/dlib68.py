"""Independent measurements for ``tools/mesh_quality.py``: dlib's 68-point landmarks and face embeddings.

Runs in a *side* virtual environment that has dlib, never in LiveHead's own (dlib is not a
LiveHead dependency and its tracker must stay independent of MediaPipe)::

    python3.11 -m venv /tmp/dlibvenv
    /tmp/dlibvenv/bin/pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0 \
        'setuptools<81' numpy==1.26.4 opencv-contrib-python==4.11.0.86
    /tmp/dlibvenv/bin/python tools/dlib68.py jobs.json results.json

``jobs.json`` is a list of ``{"image": path, "near": [x0, y0, x1, y1] | null, "embed": bool}``.
``near`` only narrows where dlib's own HOG detector looks (a face box grown by 40 %): the box
dlib's shape model sees is always dlib's own detection, so a MediaPipe error cannot leak into the
independent landmarks. ``results.json`` gets, per job, ``{"landmarks": [[x, y] × 68] | null,
"embedding": [128 floats] | null}`` in the image's pixels.
"""

from __future__ import annotations

import json
import sys
import warnings

import cv2
import dlib
import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import face_recognition_models as models


def main(jobs_path: str, out_path: str) -> int:
    jobs = json.load(open(jobs_path))
    detector = dlib.get_frontal_face_detector()
    shape68 = dlib.shape_predictor(models.pose_predictor_model_location())
    shape5 = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    results = []
    for job in jobs:
        image = cv2.imread(job["image"], cv2.IMREAD_COLOR)
        if image is None:
            results.append({"landmarks": None, "embedding": None, "error": "unreadable"})
            continue
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = 0, 0, w, h
        if job.get("near"):
            bx0, by0, bx1, by1 = job["near"]
            mx, my = 0.4 * (bx1 - bx0), 0.4 * (by1 - by0)
            x0, y0 = int(max(0, bx0 - mx)), int(max(0, by0 - my))
            x1, y1 = int(min(w, bx1 + mx)), int(min(h, by1 + my))
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        # HOG needs faces of ≥ 80 px; small crops are searched upsampled once.
        found = list(detector(crop, 1 if max(crop.shape[:2]) < 300 else 0)) if crop.size else []
        if not found:
            results.append({"landmarks": None, "embedding": None})
            continue
        best = max(found, key=lambda r: r.width() * r.height())
        rect = dlib.rectangle(best.left() + x0, best.top() + y0, best.right() + x0, best.bottom() + y0)
        pts = shape68(rgb, rect)
        landmarks = [[float(pts.part(i).x), float(pts.part(i).y)] for i in range(68)]
        embedding = None
        if job.get("embed"):
            embedding = list(net.compute_face_descriptor(rgb, shape5(rgb, rect)))
        results.append({"landmarks": landmarks, "embedding": embedding})
    json.dump(results, open(out_path, "w"))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
