"""Live controls on the real pipeline (issue 5): calibrate, zoom, mirror, passthrough, freeze, quit,
and which sinks get overlays. (Avatar switching: ``tests/pipeline/test_avatars.py``.)

Each test runs ``Pipeline.run`` on a worker thread (``harness.Live``, as the CLI runs it on the main
thread) with the real capture and MediaPipe tracking threads and the mesh engine, into a recording
pyvirtualcam backend (``vcam_backend`` from conftest). The test's own thread presses keys through
``Pipeline.handle_key``, exactly as the preview window and the global hotkeys do.

"Face size" is the avatar's pose scale (≈ its inter-ocular distance in pixels), the unit the
smoother and the motion transfer use.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from livehead.animators.mesh.animator import MeshAnimator
from livehead.pipeline.pipeline import LOST_AFTER_S, Pipeline
from livehead.stages.tracking import observation_from_landmarks

from harness import Live, composed, config, mad, rigid_deviation, vcam_sink
from helpers import ScriptedCamera

FPS = 15.0  # output pace: keys take effect within a few of its frames
LIVE = config(**{"output.fps": FPS})


class PreviewRecorder:
    """Stands in for ``PreviewSink`` (a sink named "preview" gets the overlays) without a window."""

    name = "preview"
    wants_overlays = True
    closed_by_user = False
    live = True

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# Calibrate, zoom, mirror, passthrough, freeze, quit


def pose_error(target: np.ndarray, neutral_pose, frame_size: tuple[int, int]) -> float:
    """Largest yaw / pitch / roll difference (degrees) between ``target`` and the neutral pose."""
    pose = observation_from_landmarks(target, timestamp=0.0, frame_size=frame_size).pose
    return float(np.abs(np.subtract(pose.yaw_pitch_roll, neutral_pose.yaw_pitch_roll)).max())


@pytest.fixture
def still_driver(moving_frames: list[np.ndarray]) -> list[np.ndarray]:
    """Play the clip from frame 0 (whose pose is the automatic first calibration) to frame 115,
    then hold frame 115: head turned ≈ 8° yaw, 8° pitch and 14° roll from frame 0."""
    return moving_frames[0:116:3] + [moving_frames[115]]


@pytest.fixture
def mesh_state(avatar_640x360):
    engine = MeshAnimator()
    return engine, engine.prepare(avatar_640x360)


class TestCalibrate:
    def test_still_driver_gives_neutral_pose_after_x(self, vcam_backend, mesh_state, still_driver) -> None:
        engine, state = mesh_state
        avatar = state.avatar
        neutral, face_size = avatar.face.landmarks, avatar.face.face_size
        frame_size = avatar.image.shape[1::-1]
        source = ScriptedCamera(still_driver, then="hold")
        pipeline = Pipeline(LIVE, source=source, animator=engine, states=[state],
                            sinks=[vcam_sink(vcam_backend, LIVE)])
        with Live(pipeline, vcam_backend[1]) as live:
            live.wait(source.holding.is_set, 20.0, "the still phase")
            live.wait_frames(12)
            before = pipeline.last_result.target_landmarks.copy()
            reference_id = pipeline.processor.reference_id
            live.key("x")
            live.wait(lambda: pipeline.processor.reference_id > reference_id, 5.0, "the new reference")
            assert pipeline.control.calibrated
            live.wait_frames(12)
            after = pipeline.last_result.target_landmarks.copy()

        # Before X the still, turned head drives the avatar away from its neutral pose …
        assert rigid_deviation(before, neutral, face_size) > 0.15
        assert pose_error(before, avatar.face.pose, frame_size) > 5.0
        # … after X the same still frame is the reference, so the avatar shows its neutral pose.
        assert rigid_deviation(after, neutral, face_size) < 0.03
        assert pose_error(after, avatar.face.pose, frame_size) < 1.0

    def test_zoom_resets_smoothing_not_calibration(self, vcam_backend, mesh_state, still_driver) -> None:
        engine, state = mesh_state
        pipeline = Pipeline(LIVE, source=ScriptedCamera(still_driver, then="hold"), animator=engine, states=[state],
                            sinks=[vcam_sink(vcam_backend, LIVE)])
        resets: list[float] = []
        real_reset = pipeline.processor.reset_filters

        def counting_reset() -> None:
            resets.append(pipeline.control.zoom)
            real_reset()

        pipeline.processor.reset_filters = counting_reset
        with Live(pipeline, vcam_backend[1]) as live:
            live.wait_frames(5)
            reference_id = pipeline.processor.reference_id
            live.key("w")
            live.wait(lambda: pipeline.control.zoom == 1.1, 5.0, "zoom 1.1")
            live.wait_frames(5)
            zoomed_size = pipeline.last_result.observation.frame_size
            live.key("s")
            live.wait(lambda: pipeline.control.zoom == 1.0, 5.0, "zoom 1.0")
            live.wait_frames(5)
            whole_size = pipeline.last_result.observation.frame_size
            live.key("s")  # already at the whole frame: nothing changes, nothing resets
            live.wait_frames(3)

        assert resets == [1.1, 1.0]
        assert pipeline.processor.reference_id == reference_id  # zoom never recalibrates
        assert zoomed_size == (int(256 / 1.1), int(256 / 1.1))  # the tracker saw the central 1/1.1
        assert whole_size == (256, 256)


class TestOutputControls:
    def test_mirror_flips_the_output(self, vcam_backend, mesh_state, moving_frames) -> None:
        engine, state = mesh_state
        vcam_backend[1].thumb_step = 1  # keep whole frames: the flip is checked pixel for pixel
        source = ScriptedCamera([moving_frames[0]], then="hold")
        pipeline = Pipeline(LIVE, source=source, animator=engine, states=[state],
                            sinks=[vcam_sink(vcam_backend, LIVE)])
        with Live(pipeline, vcam_backend[1]) as live:
            live.wait_frames(10)  # the still driver settles: the avatar sits at its neutral
            before = live.vcam.thumbs[-1]
            start = live.first(lambda f: mad(f, before[:, ::-1]) < 1.0, live.key("m"))
            live.wait_frames(5)
            mirrored = live.vcam.thumbs[start:]
            start = live.first(lambda f: mad(f, before) < 1.0, live.key("m"))
            live.wait_frames(5)
            restored = live.vcam.thumbs[start:]

        assert mad(before, before[:, ::-1]) > 5.0  # the face is asymmetric enough to tell
        for frame in mirrored:  # and once flipped, it stays flipped
            assert mad(frame, before[:, ::-1]) < 1.0
        for frame in restored:
            assert mad(frame, before) < 1.0

    def test_passthrough_sends_the_camera_frame(self, vcam_backend, mesh_state, moving_frames) -> None:
        engine, state = mesh_state
        vcam_backend[1].thumb_step = 1
        camera = moving_frames[0]
        plain, flipped = composed(camera), composed(camera, mirror=True)
        pipeline = Pipeline(LIVE, source=ScriptedCamera([camera], then="hold"), animator=engine,
                            states=[state], sinks=[vcam_sink(vcam_backend, LIVE)])
        with Live(pipeline, vcam_backend[1]) as live:
            live.wait_frames(3)
            start = live.first(lambda f: np.array_equal(f, plain), live.key("0"))
            live.wait_frames(5)
            passed = live.vcam.thumbs[start:]
            # mirror applies to the camera picture too, as a selfie view does
            start = live.first(lambda f: np.array_equal(f, flipped), live.key("m"))
            live.wait_frames(3)
            passed_mirrored = live.vcam.thumbs[start:]
            start = live.first(lambda f: mad(f, flipped) > 10.0, live.key("0"))
            live.wait_frames(3)
            animated = live.vcam.thumbs[start:]

        for frame in passed:
            np.testing.assert_array_equal(frame, plain)
        for frame in passed_mirrored:
            np.testing.assert_array_equal(frame, flipped)
        for frame in animated:
            assert mad(frame, flipped) > 10.0  # the avatar again

    def test_freeze_repeats_the_last_frame(self, vcam_backend, mesh_state, moving_frames) -> None:
        engine, state = mesh_state
        pipeline = Pipeline(LIVE, source=ScriptedCamera(moving_frames, then="loop"), animator=engine,
                            states=[state], sinks=[vcam_sink(vcam_backend, LIVE)])
        with Live(pipeline, vcam_backend[1]) as live:
            start = live.wait_frames(10)
            moving = live.vcam.thumbs[start:]
            live.key("p")
            live.wait(lambda: pipeline.control.frozen, 5.0, "freeze on")
            start = live.wait_frames(10)
            frozen = live.vcam.thumbs[start:]
            live.key("p")
            live.wait(lambda: not pipeline.control.frozen, 5.0, "freeze off")
            start = live.wait_frames(10)
            thawed = live.vcam.thumbs[start:]

        def changes(frames: list[np.ndarray]) -> int:
            return sum(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))

        assert changes(moving) >= 5  # the driver moves, so the output does
        assert changes(frozen) == 0  # byte-identical while frozen
        assert changes(thawed) >= 5

    @pytest.mark.parametrize("key", ["q", 27])  # Q, and Esc as cv2.waitKeyEx reports it
    def test_quit_ends_the_run_loop(self, vcam_backend, mesh_state, moving_frames, key) -> None:
        engine, state = mesh_state
        pipeline = Pipeline(LIVE, source=ScriptedCamera(moving_frames, then="loop"), animator=engine,
                            states=[state], sinks=[vcam_sink(vcam_backend, LIVE)])
        with Live(pipeline, vcam_backend[1], max_seconds=60.0) as live:
            live.wait_frames(3)
            pressed = time.monotonic()
            live.key(key)
            assert live.join(3.0), "Pipeline.run kept running 3 s after quit"
            assert time.monotonic() - pressed < 1.0
        assert live.summary is not None and live.summary["frames_out"] >= 3
        assert not pipeline.control.running

    @pytest.mark.parametrize("key", ["p", "0"], ids=["freeze", "passthrough"])
    def test_frozen_or_passthrough_picture_holds_when_the_camera_stops(
        self, vcam_backend, mesh_state, moving_frames, key
    ) -> None:
        """With the camera gone the avatar normally eases back to neutral; a frozen picture or the
        passed-through camera picture must stay as it was instead of an animated avatar appearing."""
        engine, state = mesh_state
        source = ScriptedCamera(moving_frames, then="loop")
        pipeline = Pipeline(LIVE, source=source, animator=engine, states=[state],
                            sinks=[vcam_sink(vcam_backend, LIVE)])
        with Live(pipeline, vcam_backend[1]) as live:
            live.wait_frames(10)
            live.key(key)
            live.wait(lambda: pipeline.control.frozen or pipeline.control.passthrough, 5.0, "the toggle")
            live.wait_frames(3)
            source.cut.set()
            cut = time.monotonic()
            # LOST_AFTER_S without a new frame makes the camera lost, and from then on easing would
            # move the avatar; frames still in flight at the cut are through long before.
            live.wait(lambda: time.monotonic() > cut + LOST_AFTER_S + 1.0, 10.0, "the camera-lost phase")
            held = [f for t, f in zip(live.vcam.times, live.vcam.thumbs) if t > cut + LOST_AFTER_S]

        assert len(held) >= 10  # the stream kept going without a camera …
        for frame in held:  # … repeating the last picture
            np.testing.assert_array_equal(frame, held[0])


# ---------------------------------------------------------------------------------------------
# Overlays: the preview window only, unless --overlay-on-output


class TestOverlaySinks:
    @pytest.mark.parametrize("on_output", [False, True], ids=["preview-only", "overlay-on-output"])
    def test_overlays_reach_the_vcam_only_when_asked(self, vcam_backend, mesh_state, moving_frames, on_output) -> None:
        engine, state = mesh_state
        vcam_backend[1].thumb_step = 1
        camera = moving_frames[0]
        preview = PreviewRecorder()
        cfg = config(**{"output.fps": FPS, "output.overlay_on_output": on_output})
        pipeline = Pipeline(cfg, source=ScriptedCamera([camera], then="hold"), animator=engine, states=[state],
                            sinks=[preview, vcam_sink(vcam_backend, cfg, overlays=cfg.output.overlay_on_output)])
        clean = composed(camera)
        with Live(pipeline, vcam_backend[1]) as live:
            before = live.key("0")  # passthrough: the vcam frame without overlays is known exactly
            if not on_output:
                start = live.first(lambda f: np.array_equal(f, clean), before)
            for key in "hioc":  # help, stats, landmarks, ghost; not calibrated yet, so also "press X"
                live.key(key)
            live.wait(lambda: pipeline.control.show_help and pipeline.control.ghost_opacity > 0, 5.0, "overlays")
            live.wait_frames(5)
            end = live.count()
        pairs = list(zip(preview.frames[:end], live.vcam.thumbs[:end]))  # the k-th of each came from one _send

        assert len(pairs) >= 6
        for shown, sent in pairs:
            if on_output:
                np.testing.assert_array_equal(sent, shown)
            else:
                assert mad(shown, sent) > 0.5  # the preview carries overlays the vcam does not
        if not on_output:
            for sent in live.vcam.thumbs[start:end]:
                np.testing.assert_array_equal(sent, clean)  # exactly the camera picture, nothing drawn
