"""Identity embeddings for ``livehead eval`` through the optional ``eval`` extra (dlib).

``pip install 'livehead[eval]'`` brings ``dlib-bin`` and ``face-recognition-models`` (dlib's
ResNet face-recognition model, 128-d embeddings, the one behind the ``face_recognition`` library;
two photos of one person are usually closer than 0.6). Both are imported only inside
``load_embedder``: without them the identity metric is reported as unavailable, never as zero.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["EXTRA_HINT", "FaceEmbedder", "SAME_PERSON_DISTANCE", "load_embedder"]

SAME_PERSON_DISTANCE = 0.6  # dlib's documented threshold for "same person"
EXTRA_HINT = "pip install 'livehead[eval]' (dlib-bin==20.0.1.post1, face-recognition-models==0.3.0, setuptools<81)"


class FaceEmbedder:
    """dlib's 5-point alignment + ResNet descriptor. Build it with ``load_embedder``.

    Not thread-safe; one per thread.
    """

    def __init__(self, dlib_module, models_module) -> None:
        self._dlib = dlib_module
        self._detector = dlib_module.get_frontal_face_detector()
        self._shape = dlib_module.shape_predictor(models_module.pose_predictor_five_point_model_location())
        self._net = dlib_module.face_recognition_model_v1(models_module.face_recognition_model_location())
        self.name = "dlib_face_recognition_resnet_model_v1 (128-d)"

    def embed(self, image: np.ndarray, box: tuple[float, float, float, float] | None = None) -> np.ndarray | None:
        """(128,) float64 embedding of the face in ``image`` ((H, W, 3) uint8 RGB), or None.

        Args:
            box: the tracker's face box (x0, y0, x1, y1) in pixels. dlib's own detector looks for
                the face near it (its boxes are what the aligner was trained on); when it finds
                none there the tracker box is used as it is. Without a box the largest face dlib
                detects is used, and None is returned when there is none.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"embed() needs (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        dlib = self._dlib
        h, w = image.shape[:2]
        image = np.ascontiguousarray(image)
        rect = None
        if box is not None:
            x0, y0, x1, y1 = box
            mx, my = 0.3 * (x1 - x0), 0.3 * (y1 - y0)
            cx0, cy0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
            cx1, cy1 = int(min(w, x1 + mx)), int(min(h, y1 + my))
            crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
            upsample = 1 if (x1 - x0) < 100 else 0
            found = list(self._detector(crop, upsample)) if crop.size else []
            if found:
                best = max(found, key=lambda r: r.width() * r.height())
                rect = dlib.rectangle(best.left() + cx0, best.top() + cy0, best.right() + cx0, best.bottom() + cy0)
            else:
                rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        else:
            found = list(self._detector(image, 1))
            if not found:
                return None
            rect = max(found, key=lambda r: r.width() * r.height())
        shape = self._shape(image, rect)
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float64)


def load_embedder() -> tuple[FaceEmbedder | None, str | None]:
    """(embedder, None) when the ``eval`` extra works, else (None, the reason with the fix)."""
    try:
        import dlib
    except ImportError as exc:
        return None, f"dlib is not installed ({exc}); {EXTRA_HINT}"
    try:
        with warnings.catch_warnings():
            # face-recognition-models locates its files through pkg_resources, which setuptools
            # deprecates loudly on import; the pin setuptools<81 keeps it working.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import face_recognition_models
    except ImportError as exc:
        return None, f"face-recognition-models cannot be imported ({exc}); {EXTRA_HINT}"
    try:
        embedder = FaceEmbedder(dlib, face_recognition_models)
    except RuntimeError as exc:  # dlib raises RuntimeError for a missing or corrupt model file
        return None, f"dlib could not load the face models ({exc}); reinstall with {EXTRA_HINT}"
    log.info("Identity metric: %s via dlib %s.", embedder.name, getattr(dlib, "__version__", "?"))
    return embedder, None
