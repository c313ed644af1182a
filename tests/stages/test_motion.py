"""Motion transfer against the driver's running neutral: a talking or smiling calibration frame
does not become "no expression", the avatar's own neutral has its mouth closed, gaze and the
strength controls carry over."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livehead.config import LiveHeadConfig, MotionConfig
from livehead.face import landmarks as lm
from livehead.face.expression import (
    CLOSED_GAP,
    close_mouth,
    eye_openness,
    gaze,
    mouth_openness,
    set_eye_openness,
    set_gaze,
    set_mouth_gap,
)
from livehead.face.geometry import rotation_from_euler
from livehead.face.neutral import PRIOR_CLOSED_GAP, update_neutral
from livehead.stages.motion import Openness, avatar_neutral, from_local, to_local, transfer
from livehead.stages.tracking import canonical_face, observation_from_landmarks

CORNERS = list(lm.MOUTH_CORNERS)


def closed_face() -> np.ndarray:
    """The canonical face (its lips are parted) with the mouth closed: a neutral driver."""
    return close_mouth(canonical_face())


def smiling(local: np.ndarray, gap: float = 0.25, lift: float = 0.08) -> np.ndarray:
    """``local`` talking with a broad smile: mouth open by ``gap``, corners up and out by ``lift``."""
    out = set_mouth_gap(local, local, gap)
    out[CORNERS, 1] -= lift
    out[CORNERS[0], 0] -= lift
    out[CORNERS[1], 0] += lift
    return out


def observe(local: np.ndarray, t: float = 0.0, scale: float = 60.0, yaw: float = 0.0):
    pts = from_local(local, rotation_from_euler(yaw, 0.0, 0.0), scale, np.array([320.0, 240.0, 0.0]))
    return observation_from_landmarks(pts, timestamp=t, frame_size=(640, 480))


class TestExpressionGeometry:
    def test_close_mouth_shuts_an_open_photo(self):
        open_face = canonical_face()
        assert mouth_openness(open_face) > 0.1
        shut = close_mouth(open_face)
        assert abs(mouth_openness(shut)) < 1e-6
        # Lips meet between where they were: the upper lip comes down, the lower lip up.
        up, low = list(lm.LIPS_UPPER_INNER[1:-1]), list(lm.LIPS_LOWER_INNER[1:-1])
        assert (shut[up, 1] > open_face[up, 1]).all() and (shut[low, 1] < open_face[low, 1]).all()

    def test_close_mouth_leaves_a_closed_mouth_alone(self):
        shut = closed_face()
        np.testing.assert_allclose(close_mouth(shut), shut)
        assert mouth_openness(shut) <= CLOSED_GAP

    def test_gaze_round_trip_keeps_the_iris_shape(self):
        face = closed_face()
        shift = np.array([[0.1, -0.03], [-0.05, 0.02]])
        moved = set_gaze(face, face, shift)
        np.testing.assert_allclose(gaze(moved) - gaze(face), shift, atol=1e-9)
        for iris in (lm.RIGHT_IRIS, lm.LEFT_IRIS):
            rel = lambda p: p[list(iris), :2] - p[iris[0], :2]  # noqa: E731
            np.testing.assert_allclose(rel(moved), rel(face), atol=1e-9)

    def test_gaze_stays_inside_the_eye(self):
        face = closed_face()
        moved = set_gaze(face, face, np.full((2, 2), 5.0))
        assert (np.abs(gaze(moved)) <= np.array([0.22, 0.12]) + 1e-9).all()


class TestNeutral:
    def test_talking_smiling_start_is_not_neutral(self):
        """The first second is an open-mouthed smile; later the driver rests. The estimate's
        closed gap stays at closed lips and its shape ends up closed and unsmiling."""
        rest, talk = closed_face(), smiling(closed_face())
        history = None
        for i in range(30):  # 1 s of talking
            estimate, history = update_neutral(history, talk, i / 30.0)
        assert estimate.mouth_gap <= PRIOR_CLOSED_GAP
        for i in range(30, 120):  # 3 s at rest
            estimate, history = update_neutral(history, rest, i / 30.0)
        np.testing.assert_allclose(estimate.local[CORNERS], rest[CORNERS], atol=1e-6)
        assert abs(mouth_openness(estimate.local) - mouth_openness(rest)) < 1e-6

    def test_blinks_do_not_lower_the_neutral_eye(self):
        face = closed_face()
        shut = set_eye_openness(face, face, (0.0, 0.0))
        history = None
        for i in range(90):
            estimate, history = update_neutral(history, shut if i % 10 == 0 else face, i / 30.0)
        np.testing.assert_allclose(estimate.eyes, eye_openness(face), rtol=1e-6)


class TestProcessor:
    """The same through ``FrameProcessor``: the avatar's mouth closes and does not scowl."""

    class Recorder:
        name = "recorder"

        def prepare(self, avatar):
            return type("State", (), {"avatar": avatar})()

        def render(self, state, driving):
            return state.avatar.image

        def describe(self):
            return {"engine": "recorder", "backend": "-", "device": "cpu", "precision": "-"}

    def test_smiling_first_frame_does_not_become_neutral(self):
        from livehead.animators.base import AvatarImage
        from livehead.pipeline.processor import FrameProcessor

        avatar_face = observe(closed_face(), scale=150.0)
        avatar = AvatarImage("a", np.zeros((480, 640, 3), np.uint8), avatar_face, "0")
        processor = FrameProcessor(LiveHeadConfig(), self.Recorder(), self.Recorder().prepare(avatar))
        rest, talk = closed_face(), smiling(closed_face())
        for i in range(20):  # calibration lands on an open-mouthed smile
            processor.process(None, observe(talk, i / 30.0), now=i / 30.0)
        for i in range(20, 150):
            result = processor.process(None, observe(rest, i / 30.0), now=i / 30.0)
        target = to_local(observation_from_landmarks(result.target_landmarks, timestamp=0.0, frame_size=(640, 480)))
        neutral = to_local(avatar_face)
        assert mouth_openness(target) < 0.02  # closed, not held open by the calibration frame
        # Corners where the avatar has them: not pulled down into a scowl by the "lost" smile.
        np.testing.assert_allclose(target[CORNERS, 1], neutral[CORNERS, 1], atol=0.02)

    def test_recalibration_restarts_the_neutral(self):
        from livehead.animators.base import AvatarImage
        from livehead.pipeline.processor import FrameProcessor

        avatar = AvatarImage("a", np.zeros((480, 640, 3), np.uint8), observe(closed_face(), scale=150.0), "0")
        processor = FrameProcessor(LiveHeadConfig(), self.Recorder(), self.Recorder().prepare(avatar))
        for i in range(10):
            processor.process(None, observe(closed_face(), i / 30.0), now=i / 30.0)
        assert processor._neutral is not None and len(processor._neutral.times) > 1
        processor.calibrate()
        processor.process(None, observe(closed_face(), 1.0), now=1.0)
        assert len(processor._neutral.times) == 1


