"""End to end on real clips: capture → tracking → smoothing → transfer → mesh → compositor → sinks."""

import gc

import numpy as np

from livehead.animators.mesh.animator import MeshAnimator
from livehead.avatars.photo import load_avatar
from livehead.stages.capture import VideoFileSource
from livehead.stages.motion import to_local, mouth_openness
from livehead.pipeline import Pipeline
from livehead.pipeline.processor import FrameProcessor
from livehead.stages.tracking import FaceTracker

from _media import media
from harness import OUTPUT_SIZE as SIZE, config, run_frames, track_frames, vcam_sink
from helpers import drain


def run_offline(clip, avatar_path, *, every=1, blank=lambda i: False):
    """Drive the processor frame by frame; returns driver and output (observation, result) pairs."""
    cfg = config()
    avatar = load_avatar(avatar_path, working_size=cfg.output.size)
    engine = MeshAnimator()
    source = VideoFileSource(path=clip)
    frames = [np.zeros_like(rgb) if blank(i) else rgb for i, rgb in enumerate(drain(source))]
    source.close()
    run = run_frames(FrameProcessor(cfg, engine, engine.prepare(avatar)), frames, fps=source.fps)
    seen = track_frames(run.avatar_frames, times=run.times, every=every)
    return avatar, list(zip(run.observations, run.results, seen))


class TestEndToEnd:
    def test_stream_to_virtual_camera(self, vcam_backend):
        backend_cls = vcam_backend[1]
        backend_cls.thumb_step = 1  # whole frames
        cfg = config()
        avatar = load_avatar(media("aniportrait_Aragaki.png"), working_size=cfg.output.size)
        engine = MeshAnimator()
        sink = vcam_sink(vcam_backend, cfg)
        source = VideoFileSource(path=media("dreamtalk_W011_front_neutral_level1_001.mp4"))
        with Pipeline(cfg, source=source, animator=engine, states=[engine.prepare(avatar)], sinks=[sink]) as p:
            summary = p.run(max_seconds=20)
            # Start-up objects are out of the collector's reach while streaming (a full collection
            # over them stalled the stream 70-80 ms), and given back when the stream closes.
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0
        frames = backend_cls.instances[0].thumbs
        assert len(frames) >= 30
        assert all(f.shape == (SIZE[1], SIZE[0], 3) and f.dtype == np.uint8 for f in frames)
        assert summary["frames_rendered"] >= 30
        assert {"tracking", "animate", "compose", "sink"} <= set(summary["stages_ms"])

    def test_mouth_opening_follows_the_driver(self):
        """Track the *output* again: its mouth opening must follow the talking driver's (r ≥ 0.8)."""
        _, rows = run_offline(media("liveportrait_d20.mp4"), media("aniportrait_Aragaki.png"))
        pairs = [(mouth_openness(to_local(d)), mouth_openness(to_local(o))) for d, _, o in rows if d and o]
        assert len(pairs) > 100
        driver, output = np.array(pairs).T
        assert np.ptp(driver) > 0.1  # the clip really talks
        assert np.corrcoef(driver, output)[0, 1] >= 0.8

    def test_head_yaw_follows_with_the_right_sign(self):
        _, rows = run_offline(media("tpsmm_driving.mp4"), media("aniportrait_Aragaki.png"), every=2)
        pairs = [(d.pose.yaw_pitch_roll[0], o.pose.yaw_pitch_roll[0]) for d, _, o in rows if d and o]
        driver, output = np.array(pairs).T
        assert np.ptp(driver) > 8.0
        slope = np.polyfit(driver - driver.mean(), output - output.mean(), 1)[0]
        assert slope > 0.3
        assert np.corrcoef(driver, output)[0, 1] > 0.8

    def test_lost_face_never_crashes_and_eases_back_to_neutral(self):
        """Frames 30–69 have no face: output keeps coming, and the avatar returns to its neutral."""
        avatar, rows = run_offline(
            media("dreamtalk_W011_front_neutral_level1_001.mp4"),
            media("aniportrait_Aragaki.png"),
            every=1000,
            blank=lambda i: 30 <= i < 70,
        )
        assert len(rows) == 99
        lost = [r for d, r, _ in rows[30:70]]
        assert all(r.face_lost for r in lost)
        assert all(r.output.shape == (SIZE[1], SIZE[0], 3) for _, r, _ in rows)
        # The avatar's neutral is its photo with the mouth closed (this photo shows its teeth).
        from livehead.stages.motion import avatar_neutral

        neutral = avatar_neutral(avatar.face)
        end_of_gap = lost[-1].target_landmarks
        assert np.abs(end_of_gap - neutral).max() < 0.5  # > 1 s without a face: fully neutral
        # no jump when the face is lost: consecutive targets stay close
        steps = [np.abs(b.target_landmarks - a.target_landmarks)[:, :2].max() for a, b in zip(lost, lost[1:])]
        assert max(steps) < 0.05 * avatar.face.face_size
        assert not rows[75][1].face_lost  # tracking resumes


class TestBlink:
    def test_blink_closes_the_avatar_eyes_without_folding(self):
        """Target lids shut (driver blinks): the tracker sees the *rendered* avatar's eyes closed."""
        from livehead.animators.base import Driving
        from livehead.config import MotionConfig
        from livehead.stages.motion import Openness, eye_openness, transfer

        avatar = load_avatar(media("aniportrait_Aragaki.png"), working_size=SIZE)
        engine = MeshAnimator()
        state = engine.prepare(avatar)
        face = avatar.face
        results = {}
        for label, ratio in (("open", 1.0), ("closed", 0.0)):
            target = transfer(face, face, face, MotionConfig(), openness=Openness(mouth=0.0, eyes=(ratio, ratio)))
            image = engine.render(state, Driving(observation=face, reference=face, reference_id=1, target_landmarks=target))
            with FaceTracker(static_image_mode=True) as tracker:
                seen = tracker.track(image)
            assert seen is not None
            results[label] = np.mean(eye_openness(to_local(seen)))
        assert results["open"] > 0.2
        assert results["closed"] < 0.5 * results["open"], results
