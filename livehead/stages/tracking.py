"""Face tracking: MediaPipe FaceMesh (478 landmarks with irises) → ``FaceObservation``.

MediaPipe is imported inside ``FaceTracker.__init__`` so ``import livehead`` stays light.
The legacy ``mp.solutions.face_mesh`` graph ships its models inside the mediapipe 0.10.21 wheel,
so tracking needs no download.
"""

from __future__ import annotations

import importlib.util
import logging
import weakref
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from livehead.checks import Check
from livehead.face import landmarks as lm
from livehead.face.geometry import euler_from_rotation, umeyama
from livehead.native import QuietHold, quiet_native_stderr
from livehead.types import NUM_LANDMARKS, FaceObservation, HeadPose

log = logging.getLogger(__name__)

__all__ = ["FaceTracker", "MEDIAPIPE_REINSTALL", "canonical_face", "doctor_checks", "estimate_pose",
           "observation_from_landmarks", "person_mask"]

MEDIAPIPE_MODELS = (
    "modules/face_landmark/face_landmark_with_attention.tflite",  # 478 points with irises (refine_landmarks)
    "modules/face_detection/face_detection_short_range.tflite",
    "modules/selfie_segmentation/selfie_segmentation.tflite",  # person_mask: the mesh engine's head layer
)
MEDIAPIPE_REINSTALL = ("pip install --force-reinstall mediapipe==0.10.21 'numpy<2' (0.10.21 is the last release that "
                       "ships the face models inside the wheel; it needs numpy<2)")


@lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """(478, 3) float64 frontal, left-right symmetric face in canonical units (inter-ocular ≈ 1).

    Image axes (x right, y down, z away from the camera), centred on the rigid points.
    Built once by ``tools/make_canonical_face.py`` from the tracker run on a public-domain photo.
    """
    with resources.files("livehead.data").joinpath("canonical_face.npy").open("rb") as f:
        return np.load(f).astype(np.float64)


def estimate_pose(landmarks: np.ndarray) -> HeadPose:
    """Head pose of a (478, 3) pixel landmark set against ``canonical_face`` (rigid points only)."""
    idx = lm.as_index(lm.RIGID)
    scale, rotation, translation = umeyama(canonical_face()[idx], landmarks[idx].astype(np.float64))
    return HeadPose(rotation, translation, scale, euler_from_rotation(rotation))


def observation_from_landmarks(
    landmarks: np.ndarray,
    *,
    timestamp: float,
    frame_size: tuple[int, int],
    confidence: float = 1.0,
    num_faces: int = 1,
) -> FaceObservation:
    """Build a FaceObservation (box + pose) from (478, 3) pixel landmarks."""
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must be ({NUM_LANDMARKS}, 3), got {landmarks.shape}")
    x0, y0 = landmarks[:, :2].min(0)
    x1, y1 = landmarks[:, :2].max(0)
    return FaceObservation(
        landmarks=landmarks,
        box=(float(x0), float(y0), float(x1), float(y1)),
        pose=estimate_pose(landmarks),
        confidence=confidence,
        timestamp=timestamp,
        frame_size=frame_size,
        num_faces=num_faces,
    )


def person_mask(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how surely each pixel of ``image`` ((H, W, 3) uint8 RGB) shows a person.

    MediaPipe's selfie segmentation (general model, 256×256 input; it ships in the same wheel as
    FaceMesh). About 70 ms on a 2-core CPU, so it runs once per avatar, never per frame.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"person_mask() needs (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    from mediapipe.python.solutions import selfie_segmentation

    with quiet_native_stderr(), selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        result = segmenter.process(np.ascontiguousarray(image))
    mask = result.segmentation_mask
    if mask is None or mask.shape != image.shape[:2]:
        got = None if mask is None else mask.shape
        raise RuntimeError(f"selfie segmentation returned a mask of shape {got} for an image of shape {image.shape[:2]}")
    return np.clip(mask.astype(np.float32), 0.0, 1.0)


def _close_graph(mesh, quiet: QuietHold) -> None:
    try:
        mesh.close()
    finally:
        quiet.release()


