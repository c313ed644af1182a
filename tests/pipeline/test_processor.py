"""``FrameProcessor``, the frame path without threads: calibration, smoothing, the lost face held
then eased back to neutral, the speed limit, composing, timings, and refusing a bad engine frame.

Most tests drive it with faces at known poses (``harness.face_at``) so the answers are exact; one
replays a real clip with a stretch of blank frames. The engine is the mesh engine on the real
avatar photo, wrapped in ``FlakyAnimator`` to record what each render was asked.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from livehead.animators.mesh.animator import MeshAnimator
from livehead.pipeline.processor import MAX_LANDMARK_SPEED, MAX_STEP_DT, FrameProcessor
from livehead.stages.compose import Compositor
from livehead.stages.tracking import observation_from_landmarks

from harness import FrameRun, config, face_at, rigid_deviation, run_frames
from helpers import FlakyAnimator

FPS = 30.0
DRIVER = {"scale": 80.0, "shift": (128.0, 128.0, 0.0), "frame_size": (256, 256)}  # a driver face in a 256² frame


def poses(ypr: tuple[float, float, float], start: int, n: int) -> list:
    """``n`` driver faces held at ``ypr`` (degrees), stamped at frames ``start`` … of a 30 fps stream."""
    return [face_at(*ypr, timestamp=(start + i) / FPS, **DRIVER) for i in range(n)]


def feed(processor: FrameProcessor, observations: list, start: int) -> FrameRun:
    """The faces (None: no face) at frames ``start`` … of a 30 fps stream, without camera pictures."""
    times = [(start + i) / FPS for i in range(len(observations))]
    return run_frames(processor, [None] * len(observations), observations=observations, times=times)


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


@pytest.fixture(scope="module")
def mesh() -> MeshAnimator:
    return MeshAnimator()


@pytest.fixture
def engine(mesh) -> FlakyAnimator:
    return FlakyAnimator(mesh)


@pytest.fixture
def make(engine, avatar_640x360):
    """``make(**overrides)`` → a FrameProcessor on the avatar photo with ``config(**overrides)``."""

    def build(**overrides: object) -> FrameProcessor:
        return FrameProcessor(config(**overrides), engine, engine.prepare(avatar_640x360))

    return build


class TestCalibration:
    def test_the_first_face_is_the_reference_and_shows_the_avatar_at_rest(self, make, avatar_640x360, caplog):
        caplog.set_level(logging.INFO, logger="livehead.pipeline.processor")
        processor = make()
        run = feed(processor, poses((12.0, -6.0, 4.0), 0, 5), 0)  # any pose: it becomes neutral
        face = avatar_640x360.face
        for target in run.targets:
            assert rigid_deviation(target, face.landmarks, face.face_size) < 1e-3
        assert processor.reference_id == 1 and caplog.text.count("Calibrated") == 1
        assert not any(r.face_lost for r in run.results) and all(r.amount == 1.0 for r in run.results)

    def test_calibrate_makes_the_next_face_the_reference(self, make, avatar_640x360, caplog):
        caplog.set_level(logging.INFO, logger="livehead.pipeline.processor")
        processor = make()
        face = avatar_640x360.face
        feed(processor, poses((0.0, 0.0, 0.0), 0, 10), 0)
        turned = feed(processor, poses((15.0, 0.0, 10.0), 10, 20), 10)
        assert rigid_deviation(turned.targets[-1], face.landmarks, face.face_size) > 0.1  # the avatar turned
        processor.calibrate()
        again = feed(processor, poses((15.0, 0.0, 10.0), 30, 20), 30)
        assert processor.reference_id == 2 and caplog.text.count("Calibrated") == 2
        assert rigid_deviation(again.targets[-1], face.landmarks, face.face_size) < 1e-3  # back at rest
        # the speed limit makes the way back a glide, not a jump
        steps = np.linalg.norm(np.diff(again.targets[:, :, :2], axis=0), axis=2).max(axis=1)
        assert steps.max() <= MAX_LANDMARK_SPEED / FPS * face.face_size + 1e-3

    def test_reset_filters_keeps_the_reference(self, make):
        processor = make()
        feed(processor, poses((5.0, 0.0, 0.0), 0, 5), 0)
        reference = processor.reference
        processor.reset_filters()
        raw = face_at(9.0, 0.0, 0.0, timestamp=5 / FPS, **DRIVER)
        result = processor.process(None, raw, now=5 / FPS)
        assert processor.reference is reference and processor.reference_id == 1
        np.testing.assert_allclose(result.observation.landmarks, raw.landmarks, atol=1e-4)  # a fresh filter


def jittered(n: int, sigma: float) -> list:
    """``n`` frames of a still driver whose tracked face shakes by ``sigma`` pixels, as a tracker's does."""
    rng = np.random.default_rng(0)
    still = face_at(**DRIVER).landmarks
    return [observation_from_landmarks(still + rng.normal(0.0, sigma, (1, 3)), timestamp=i / FPS,
                                       frame_size=DRIVER["frame_size"]) for i in range(n)]


