"""Motion transfer: pose recovery and transfer in face units, and transfer against the driver's
running neutral (a talking or smiling calibration frame does not become "no expression", the
avatar's own neutral has its mouth closed, gaze and the strength controls carry over)."""

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
    uncross_lips,
)
from livehead.face.geometry import euler_from_rotation, rotation_from_euler, umeyama
from livehead.face.neutral import PRIOR_CLOSED_GAP, update_neutral
from livehead.stages.motion import EDGE_SHARE, Openness, avatar_neutral, from_local, to_local, transfer
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
        assert out[:, 1].min() == pytest.approx((1.0 - EDGE_SHARE) * top_neutral, abs=1e-3)  # as far as allowed, no further

    def test_face_follows_a_driver_who_moves_within_the_margin(self):
        """A clip cropped close to the face: the driver moves 3/4 of the way to the edge, the avatar too."""
        avatar = face_at(scale=100.0, shift=(320.0, 240.0, 0.0))
        ref = face_at(scale=100.0, shift=(320.0, 240.0, 0.0))
        margin = 480.0 - avatar.landmarks[:, 1].max()
        cur = face_at(scale=100.0, shift=(320.0, 240.0 + 0.75 * margin, 0.0))
        out = transfer(avatar, ref, cur, MotionConfig(), bounds=(640, 480))
        np.testing.assert_allclose(out, cur.landmarks, atol=1e-2)


CORNERS = list(lm.MOUTH_CORNERS)


def closed_face() -> np.ndarray:
    """The canonical face (its lips are parted) with the mouth closed: a neutral driver."""
    return close_mouth(canonical_face())


