"""Mesh engine, head: a turn reads as a turn of the driver's size, the background stays still,
and avatars the engine handles less well (small faces, drawn characters) warn and still move."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from animators.mesh_helpers import demo_avatar, first_frame, measure, photo, render
from livehead.animators.mesh.animator import MeshAnimator
from livehead.config import LiveHeadConfig
from livehead.face import landmarks as lm
from livehead.eval.metrics import pearson, yaw_gain
from livehead.face.geometry import rotation_from_euler
from livehead.pipeline.processor import FrameProcessor
from livehead.stages.motion import from_local, to_local
from livehead.stages.tracking import observation_from_landmarks


def turning(face, yaws):
    """Driver observations: ``face`` turned to each yaw (degrees), expression unchanged."""
    local, pose = to_local(face), face.pose
    return [observation_from_landmarks(from_local(local, rotation_from_euler(y, 0.0, 0.0) @ pose.rotation,
                                                  pose.scale, pose.translation),
                                       timestamp=i / 30.0, frame_size=face.frame_size) for i, y in enumerate(yaws)]


@pytest.fixture(scope="module")
def astronaut_turn():
    """The astronaut photo driven through a ±30° head turn (its own face turned: exact truth)."""
    avatar = demo_avatar()
    engine = MeshAnimator()
    state = engine.prepare(avatar)
    processor = FrameProcessor(LiveHeadConfig(), engine, state)
    yaws = 30.0 * np.sin(np.linspace(0.0, 2.0 * np.pi, 61))
    outputs = [processor.process(None, obs, now=obs.timestamp).avatar_frame for obs in turning(avatar.face, yaws)]
    return avatar, state, yaws, outputs


class TestTurn:
    def test_output_turns_as_far_as_the_driver(self, astronaut_turn):
        """An independent detection of the output sees the driver's turn: gain 0.8–1.2, r > 0.95."""
        avatar, _, yaws, outputs = astronaut_turn
        seen = np.array([measure(o).pose.yaw_pitch_roll[0] for o in outputs[::3]])
        truth = yaws[::3]
        assert pearson(truth, seen) > 0.95
        assert 0.8 <= yaw_gain(truth, seen) <= 1.2, yaw_gain(truth, seen)

    def test_background_stays_still(self, astronaut_turn):
        """Away from the person (the flag and wall behind the astronaut), no pixel changes at any
        point of the turn; without the person/background split the same pixels bend."""
        avatar, state, yaws, outputs = astronaut_turn
        import cv2

        person = state.layers.person >= 8
        reach = int(0.35 * avatar.face.face_size)  # further than the head's outline moves at 30°
        far = cv2.dilate(person.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) == 0
        assert far.sum() > 0.1 * far.size
        for out in outputs:  # ``base``: the photo as the engine shows it at rest (its smile closed)
            assert np.array_equal(out[far], state.base[far])
        flat = MeshAnimator(segmentation=False)
        bent = render(flat, flat.prepare(avatar), turning(avatar.face, [30.0])[0].landmarks)
        assert (np.abs(bent[far].astype(int) - state.base[far]).max(-1) > 8).any()

    def test_real_turning_clip(self):
        """A real driver turns (d9, up to ~17°): the output's yaw follows with gain 0.8–1.2."""
        from _media import media
        from helpers import read_clip
        from livehead.stages.tracking import FaceTracker

        avatar = photo("sadtalker_sad.png")
        engine = MeshAnimator()
        processor = FrameProcessor(LiveHeadConfig(), engine, engine.prepare(avatar))
        frames = read_clip(media("liveportrait_d9.mp4"), limit=400)[240:]
        driver, output = [], []
        with FaceTracker(static_image_mode=False, max_faces=1) as tracker, \
                FaceTracker(static_image_mode=True, max_faces=1) as meter:
            for i, frame in enumerate(frames):
                result = processor.process(frame, tracker.track(frame, i / 30.0), now=i / 30.0)
                if i % 4:
                    continue
                d, o = meter.track(frame), meter.track(result.avatar_frame)
                if d is not None and o is not None:
                    driver.append(d.pose.yaw_pitch_roll[0])
                    output.append(o.pose.yaw_pitch_roll[0])
        driver, output = np.array(driver), np.array(output)
        assert np.percentile(driver, 95) - np.percentile(driver, 5) > 10.0  # the clip really turns
        assert pearson(driver, output) > 0.9
        assert 0.8 <= yaw_gain(driver, output) <= 1.2, yaw_gain(driver, output)

    def test_shoulders_stay_when_the_head_moves_in_a_close_up(self):
        """A close-up whose shoulders rise beside the jaw (tpsmm's first frame): the head moves down
        and toward the camera, the shoulders stay where the photo has them (only head, hair and
        neck move), instead of sliding with the head and uncovering the background plate."""
        avatar = first_frame("tpsmm_driving.mp4")
        engine = MeshAnimator()
        state = engine.prepare(avatar)
        face = avatar.face
        centre = face.landmarks[:, :2].mean(0)
        moved = face.landmarks.copy()
        moved[:, :2] = centre + 1.05 * (moved[:, :2] - centre) + np.array([0.0, 0.2 * face.face_size])
        out = render(engine, state, moved)
        oval = face.landmarks[list(lm.FACE_OVAL), :2]
        h, w = out.shape[:2]
        ys, xs = np.mgrid[:h, :w]
        mouth_y = face.landmarks[list(lm.MOUTH_CORNERS), 1].mean()
        beside = np.abs(xs - oval[:, 0].mean()) > 1.3 * np.abs(oval[:, 0] - oval[:, 0].mean()).max()
        shoulders = (state.layers.person >= 250) & (ys > mouth_y) & beside
        assert shoulders.sum() > 500, "the photo shows no shoulders beside the jaw"
        change = np.abs(out[shoulders].astype(int) - state.base[shoulders]).max(-1)
        assert np.mean(change > 20) < 0.05, np.mean(change > 20)


class TestAvatarsItHandlesLessWell:
    def _moves(self, avatar) -> float:
        engine = MeshAnimator()
        state = engine.prepare(avatar)
        target = turning(avatar.face, [12.0])[0].landmarks
        return float(np.abs(render(engine, state, target).astype(int) - state.base).mean())

    def test_small_face_warns_and_moves(self, caplog):
        from livehead.commands.demo import demo_avatar as make

        avatar = make((320, 180))  # the astronaut's face is ~40 px tall here
        with caplog.at_level(logging.WARNING):
            assert self._moves(avatar) > 0.5
        assert any("px tall" in r.getMessage() for r in caplog.records)

    def test_drawn_character_warns_and_moves(self, caplog):
        avatar = photo("liveportrait_s7.jpg")
        with caplog.at_level(logging.WARNING):
            assert self._moves(avatar) > 0.5
        assert any("drawn or rendered character" in r.getMessage() for r in caplog.records)

    def test_photos_do_not_warn(self, caplog):
        with caplog.at_level(logging.WARNING):
            MeshAnimator().prepare(photo("liveportrait_s12.jpg"))
        assert not [r for r in caplog.records if r.name.startswith("livehead.animators")]