class TestSmoothing:
    def test_off_passes_the_face_through(self, make):
        faces = jittered(10, 2.0)
        run = feed(make(**{"smoothing.enabled": False}), faces, 0)
        for raw, result in zip(faces, run.results):
            assert result.observation is raw

    def test_on_damps_tracker_jitter(self, make):
        faces = jittered(30, 1.0)
        run = feed(make(), faces, 0)
        moved = [np.abs(np.diff([o.landmarks[:, :2] for o in seq], axis=0)).mean()
                 for seq in (faces[10:], [r.observation for r in run.results[10:]])]
        assert moved[1] < 0.5 * moved[0], f"smoothed frame-to-frame motion {moved[1]:.2f} px vs raw {moved[0]:.2f} px"


class TestLostFace:
    def test_holds_the_last_pose_then_eases_to_rest(self, make, engine, avatar_640x360):
        """Known answer: for ``lost_hold_s`` the share of motion shown stays 1, then it falls as a
        smoothstep over ``lost_ease_s`` to 0, where the avatar is exactly at rest."""
        processor = make()
        cfg = processor.config.tracking
        feed(processor, poses((0.0, 0.0, 0.0), 0, 10), 0)
        feed(processor, poses((15.0, 0.0, 10.0), 10, 10), 10)
        last_seen = 19 / FPS
        n = int((cfg.lost_hold_s + cfg.lost_ease_s + 0.5) * FPS)
        lost = feed(processor, [None] * n, 20)
        for t, result in zip(lost.times, lost.results):
            since = t - last_seen
            expected = smoothstep(1.0 - (since - cfg.lost_hold_s) / cfg.lost_ease_s)
            assert result.face_lost and result.amount == pytest.approx(expected, abs=1e-9), f"{since:.3f} s after"
        face = avatar_640x360.face
        assert rigid_deviation(lost.targets[0], face.landmarks, face.face_size) > 0.1  # held, not dropped
        assert rigid_deviation(lost.targets[-1], face.landmarks, face.face_size) < 1e-3  # at rest
        assert not any(r.live for r in engine.records[20:])  # the engine got no driver picture meanwhile

    def test_never_crashes_and_eases_back_to_neutral_on_a_real_clip(self, avatar_640x360, driver_clip_path):
        """Frames 30–69 have no face: output keeps coming, and the avatar returns to its neutral."""
        from livehead.stages.capture import VideoFileSource

        from helpers import drain

        avatar = avatar_640x360
        source = VideoFileSource(path=driver_clip_path)
        frames = [np.zeros_like(f) if 30 <= i < 70 else f for i, f in enumerate(drain(source))]
        source.close()
        engine = MeshAnimator()
        run = run_frames(FrameProcessor(config(), engine, engine.prepare(avatar)), frames, fps=source.fps)
        size = config().output.size

        assert len(run.results) == len(frames)
        lost = run.results[30:70]
        assert all(r.face_lost for r in lost)
        assert all(r.output.shape == (size[1], size[0], 3) for r in run.results)
        from livehead.stages.motion import avatar_neutral

        neutral = avatar_neutral(avatar.face)  # the photo with its mouth closed (this one shows teeth)
        end_of_gap = lost[-1].target_landmarks
        assert np.abs(end_of_gap - neutral).max() < 0.5  # > 1 s without a face: fully neutral
        # no jump when the face is lost: consecutive targets stay close
        steps = [np.abs(b.target_landmarks - a.target_landmarks)[:, :2].max() for a, b in zip(lost, lost[1:])]
        assert max(steps) < 0.05 * avatar.face.face_size
        assert not run.results[75].face_lost  # tracking resumes