class TestTransfer:
    def test_expression_is_measured_against_the_neutral(self):
        """Reference frame smiling, driver now at rest, neutral known: the avatar shows no smile."""
        from livehead.face.neutral import NeutralEstimate

        avatar = observe(closed_face(), scale=150.0)
        rest = closed_face()
        neutral = NeutralEstimate(rest, 0.0, eye_openness(rest), 10)
        out = transfer(avatar, observe(smiling(rest)), observe(rest), MotionConfig(),
                       openness=Openness(0.0, (1.0, 1.0)), neutral=neutral)
        np.testing.assert_allclose(out, avatar.landmarks, atol=0.05)

    def test_avatar_neutral_is_the_photo_with_its_mouth_closed(self):
        photo = observe(canonical_face(), scale=150.0)  # parted lips
        neutral = to_local(observation_from_landmarks(avatar_neutral(photo), timestamp=0.0, frame_size=(640, 480)))
        assert abs(mouth_openness(neutral)) < 1e-3
        same = transfer(photo, observe(closed_face()), observe(closed_face()), MotionConfig(),
                        openness=Openness(0.0, (1.0, 1.0)))
        np.testing.assert_allclose(same, avatar_neutral(photo), atol=1e-3)

    @pytest.mark.parametrize("strength", [0.0, 0.5, 1.0])
    def test_pose_strength_scales_the_turn(self, strength):
        avatar = observe(closed_face(), scale=150.0)
        config = dataclasses.replace(MotionConfig(), pose_strength=strength)
        out = transfer(avatar, observe(closed_face()), observe(closed_face(), yaw=20.0), config)
        seen = observation_from_landmarks(out, timestamp=0.0, frame_size=(640, 480)).pose.yaw_pitch_roll[0]
        assert seen == pytest.approx(20.0 * strength, abs=0.2)

    def test_expression_strength_scales_blinks_and_mouth(self):
        avatar = observe(closed_face(), scale=150.0)
        half = dataclasses.replace(MotionConfig(), expression_strength=0.5)
        out = transfer(avatar, observe(closed_face()), observe(closed_face()), half, openness=Openness(0.2, (0.0, 0.0)))
        local = to_local(observation_from_landmarks(out, timestamp=0.0, frame_size=(640, 480)))
        assert mouth_openness(local) == pytest.approx(0.1, abs=0.01)
        ratio = np.array(eye_openness(local)) / np.array(eye_openness(closed_face()))
        np.testing.assert_allclose(ratio, 0.5, atol=0.05)