def smiling(local: np.ndarray, gap: float = 0.25, lift: float = 0.08) -> np.ndarray:
    """``local`` talking with a broad smile: mouth open by ``gap``, corners up and out by ``lift``."""
    out = set_mouth_gap(local, local, gap).copy()  # (the same array when the gap is already ``gap``)
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

    def test_an_opening_mouth_parts_in_the_middle(self):
        """Opened from closed, the lips part as a lens: the inner-lip pair next to each corner opens
        under 70 % as far as the middle pair (moved as one piece they opened as far, a box with
        upright sides at the corners), and the mean gap is the one asked for."""
        shut = closed_face()
        opened = set_mouth_gap(shut, shut, 0.2)
        assert mouth_openness(opened) == pytest.approx(0.2)
        up, low = list(lm.LIPS_UPPER_INNER[1:-1]), list(lm.LIPS_LOWER_INNER[1:-1])
        gaps = opened[low, 1] - opened[up, 1]
        middle = gaps[len(gaps) // 2]
        assert gaps[0] < 0.7 * middle and gaps[-1] < 0.7 * middle, gaps.round(3)
        # Closing moves the lower lip as one piece (the lips meet in ``close_mouth`` anyway).
        closed_again = set_mouth_gap(opened, shut, 0.0)
        assert mouth_openness(closed_again) == pytest.approx(0.0, abs=1e-9)

    def test_crossed_lips_meet_instead(self):
        """A lower inner-lip point pushed above its upper partner meets it halfway; pairs that
        are open, or no more crossed than in the reference face, stay where they are."""
        up, low = list(lm.LIPS_UPPER_INNER[1:-1]), list(lm.LIPS_LOWER_INNER[1:-1])
        reference = closed_face()
        reference[low[0], 1] = reference[up[0], 1] - 0.004  # the tracker's closed lips, a hair crossed
        face = set_mouth_gap(reference, reference, 0.1)
        face[low[4], 1] = face[up[4], 1] - 0.05  # crossed by an expression delta
        face[low[0], 1] = face[up[0], 1] - 0.003
        fixed = uncross_lips(face, reference)
        assert fixed[low[4], 1] == pytest.approx(fixed[up[4], 1])
        assert fixed[up[4], 1] == pytest.approx(face[up[4], 1] - 0.025)
        keep = [i for i in range(len(up)) if i != 4]
        np.testing.assert_array_equal(fixed[[up[i] for i in keep]], face[[up[i] for i in keep]])
        np.testing.assert_array_equal(fixed[[low[i] for i in keep]], face[[low[i] for i in keep]])
        # Meeting opened the mouth on average; given the gap ``face`` was set to, the open pairs
        # close a little to keep it, and still none crosses.
        assert mouth_openness(fixed) > mouth_openness(face)
        kept = uncross_lips(face, reference, mouth_openness(face))
        assert mouth_openness(kept) == pytest.approx(mouth_openness(face), abs=1e-9)
        assert (kept[low, 1] - kept[up, 1] >= np.minimum(reference[low, 1] - reference[up, 1], 0) - 1e-12).all()

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


class TestTransferAgainstTheNeutral:
    def test_expression_is_measured_against_the_neutral(self):
        """Reference frame smiling, driver now at rest, neutral known: the avatar shows no smile."""
        from livehead.face.neutral import NeutralEstimate

        avatar = observe(closed_face(), scale=150.0)
        rest = closed_face()
        neutral = NeutralEstimate(rest, 0.0, eye_openness(rest), 10)
        out = transfer(avatar, observe(smiling(rest)), observe(rest), MotionConfig(),
                       openness=Openness(0.0, (1.0, 1.0)), neutral=neutral)
        lips = list(lm.LIPS)
        np.testing.assert_allclose(out[lips], avatar.landmarks[lips], atol=0.05)
        # Elsewhere the calibration frame, its mouth closed again, is the zero: closing is not an
        # exact inverse of the opening, which leaves the jaw within 1 % of the face's size.
        np.testing.assert_allclose(out, avatar.landmarks, atol=0.01 * 150.0)

    def test_an_avatar_smiling_like_the_calibration_frame_is_not_given_the_smile_twice(self):
        """The photo smiles, and so does the driver at calibration (the same person in the same
        moment, or someone who calibrated smiling): while the driver keeps that smile the avatar
        shows its own (not a smile on top of a smile), and when the driver rests the smile goes."""
        from livehead.face.neutral import NeutralEstimate, shared_expression

        rest = closed_face()
        smile = smiling(rest, gap=0.0)
        avatar = observe(smile, scale=150.0)
        neutral = NeutralEstimate(rest, 0.0, eye_openness(rest), 10)
        assert shared_expression(smile, smile, rest) == pytest.approx(1.0)
        assert shared_expression(rest, smile, rest) == pytest.approx(0.0)
        wide = rest.copy()  # another person at rest, with a mouth a tenth wider
        wide[lm.as_index(lm.LIPS), 0] *= 1.1
        assert shared_expression(wide, smile, rest) < 0.1
        kept = transfer(avatar, observe(smiling(rest)), observe(smile), MotionConfig(), neutral=neutral,
                        openness=Openness(0.0, (1.0, 1.0)))
        np.testing.assert_allclose(kept[CORNERS], avatar.landmarks[CORNERS], atol=0.01 * 150.0)
        rested = to_local(observe(transfer(avatar, observe(smiling(rest)), observe(rest), MotionConfig(),
                                           neutral=neutral, openness=Openness(0.0, (1.0, 1.0)))))
        np.testing.assert_allclose(rested[CORNERS, :2], rest[CORNERS, :2], atol=0.01)

    def test_pursed_lips_do_not_cross_the_avatar_lips(self):
        """The neutral's lips part in the middle (a median of talking; the calibration frame
        smiled), the driver's meet there and part at the sides (pursed): the avatar's lower lip
        never passes above its upper one, and the mouth opens as far as the driver's."""
        from livehead.face.neutral import NeutralEstimate

        up, low = list(lm.LIPS_UPPER_INNER[1:-1]), list(lm.LIPS_LOWER_INNER[1:-1])
        middle = np.exp(-0.5 * (np.arange(len(up)) - 4) ** 2 / 1.5 ** 2)  # 1 at the centre pair
        rest = closed_face()
        rest[low, 1] += 0.06 * middle - np.mean(0.06 * middle)  # mean gap 0, parted in the middle
        pursed = closed_face()
        pursed[low, 1] += 0.04 * (1.0 - middle)  # open at the sides, shut in the middle
        neutral = NeutralEstimate(rest, 0.0, eye_openness(rest), 10)
        avatar = observe(closed_face(), scale=150.0)
        out = transfer(avatar, observe(smiling(closed_face())), observe(pursed), MotionConfig(), neutral=neutral,
                       openness=Openness(mouth_openness(pursed), (1.0, 1.0)))
        seen = to_local(observe(out))
        assert (seen[low, 1] - seen[up, 1]).min() > -1e-6
        # Open at the sides, as far as the driver's mouth on average (not further because the
        # middle met).
        assert mouth_openness(seen) == pytest.approx(mouth_openness(pursed), abs=2e-3)

    def test_a_neutral_calibration_frame_is_the_zero(self):
        """The estimate differs from the calibration frame by no more than tracker drift: the
        calibration frame is the zero, so the driver's own face reproduces itself exactly."""
        from livehead.face.neutral import DRIFT, NeutralEstimate

        rest = closed_face()
        drifted = rest.copy()
        drifted[:, 0] += 0.6 * DRIFT * np.sin(np.arange(len(rest)))  # the estimate's drift between poses
        neutral = NeutralEstimate(drifted, 0.0, eye_openness(rest), 10)
        driver = observe(rest, scale=150.0)
        out = transfer(driver, driver, driver, MotionConfig(), openness=Openness(0.0, (1.0, 1.0)), neutral=neutral)
        np.testing.assert_allclose(out, driver.landmarks, atol=1e-3)

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