class FaceTracker:
    """MediaPipe FaceMesh with refined (iris) landmarks.

    ``static_image_mode=True`` detects afresh on every image (avatar photos);
    False tracks across video frames (faster, temporally stable).
    Not thread-safe: use one tracker per thread.
    """

    def __init__(
        self,
        *,
        static_image_mode: bool = False,
        max_faces: int = 3,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        from mediapipe.python.solutions import face_mesh

        # MediaPipe's native start-up lines (see livehead.native): its graph finishes opening on
        # its own threads after FaceMesh() returns, so stay quiet until the first frame is done;
        # each subgraph (detection, then landmarks and projection) also prints when a frame first
        # reaches it, so frames stay quiet until a face went through.
        self._start_quiet = QuietHold()
        try:
            self._mesh = face_mesh.FaceMesh(
                static_image_mode=static_image_mode,
                max_num_faces=max_faces,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
        except BaseException:
            self._start_quiet.release()
            raise
        # close() or garbage collection: a graph that never ran opens its calculators (and prints) as it closes
        self._close = weakref.finalize(self, _close_graph, self._mesh, self._start_quiet)
        self._min_detection_confidence = min_detection_confidence
        self._graph_warm = False
        self._previous_centre: np.ndarray | None = None

    def track(self, image: np.ndarray, timestamp: float = 0.0) -> FaceObservation | None:
        """Landmarks of the driving face in ``image`` ((H, W, 3) uint8 RGB), or None.

        With several faces the one nearest the previous driver wins, else the largest.

        Convention: MediaPipe's normalised x, y, z become pixels: x·W, y·H, z·W.
        The legacy graph gives no per-face score; a face is reported only when it passed
        ``min_detection_confidence``/``min_tracking_confidence``, so ``confidence`` is that bound.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"track() needs (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        if self._graph_warm:
            result = self._mesh.process(image)
        else:
            with quiet_native_stderr():
                result = self._mesh.process(image)
            self._start_quiet.release()
        faces = result.multi_face_landmarks
        self._graph_warm = self._graph_warm or bool(faces)
        if not faces:
            self._previous_centre = None
            return None
        arrays = []
        for face in faces:
            pts = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
            pts *= np.array([w, h, w], dtype=np.float32)
            arrays.append(pts)
        best = self._choose(arrays)
        self._previous_centre = best[:, :2].mean(0)
        return observation_from_landmarks(
            best,
            timestamp=timestamp,
            frame_size=(w, h),
            confidence=self._min_detection_confidence,
            num_faces=len(arrays),
        )

    def _choose(self, faces: list[np.ndarray]) -> np.ndarray:
        """The face that drives: the one nearest the previous driver (so a larger face walking
        into the picture does not take over), else the largest."""
        if len(faces) == 1:
            return faces[0]
        if self._previous_centre is not None:
            sizes = [max(np.ptp(f[:, 0]), np.ptp(f[:, 1])) for f in faces]
            dist = [np.linalg.norm(f[:, :2].mean(0) - self._previous_centre) / s for f, s in zip(faces, sizes)]
            nearest = int(np.argmin(dist))
            if dist[nearest] < 0.5:  # within half a face of where the driver was
                return faces[nearest]
        return max(faces, key=lambda f: np.ptp(f[:, 0]) * np.ptp(f[:, 1]))

    def close(self) -> None:
        self._close()  # runs once

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def doctor_checks() -> list[Check]:
    """The face models must be inside the installed mediapipe package (0.10.21 is the last that ships them)."""
    spec = importlib.util.find_spec("mediapipe")
    fix = MEDIAPIPE_REINSTALL
    if spec is None or not spec.submodule_search_locations:
        return [Check("mediapipe", "face models", "fail", "mediapipe is not installed", fix)]
    root = Path(list(spec.submodule_search_locations)[0])
    missing = [rel for rel in MEDIAPIPE_MODELS if not (root / rel).is_file()]
    if missing:
        return [Check("mediapipe", "face models", "fail", f"missing in {root}: {', '.join(missing)}", fix)]
    return [Check("mediapipe", "face models", "ok", f"{', '.join(Path(m).name for m in MEDIAPIPE_MODELS)} in {root}")]