class TestSpeedLimit:
    def test_a_jump_becomes_a_glide_at_the_limit(self, make, avatar_640x360):
        processor = make(**{"smoothing.enabled": False})  # the whole jump reaches the limiter at once
        face = avatar_640x360.face
        before = feed(processor, poses((0.0, 0.0, 0.0), 0, 5), 0).targets[-1]
        run = feed(processor, poses((0.0, 0.0, 50.0), 5, 15), 5)  # the driver's head rolls 50° in one frame
        targets = np.concatenate([before[None], run.targets])
        steps = np.linalg.norm(np.diff(targets[:, :, :2], axis=0), axis=2).max(axis=1) / face.face_size
        allowed = MAX_LANDMARK_SPEED / FPS
        assert steps[0] == pytest.approx(allowed, rel=1e-3)  # the limiter engaged: exactly the allowed step
        assert (steps <= allowed + 1e-6).all()
        assert steps[-1] < 1e-6  # and the glide arrived

    def test_a_stalled_loop_does_not_license_a_jump(self, make, avatar_640x360):
        """A frame 1 s after the last may move only ``MAX_STEP_DT`` seconds' worth."""
        processor = make(**{"smoothing.enabled": False})
        face = avatar_640x360.face
        before = feed(processor, poses((0.0, 0.0, 0.0), 0, 5), 0).targets[-1]
        result = processor.process(None, face_at(0.0, 0.0, 60.0, timestamp=5 / FPS + 1.0, **DRIVER),
                                   now=5 / FPS + 1.0)
        step = np.linalg.norm(result.target_landmarks[:, :2] - before[:, :2], axis=1).max() / face.face_size
        assert step == pytest.approx(MAX_LANDMARK_SPEED * MAX_STEP_DT, rel=1e-3)


class TestOutput:
    def test_output_is_the_engine_frame_composed_by_the_config(self, make):
        processor = make(**{"output.mirror": True, "output.background": (0, 40, 0)})
        result = feed(processor, poses((5.0, 0.0, 0.0), 0, 1), 0).results[0]
        out = processor.config.output
        assert result.output.shape == (out.size[1], out.size[0], 3) and result.output.dtype == np.uint8
        expected = Compositor(size=out.size, mirror=True, background=(0, 40, 0)).compose(result.avatar_frame)
        np.testing.assert_array_equal(result.output, expected)

    def test_timings_name_every_stage(self, make):
        for result in feed(make(), poses((0.0, 0.0, 0.0), 0, 2) + [None], 0).results:
            assert set(result.timings_ms) == {"smoothing", "transfer", "animate", "compose"}
            assert all(isinstance(ms, float) and ms >= 0.0 for ms in result.timings_ms.values())

    @pytest.mark.parametrize("kind", ["nan", "float", "shape"])
    def test_processor_rejects_malformed_engine_output(self, kind, avatar_640x360, driver_frames):
        """A float frame (even in range, or full of NaN) or a wrong-shaped one never reaches a sink."""
        engine = FlakyAnimator(MeshAnimator(), faults={0: kind})
        processor = FrameProcessor(config(), engine, engine.prepare(avatar_640x360))
        with pytest.raises(RuntimeError, match="uint8"):
            processor.process(driver_frames[0], None, now=time.monotonic())
