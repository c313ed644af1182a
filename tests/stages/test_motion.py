import dataclasses

import numpy as np
import pytest

from livehead.config import MotionConfig
from livehead.face import landmarks as lm
from livehead.face.geometry import euler_from_rotation, umeyama
from livehead.stages.motion import Openness, eye_openness, mouth_openness, to_local, transfer
from livehead.stages.tracking import canonical_face, observation_from_landmarks

from harness import face_at


FACE_RIGID = [i for i in lm.RIGID if i not in lm.FACE_OVAL]


def measured_pose(points):
    """Pose from rigid points off the outline (the outline gets only part of yaw/pitch by design)."""
    s, r, t = umeyama(canonical_face()[FACE_RIGID], np.asarray(points, dtype=np.float64)[FACE_RIGID])
    return s, euler_from_rotation(r), t


class TestEstimatePose:
    @pytest.mark.parametrize("ypr", [(0, 0, 0), (15, 0, 0), (0, -10, 0), (0, 0, 12), (20, 8, -6)])
    def test_recovers_known_pose(self, ypr):
        obs = face_at(*ypr, scale=80.0, shift=(100.0, 50.0, 7.0))
        np.testing.assert_allclose(obs.pose.yaw_pitch_roll, ypr, atol=1e-3)
        assert obs.pose.scale == pytest.approx(80.0, rel=1e-4)
        np.testing.assert_allclose(obs.pose.translation, (100.0, 50.0, 7.0), atol=1e-2)

    def test_pose_ignores_expression(self):
        """Opening the mouth moves no rigid point, so the pose stays put."""
        local = canonical_face().copy()
        local[[14, 17, 152], 1] += 0.3
        a, b = face_at(10, 0, 0), face_at(10, 0, 0, local=local)
        np.testing.assert_allclose(a.pose.yaw_pitch_roll, b.pose.yaw_pitch_roll, atol=1e-6)


class TestTransfer:
    def test_identity_motion_leaves_avatar_unchanged(self):
        avatar = face_at(5, -3, 4, scale=150.0, shift=(300.0, 260.0, 0.0))
        driver = face_at(-8, 6, 2, scale=60.0)
        out = transfer(avatar, driver, driver, MotionConfig())
        np.testing.assert_allclose(out, avatar.landmarks, atol=1e-3)

    def test_rotation_change_is_applied(self):
        avatar = face_at(0, 0, 0, scale=150.0)
        ref, cur = face_at(0, 0, 0, scale=60.0), face_at(12, 0, 0, scale=60.0)
        out = transfer(avatar, ref, cur, MotionConfig())
        assert measured_pose(out)[1][0] == pytest.approx(12.0, abs=0.1)

    def test_scale_and_translation_follow_in_face_sizes(self):
        avatar = face_at(scale=150.0, shift=(300.0, 200.0, 0.0))
        ref = face_at(scale=50.0, shift=(100.0, 100.0, 0.0))
        cur = face_at(scale=55.0, shift=(110.0, 95.0, 0.0))  # +10 % size, moved (10, -5) px = (0.2, -0.1) faces
        out = transfer(avatar, ref, cur, MotionConfig())
        scale, _, translation = measured_pose(out)
        assert scale == pytest.approx(165.0, rel=1e-3)
        np.testing.assert_allclose(translation[:2], (330.0, 185.0), atol=0.5)

    def test_expression_is_transferred_in_face_units(self):
        """The driver drops the jaw by 0.2 face units; a 3× larger avatar drops 3× more pixels."""
        local = canonical_face().copy()
        open_local = local.copy()
        open_local[[14, 17, 152], 1] += 0.2
        avatar = face_at(scale=150.0)
        out = transfer(avatar, face_at(scale=50.0), face_at(scale=50.0, local=open_local), MotionConfig())
        assert out[152, 1] - avatar.landmarks[152, 1] == pytest.approx(0.2 * 150.0, rel=1e-3)

    @pytest.mark.parametrize("gap", [0.0, 0.3])
    def test_absolute_mouth_opening_ignores_an_open_reference(self, gap):
        """Calibrating mid-sentence (reference mouth wide open) must not decide the avatar's mouth later."""
        open_local = canonical_face().copy()
        open_local[list(lm.LIPS_LOWER_INNER[1:-1]), 1] += 0.4
        reference = face_at(scale=50.0, local=open_local)
        avatar = face_at(scale=150.0)
        out = transfer(avatar, reference, face_at(scale=50.0), MotionConfig(),
                       openness=Openness(mouth=gap, eyes=(1.0, 1.0)))
        got = observation_from_landmarks(out, timestamp=0.0, frame_size=(640, 480))
        assert mouth_openness(to_local(got)) == pytest.approx(gap, abs=0.02)

    def test_blink_closes_the_avatar_eyes(self):
        avatar = face_at(scale=150.0)
        out = transfer(avatar, face_at(scale=50.0), face_at(scale=50.0), MotionConfig(),
                       openness=Openness(mouth=0.0, eyes=(0.0, 0.0)))
        got = observation_from_landmarks(out, timestamp=0.0, frame_size=(640, 480))
        assert max(eye_openness(to_local(got))) < 0.02 < min(eye_openness(to_local(avatar)))

    def test_absolute_mode_copies_driver_rotation(self):
        avatar = face_at(10, 0, 0, scale=150.0)
        ref = face_at(0, 0, 0, scale=50.0)
        cur = face_at(-5, 0, 0, scale=50.0)
        out = transfer(avatar, ref, cur, dataclasses.replace(MotionConfig(), mode="absolute"))
        assert measured_pose(out)[1][0] == pytest.approx(-5.0, abs=0.1)

    def test_face_is_kept_away_from_the_pinned_border(self):
        avatar = face_at(scale=100.0, shift=(320.0, 240.0, 0.0))
        ref = face_at(scale=50.0, shift=(100.0, 100.0, 0.0))
        cur = face_at(scale=50.0, shift=(100.0, 10.0, 0.0))  # driver jumps up by almost 2 face sizes
        out = transfer(avatar, ref, cur, MotionConfig(), bounds=(640, 480))
        top_neutral = avatar.landmarks[:, 1].min()
        assert out[:, 1].min() >= 0.5 * top_neutral - 1e-3
