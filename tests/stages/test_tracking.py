"""Face tracking: MediaPipe on a real photo (all points with irises, pose conventions pinned by
rotating and mirroring the photo), no face → None, input checks, the pose of a known rotation
(``observation_from_landmarks``), and the canonical face every pose is measured against."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livehead.face import landmarks as lm
from livehead.face.geometry import rotation_from_euler
from livehead.stages.tracking import FaceTracker, canonical_face, doctor_checks, observation_from_landmarks
from livehead.types import NUM_LANDMARKS


def read_rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def rotated(image: np.ndarray, clockwise_degrees: float) -> np.ndarray:
    """``image`` turned about its centre, as it looks on screen (cv2's angle is counter-clockwise)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -clockwise_degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def photo(avatar_path) -> np.ndarray:
    return read_rgb(avatar_path)


@pytest.fixture(scope="module")
def tracker():
    with FaceTracker(static_image_mode=True) as tracker:
        yield tracker


@pytest.fixture(scope="module")
def seen(tracker, photo):
    obs = tracker.track(photo)
    assert obs is not None, "no face found in the avatar photo"
    return obs


class TestFaceTracker:
    def test_every_landmark_with_irises(self, seen, photo):
        h, w = photo.shape[:2]
        assert seen.landmarks.shape == (NUM_LANDMARKS, 3) and seen.landmarks.dtype == np.float32
        assert seen.frame_size == (w, h) and seen.num_faces == 1
        xy = seen.landmarks[:, :2]
        assert (xy >= 0).all() and (xy[:, 0] < w).all() and (xy[:, 1] < h).all()
        # refine_landmarks: each iris centre sits between the corners of its own eye
        for iris, corners in ((lm.RIGHT_IRIS, lm.RIGHT_EYE_CORNERS), (lm.LEFT_IRIS, lm.LEFT_EYE_CORNERS)):
            x = xy[iris[0], 0]
            assert min(xy[list(corners), 0]) < x < max(xy[list(corners), 0])

    def test_box_bounds_the_landmarks(self, seen):
        x0, y0, x1, y1 = seen.box
        xy = seen.landmarks[:, :2]
        np.testing.assert_allclose((x0, y0, x1, y1), (*xy.min(0), *xy.max(0)))

    def test_person_right_eye_is_on_the_image_left(self, seen):
        """Convention pin: MediaPipe names eyes from the person's side, so their right eye has the
        smaller image x."""
        right = seen.landmarks[list(lm.RIGHT_EYE), 0].mean()
        left = seen.landmarks[list(lm.LEFT_EYE), 0].mean()
        assert right < left

    def test_turning_the_photo_clockwise_adds_that_roll(self, tracker, photo, seen):
        turned = tracker.track(rotated(photo, 15.0))
        assert turned is not None
        assert turned.pose.yaw_pitch_roll[2] - seen.pose.yaw_pitch_roll[2] == pytest.approx(15.0, abs=2.0)

    def test_mirrored_photo_swaps_the_eyes_and_negates_roll(self, tracker, photo):
        """An asymmetric input (the photo turned 15°) and its mirror image: the person's right eye
        of one is the left eye of the other, flipped (x → W − x), and the roll changes sign."""
        turned = rotated(photo, 15.0)
        a = tracker.track(turned)
        b = tracker.track(np.ascontiguousarray(turned[:, ::-1]))
        assert a is not None and b is not None
        w = turned.shape[1]
        flipped_left = a.landmarks[list(lm.LEFT_EYE)].copy()
        flipped_left[:, 0] = w - flipped_left[:, 0]
        error = np.abs(b.landmarks[list(lm.RIGHT_EYE), :2] - flipped_left[:, :2]).max()
        assert error < 0.05 * a.face_size, f"mirrored eye landmarks {error:.1f} px off"
        assert b.pose.yaw_pitch_roll[2] == pytest.approx(-a.pose.yaw_pitch_roll[2], abs=2.0)

    @pytest.mark.parametrize("kind", ["black", "noise"])
    def test_no_face_gives_none(self, tracker, photo, kind):
        image = np.zeros_like(photo) if kind == "black" else \
            np.random.default_rng(0).integers(0, 256, photo.shape, dtype=np.uint8)
        assert tracker.track(image) is None

    def test_video_mode_follows_a_real_clip(self, moving_frames):
        with FaceTracker() as video:
            seen = [video.track(f, i / 25.0) for i, f in enumerate(moving_frames[:10])]
        assert all(obs is not None for obs in seen)
        assert [obs.timestamp for obs in seen] == [i / 25.0 for i in range(10)]

    @pytest.mark.parametrize("image,what", [
        (np.zeros((32, 32), np.uint8), r"\(32, 32\) uint8"),
        (np.zeros((32, 32, 4), np.uint8), r"\(32, 32, 4\) uint8"),
        (np.zeros((32, 32, 3), np.float32), "float32"),
    ], ids=["grey", "rgba", "float"])
    def test_rejects_what_is_not_rgb_uint8(self, tracker, image, what):
        with pytest.raises(ValueError, match=what):
            tracker.track(image)

    def test_doctor_finds_the_face_models(self):
        [check] = doctor_checks()
        assert check.status == "ok", check


class TestObservationFromLandmarks:
    def test_pose_of_a_known_rotation(self, seen):
        """The tracked face turned by a known 3-D rotation about its centroid: the measured pose is
        that rotation applied to the photo's pose (R' = Rk R), at the same scale."""
        known = rotation_from_euler(20.0, -10.0, 5.0)
        points = seen.landmarks.astype(np.float64)
        centre = points.mean(0)
        turned = observation_from_landmarks((points - centre) @ known.T + centre, timestamp=1.5,
                                            frame_size=seen.frame_size)
        np.testing.assert_allclose(turned.pose.rotation, known @ seen.pose.rotation, atol=1e-4)
        assert turned.pose.scale == pytest.approx(seen.pose.scale, rel=1e-4)
        np.testing.assert_allclose(turned.pose.translation, known @ (seen.pose.translation - centre) + centre,
                                   atol=1e-2)
        assert turned.timestamp == 1.5 and turned.face_size == pytest.approx(seen.face_size, rel=1e-4)

    def test_wrong_shape_names_the_expected_one(self):
        with pytest.raises(ValueError, match=rf"\({NUM_LANDMARKS}, 3\), got \(68, 2\)"):
            observation_from_landmarks(np.zeros((68, 2)), timestamp=0.0, frame_size=(64, 64))


class TestCanonicalFace:
    def test_shape_and_units(self):
        face = canonical_face()
        assert face.shape == (NUM_LANDMARKS, 3)
        eyes = [face[list(corners)].mean(0) for corners in (lm.RIGHT_EYE_CORNERS, lm.LEFT_EYE_CORNERS)]
        assert np.linalg.norm(eyes[0] - eyes[1]) == pytest.approx(1.0, abs=0.02)  # inter-ocular ≈ 1
        np.testing.assert_allclose(face[lm.as_index(lm.RIGID)].mean(0), 0.0, atol=1e-6)  # centred on the rigid points

    def test_left_right_symmetric(self):
        """Mirrored (x → −x), the right eye lands on the left eye point for point, and every point
        on some point of the face."""
        face = canonical_face()
        mirrored = face * (-1.0, 1.0, 1.0)
        for right, left in ((lm.RIGHT_EYE_UPPER, lm.LEFT_EYE_UPPER), (lm.RIGHT_BROW, lm.LEFT_BROW)):
            np.testing.assert_allclose(mirrored[list(right)], face[list(left)], atol=1e-3)
        nearest = np.sqrt(((mirrored[:, None, :] - face[None, :, :]) ** 2).sum(-1)).min(1)
        assert nearest.max() < 0.05

    def test_its_own_pose_is_frontal(self):
        obs = observation_from_landmarks(50.0 * canonical_face() + (100.0, 80.0, 0.0), timestamp=0.0,
                                         frame_size=(200, 160))
        np.testing.assert_allclose(obs.pose.yaw_pitch_roll, (0.0, 0.0, 0.0), atol=1e-6)
        assert obs.face_size == pytest.approx(50.0)
