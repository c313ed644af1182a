"""Failure behaviour of the live stream, proved by injecting faults (issue 7, checks 1–3).

Camera faults run the real ``Pipeline`` (capture thread, MediaPipe tracking thread, mesh engine,
``VirtualCameraSink``) from a ``ScriptedCamera`` into a recording pyvirtualcam backend, and
measure when the backend received each frame. Tracking faults drive ``FrameProcessor`` frame by
frame with synthetic 30 fps timestamps, so they are deterministic. Engine faults wrap the mesh
engine in ``FlakyAnimator``.

"Face size" below is the avatar's pose scale (≈ its inter-ocular distance in pixels; the face is
about 2.5 face sizes tall), the unit the smoother and the motion transfer use.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from harness import OUTPUT_SIZE as OUTPUT, config, run_frames, vcam_sink
from helpers import FlakyAnimator, RenderRecord, ScriptedCamera, Step
from livehead.animators.mesh.animator import MeshAnimator
from livehead.pipeline.pipeline import ENGINE_FALLBACK_AFTER, LOST_AFTER_S, Pipeline
from livehead.pipeline.processor import FrameProcessor
from livehead.stages.tracking import FaceTracker

FPS = 30.0
MAX_BACKOFF_S = 2.0  # CaptureThread's default: the longest wait before a failing camera is retried

# The avatar's landmarks may move at most this many face sizes between two frames 1/30 s apart.
# Why 0.5: the fastest natural head motion (a ≈ 400°/s turn, or the head moving ≈ 0.5 m/s at
# arm's length) moves the face outline ≈ 0.3 face sizes per frame, and the real clip with head
# motion peaks at 0.17. Without FrameProcessor's speed limit the scenarios below moved it up to
# 1.1 face sizes in one frame (measured: a larger second face 1.00, the face cut by the frame edge
# 1.12, the face returning tilted after the avatar eased to neutral 0.77, upside-down frames 0.50).
# Anything above 0.5 reads as a teleport, not as motion.
MAX_STEP_FACE_SIZES = 0.5


CONFIG = config(**{"output.fps": FPS})


@dataclass
class Streamed:
    pipeline: Pipeline
    summary: dict
    engine: FlakyAnimator
    times: np.ndarray  # monotonic arrival time of every frame at the virtual camera
    thumbs: list[np.ndarray]  # 1/8-scale copies of those frames
    backend: object


def stream(avatar, source: ScriptedCamera, vcam_backend, *, seconds: float, engine: FlakyAnimator | None = None) -> Streamed:
    """Run the real pipeline for ``seconds`` into a recording virtual camera."""
    _, backend_cls = vcam_backend
    engine = engine or FlakyAnimator(MeshAnimator())
    states = [engine.prepare(avatar)]
    sink = vcam_sink(vcam_backend, CONFIG)
    with Pipeline(CONFIG, source=source, animator=engine, states=states, sinks=[sink], throttle=True) as pipeline:
        summary = pipeline.run(max_seconds=seconds)
    (backend,) = backend_cls.instances
    return Streamed(pipeline, summary, engine, np.asarray(backend.times), backend.thumbs, backend)


def live_after(records: list[RenderRecord], t: float) -> list[RenderRecord]:
    return [r for r in records if r.live and r.wall_time > t]


def assert_no_gap(run: Streamed) -> None:
    """No gap longer than 3 frame intervals (100 ms at 30 fps) of LiveHead's own time, but two
    isolated hitches up to 250 ms.

    The virtual camera backend records, with each frame, how long the machine kept this process
    from running: its threads' waits for a CPU while runnable, and the time the hypervisor took
    the CPU away. That is time given to other programs; on a shared, overloaded 2-core machine it
    reached 90 % of wall time. It is taken out of each gap, so the check measures what LiveHead
    does (on an idle machine it is about zero and the limit is the plain 100 ms), and a fault that
    pauses the stream still fails it: waiting on a dead camera shows as one gap over 250 ms, and
    a stall on every retry as one gap per retry (a failing source is retried after 0.05, 0.1,
    0.2, 0.4, 0.8 s..., so four or more in the outages below). Isolated 105-160 ms hitches remain
    on CI's shared machines, about once per full test-suite run and once two in one stream (on a
    different test each time, once during a collector pass over test leftovers), so two pass.
    """
    limit, hitch, hitches = 3.0 / FPS, 0.25, 2
    gaps = np.diff(run.times)
    held = np.diff(np.asarray(run.backend.waits))
    own = gaps - held
    i = int(own.argmax())
    over = np.flatnonzero(own > limit)
    where = ", ".join(f"{gaps[k] * 1e3:.0f} ms ({held[k] * 1e3:.0f} held) at {run.times[k] - run.times[0]:.2f} s"
                      for k in over)
    print(f"worst gap {gaps.max() * 1e3:.0f} ms; worst not explained by CPU starvation {own[i] * 1e3:.0f} ms "
          f"(limit {limit * 1e3:.0f} ms, {hitches} hitches up to {hitch * 1e3:.0f} ms); {len(over)} over the limit"
          f"{': ' + where if where else ''}; {len(gaps) + 1} frames")
    assert len(over) <= hitches and own[i] <= hitch, (
        f"the virtual camera went {gaps[i] * 1e3:.0f} ms without a frame, {own[i] * 1e3:.0f} ms of it not explained "
        f"by CPU starvation (limit {limit * 1e3:.0f} ms, {hitches} hitches up to {hitch * 1e3:.0f} ms); "
        f"{len(over)} gaps over the limit in {len(gaps) + 1} frames: {where}"
    )


class TestTheGapCheck:
    """``assert_no_gap`` on made-up streams: it is what every fault test here relies on."""

    @staticmethod
    def _run(gaps: dict[int, float], held: dict[int, float] | None = None, frames: int = 120):
        """A 30 fps stream whose frame ``k`` came ``gaps[k]`` s after the one before, with ``held[k]`` s
        of that the machine kept the process from running."""
        from types import SimpleNamespace

        step = np.array([gaps.get(k, 1.0 / FPS) for k in range(1, frames)])
        waits = np.cumsum([0.0] + [(held or {}).get(k, 0.0) for k in range(1, frames)])
        times = np.concatenate([[0.0], np.cumsum(step)])
        return SimpleNamespace(times=times, backend=SimpleNamespace(waits=list(waits)))

    def test_a_steady_stream_and_two_hitches_pass(self):
        assert_no_gap(self._run({}))
        assert_no_gap(self._run({30: 0.16, 90: 0.2}))

    def test_a_stall_on_every_retry_fails(self):
        with pytest.raises(AssertionError, match="3 gaps over the limit"):
            assert_no_gap(self._run({30: 0.15, 40: 0.15, 60: 0.15}))

    def test_one_long_stall_fails(self):
        with pytest.raises(AssertionError, match="300 ms without a frame"):
            assert_no_gap(self._run({50: 0.3}))

    def test_time_the_machine_held_the_process_is_not_counted(self):
        assert_no_gap(self._run({50: 0.6, 70: 0.15, 80: 0.15, 90: 0.15}, held={50: 0.55, 70: 0.1, 80: 0.1, 90: 0.1}))


def assert_released(run: Streamed, source: ScriptedCamera) -> None:
    assert source.closed, "the pipeline did not close the source"
    assert run.backend.close_calls == 1, f"virtual camera closed {run.backend.close_calls} times, expected once"
    assert not run.pipeline.capture._thread.is_alive() and not run.pipeline.tracking._thread.is_alive()


# ---------------------------------------------------------------------------------------------
# 1. Camera faults


class TestCameraFaults:
    def test_unplugged_camera_keeps_stream_eases_to_neutral_and_resumes(self, avatar_640x360, driver_frames,
                                                                       vcam_backend, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        outage = 2.5
        source = ScriptedCamera(driver_frames, script=[Step("frames", frames=25), Step("none", seconds=outage)])
        run = stream(avatar_640x360, source, vcam_backend, seconds=1.0 + outage + MAX_BACKOFF_S + 1.5)

        assert_no_gap(run)
        assert_released(run, source)
        lost_at = source.events[1][0]
        back_at = source.events[2][0]
        assert "delivers no frames" in caplog.text and "delivers frames again" in caplog.text
        assert not run.pipeline.capture.lost.is_set()
        # Streaming resumed by itself: new driver frames were rendered after the camera came back.
        resumed = live_after(run.engine.records, back_at)
        assert len(resumed) >= 10, f"only {len(resumed)} frames rendered after the camera came back"
        assert resumed[0].wall_time - back_at <= MAX_BACKOFF_S + 0.5

        # During the outage the avatar eased to neutral: it still moved after the camera was
        # declared lost, then held still once the hold and the ease were over.
        cfg = CONFIG.tracking
        settled = lost_at + LOST_AFTER_S + cfg.lost_hold_s + cfg.lost_ease_s + 0.1
        in_outage = [r for r in run.engine.records if lost_at + LOST_AFTER_S < r.wall_time < back_at]
        assert in_outage and not any(r.live for r in in_outage)
        # Once at neutral the pipeline repeats that frame instead of re-rendering it every tick
        # (a neural engine would otherwise burn the GPU on an unchanging picture).
        from livehead.stages.motion import avatar_neutral

        neutral = avatar_neutral(avatar_640x360.face)  # the photo with its mouth closed (this one shows teeth)
        late = [r for r in in_outage if r.wall_time > settled]
        assert len(late) <= 2, f"{len(late)} renders after the avatar settled at neutral"
        assert float(np.abs(in_outage[-1].target - neutral).max()) < 1e-3, "eased pose is not the avatar's neutral"
        # ... and the picture moves again once the driver is back.
        neutral_thumb = run.thumbs[int(np.searchsorted(run.times, back_at)) - 1]
        after = [t for t, at in zip(run.thumbs, run.times) if at > resumed[0].wall_time]
        assert any(not np.array_equal(t, neutral_thumb) for t in after), "output frozen after the camera came back"

    def test_camera_read_raising_is_survived(self, avatar_640x360, driver_frames, vcam_backend, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        source = ScriptedCamera(driver_frames, script=[Step("frames", frames=25), Step("raise", seconds=1.5)])
        run = stream(avatar_640x360, source, vcam_backend, seconds=1.0 + 1.5 + MAX_BACKOFF_S + 1.0)

        assert_no_gap(run)
        assert_released(run, source)
        back_at = source.events[2][0]
        assert len(live_after(run.engine.records, back_at)) >= 5, "no new frames after the camera stopped raising"
        failures = [r for r in caplog.records if "failed: " in r.getMessage() and "injected fault" in r.getMessage()]
        assert 1 <= len(failures) <= 3, f"read errors must be logged a few times, not per retry: {len(failures)}"
        assert run.pipeline.tracking.error is None
        assert run.pipeline.stats.engine_faults == 0

    def test_malformed_camera_frames_are_skipped(self, avatar_640x360, driver_frames, vcam_backend, caplog):
        """Empty, grayscale, RGBA and float frames never reach the tracker (an empty one breaks
        MediaPipe's graph for good) and the stream carries on."""
        caplog.set_level(logging.INFO, logger="livehead")
        source = ScriptedCamera(driver_frames, script=[Step("frames", frames=25), Step("bad", seconds=1.5)])
        run = stream(avatar_640x360, source, vcam_backend, seconds=1.0 + 1.5 + MAX_BACKOFF_S + 1.0)

        assert_no_gap(run)
        assert run.pipeline.tracking.error is None
        assert "malformed frame" in caplog.text
        back_at = source.events[2][0]
        resumed = live_after(run.engine.records, back_at)
        assert len(resumed) >= 10 and all(r.frame_size == (256, 256) for r in run.engine.records if r.live)

    def test_a_dead_tracker_is_reported_not_taken_for_the_end_of_the_stream(self, avatar_640x360, driver_frames,
                                                                            monkeypatch):
        calls = {"n": 0}
        track = FaceTracker.track

        def failing(self, image, timestamp=0.0):
            calls["n"] += 1
            if calls["n"] > 10:
                raise RuntimeError("injected tracker failure")
            return track(self, image, timestamp)

        monkeypatch.setattr(FaceTracker, "track", failing)
        source = ScriptedCamera(driver_frames)
        engine = MeshAnimator()
        with Pipeline(CONFIG, source=source, animator=engine, states=[engine.prepare(avatar_640x360)], sinks=[],
                      throttle=True) as pipeline:
            with pytest.raises(RuntimeError, match="injected tracker failure"):
                pipeline.run(max_seconds=20)

    def test_camera_that_stops_for_good_keeps_the_virtual_camera_fed(self, avatar_640x360, driver_frames,
                                                                      vcam_backend):
        source = ScriptedCamera(driver_frames, script=[Step("frames", frames=20)], then="none")
        run = stream(avatar_640x360, source, vcam_backend, seconds=4.0)

        assert_no_gap(run)
        assert_released(run, source)
        assert run.pipeline.capture.lost.is_set()
        assert source.reopens >= 1, "a dead camera should be reopened while retrying"
        stopped_at = source.events[1][0]
        assert run.times[-1] - stopped_at > 3.0, "the virtual camera stopped receiving frames with the camera"

    def test_hung_camera_read_does_not_hold_up_the_stream_or_shutdown(self, avatar_640x360, driver_frames,
                                                                      vcam_backend):
        hang = 3.0
        source = ScriptedCamera(driver_frames, script=[Step("frames", frames=25), Step("hang", seconds=hang),
                                                            Step("frames", frames=25), Step("hang", seconds=30.0)])
        _, backend_cls = vcam_backend
        engine = FlakyAnimator(MeshAnimator())
        sink = vcam_sink(vcam_backend, CONFIG)
        pipeline = Pipeline(CONFIG, source=source, animator=engine, states=[engine.prepare(avatar_640x360)],
                            sinks=[sink], throttle=True)
        try:
            summary = pipeline.run(max_seconds=1.0 + hang + 1.0 + 1.0)  # ends inside the second, 30 s hang
        finally:
            t0 = time.monotonic()
            pipeline.close()
            closing = time.monotonic() - t0
        (backend,) = backend_cls.instances
        run = Streamed(pipeline, summary, engine, np.asarray(backend.times), backend.thumbs, backend)

        assert_no_gap(run)
        hung_at, back_at = source.events[1][0], source.events[2][0]
        assert any(not r.live for r in engine.records if hung_at < r.wall_time < back_at), "no easing while hung"
        assert len(live_after(engine.records, back_at)) >= 10, "no new frames after the read returned"
        assert source.step == 3, "the run should end while the second hang is in progress"
        assert closing < 1.5, f"close() took {closing:.2f} s with a read stuck in the driver"
        assert backend.close_calls == 1 and not pipeline.tracking._thread.is_alive()

    def test_resolution_change_mid_stream(self, avatar_640x360, driver_frames, vcam_backend, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        sizes = [(320, 240), (200, 150)]  # the camera switches mode twice: to 4:3 (larger), then smaller
        script = [Step("frames", frames=30)] + [Step("frames", frames=40, size=s) for s in sizes]
        source = ScriptedCamera(driver_frames, script=script)
        run = stream(avatar_640x360, source, vcam_backend, seconds=30 / 25 + 80 / 25 + 0.5)

        assert_no_gap(run)
        assert run.pipeline.stats.engine_faults == 0 and run.pipeline.tracking.error is None
        live = [r for r in run.engine.records if r.live]
        seen = {r.frame_size for r in live}
        assert {(256, 256), *sizes} <= seen, f"frames of every resolution should be rendered, saw {seen}"
        assert caplog.text.count("now delivers") == 2
        assert_bounded_motion(run.engine.records, avatar_640x360.face.face_size)

        # The camera shows the same head in each mode, so once the avatar settles after a switch
        # it is back where it was: the switch recalibrates instead of shifting or zooming the
        # avatar by the change of framing.
        def settled_pose(size):
            targets = [r.target for r in live if r.frame_size == size]
            return np.mean(targets[-10:], axis=0)

        face = avatar_640x360.face.face_size
        before = settled_pose((256, 256))
        for size in sizes:
            moved = float(np.linalg.norm((settled_pose(size) - before)[:, :2], axis=1).mean()) / face
            assert moved < 0.15, f"after switching to {size} the avatar sits {moved:.2f} face sizes off"


def assert_bounded_motion(records: list[RenderRecord], face_size: float) -> None:
    """Per-render landmark step ≤ MAX_STEP_FACE_SIZES per 1/30 s of the processor's clock."""
    for a, b in zip(records, records[1:]):
        dt = max(b.timestamp - a.timestamp, 1.0 / 30.0)
        step = float(np.linalg.norm((b.target - a.target)[:, :2], axis=1).max()) / face_size
        assert step <= MAX_STEP_FACE_SIZES * dt * 30.0 + 1e-6, f"avatar jumped {step:.2f} face sizes in {dt * 1e3:.0f} ms"


# ---------------------------------------------------------------------------------------------
# 2. Tracking faults


def _shift(image: np.ndarray, dx: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, 0]]), (w, h))


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


def _beside(left: np.ndarray, right: np.ndarray | None) -> np.ndarray:
    return np.hstack([left, np.zeros_like(left) if right is None else right])


def _scaled_into(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` scaled about its centre into a canvas of its own size (cropped or padded)."""
    h, w = image.shape[:2]
    m = np.float32([[scale, 0, (1 - scale) * w / 2], [0, scale, (1 - scale) * h / 2]])
    return cv2.warpAffine(image, m, (w, h))


def _other_face(frames: list[np.ndarray], scale: float) -> np.ndarray:
    from _media import media

    photo = cv2.cvtColor(cv2.imread(str(media("dreamtalk_f30.png"))), cv2.COLOR_BGR2RGB)
    h, w = frames[0].shape[:2]
    return _scaled_into(cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA), scale)


def tracking_scenarios(f: list[np.ndarray]) -> dict[str, list[np.ndarray | None]]:
    """Driver sequences (30 fps) built from the clip with head motion; None = camera gave nothing."""
    blank = np.zeros_like(f[0])
    w = f[0].shape[1]
    angles = [*range(0, 96, 6), *range(90, -1, -6)]  # 180°/s roll up to 90° and back
    return {
        # one-frame dropouts, then 1.5 s without a face (the avatar eases to neutral); the face
        # comes back with the head tilted 25°
        "no_face": f[:20] + [None] * 2 + f[22:35] + [blank] * 45 + [_rotate(x, 25) for x in f[80:100]],
        "second_face_larger": [_beside(x, None) for x in f[:20]] + [_beside(x, _other_face(f, 1.3)) for x in f[20:50]],
        # the face slides out to 45 % at 4 px/frame and back, then the frame edge cuts it abruptly
        "partly_out_of_frame": [_shift(x, -4 * min(i, 58 - i, 29)) for i, x in enumerate(f[:58])]
        + [_shift(x, -0.45 * w) for x in f[58:78]] + f[78:88],
        "extreme_roll": [_rotate(f[i], a) for i, a in enumerate(angles)],
        "upside_down_glitch": f[:15] + [x[::-1] for x in f[15:35]] + f[35:55],
    }


def drive(frames: list[np.ndarray | None], avatar, engine) -> list:
    """FrameProcessor over ``frames`` at 30 fps with the video-mode tracker; returns the results."""
    return run_frames(FrameProcessor(CONFIG, engine, engine.prepare(avatar)), frames, fps=FPS).results


def max_step(results, face_size: float) -> tuple[float, int]:
    targets = np.stack([r.target_landmarks[:, :2] for r in results])
    steps = np.linalg.norm(np.diff(targets, axis=0), axis=2).max(axis=1) / face_size
    return float(steps.max()), int(steps.argmax()) + 1


@pytest.fixture(scope="module")
def scenarios(moving_frames):
    return tracking_scenarios(moving_frames)


@pytest.fixture(scope="module")
def mesh_engine():
    return MeshAnimator(grid_step=24)


class TestTrackingFaults:
    @pytest.mark.parametrize("name", ["no_face", "second_face_larger", "partly_out_of_frame", "extreme_roll",
                                      "upside_down_glitch"])
    def test_no_exception_and_no_jump(self, name, scenarios, avatar_640x360, mesh_engine):
        results = drive(scenarios[name], avatar_640x360, mesh_engine)
        assert len(results) == len(scenarios[name])
        for r in results:
            assert r.output.shape == (OUTPUT[1], OUTPUT[0], 3) and r.output.dtype == np.uint8
            assert np.isfinite(r.target_landmarks).all()
        step, at = max_step(results, avatar_640x360.face.face_size)
        assert step <= MAX_STEP_FACE_SIZES, f"{name}: avatar jumped {step:.2f} face sizes at frame {at}"

    def test_smaller_second_face_does_not_take_over(self, moving_frames, avatar_640x360, mesh_engine):
        """Someone smaller (further back) walking in leaves the avatar following the driver.

        The driver-only run doubles as the check that the bound leaves real motion alone: the
        clip's own head motion stays well below it.
        """
        solo = drive([_beside(x, None) for x in moving_frames[:45]], avatar_640x360, mesh_engine)
        step, _ = max_step(solo, avatar_640x360.face.face_size)
        assert 0.02 < step < 0.6 * MAX_STEP_FACE_SIZES, f"clean clip: largest step {step:.2f} face sizes"
        both = drive([_beside(x, None) for x in moving_frames[:15]]
                     + [_beside(x, _other_face(moving_frames, 0.6)) for x in moving_frames[15:45]],
                     avatar_640x360, mesh_engine)
        assert max(r.observation.num_faces for r in both if r.observation is not None) == 2
        gap = max(float(np.abs(a.target_landmarks - b.target_landmarks)[:, :2].max()) for a, b in zip(solo, both))
        assert gap / avatar_640x360.face.face_size < 0.05, "a smaller second face changed what drives the avatar"


# ---------------------------------------------------------------------------------------------
# 3. Engine faults


class FrameLog:
    """A sink that remembers, per frame, whether it was the very array sent just before."""

    name = "framelog"
    wants_overlays = False
    closed_by_user = False
    live = False

    def __init__(self) -> None:
        self.repeated: list[bool] = []
        self.crc: list[int] = []
        self._last: np.ndarray | None = None

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        self.repeated.append(frame is self._last)
        self.crc.append(zlib.crc32(frame.data))
        self._last = frame

    def close(self) -> None:
        pass


def run_engine(avatar, frames, engine: FlakyAnimator, *, max_frames: int) -> tuple[Pipeline, FrameLog]:
    """Unthrottled pipeline: exactly one render (and one sent frame) per new driver frame."""
    source = ScriptedCamera(frames, rate=50.0)
    sink = FrameLog()
    with Pipeline(CONFIG, source=source, animator=engine, states=[engine.prepare(avatar)], sinks=[sink],
                  throttle=False) as pipeline:
        pipeline.run(max_frames=max_frames, max_seconds=60)
    return pipeline, sink


class TestEngineFaults:
    def test_bad_frames_are_replaced_by_the_previous_good_one(self, avatar_640x360, driver_frames, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        faults = {5: "raise", 6: "nan", 7: "float", 8: "shape", 15: "oom", 20: "nan"}
        engine = FlakyAnimator(MeshAnimator(), faults=faults)
        pipeline, sink = run_engine(avatar_640x360, driver_frames, engine, max_frames=30)

        # The first render produced the first frame, so sent frame k is render call k.
        assert len(sink.repeated) == 30 and engine.calls == 30
        for call in range(1, 30):
            expected = call in faults
            assert sink.repeated[call] == expected, f"render {call}: repeated={sink.repeated[call]}, fault={expected}"
            if expected:
                assert sink.crc[call] == sink.crc[call - 1]
        assert pipeline.stats.engine_faults == len(faults)
        assert pipeline.animator is engine, "isolated faults must not switch engines"
        errors = [r for r in caplog.records if r.name == "livehead.pipeline.pipeline" and r.levelno >= logging.WARNING]
        first = [r for r in errors if "repeating the last good frame" in r.getMessage()]
        assert len(first) == 1, "an engine fault is logged once, not once per frame"
        counted = [r for r in errors if f"{len(faults)} frame" in r.getMessage()]
        assert len(counted) == 1, f"the fault count is reported once: {[r.getMessage() for r in errors]}"

    def test_repeated_faults_fall_back_to_mesh_and_say_so(self, avatar_640x360, driver_frames, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        engine = FlakyAnimator(MeshAnimator(), fail_from=3)
        pipeline, sink = run_engine(avatar_640x360, driver_frames, engine, max_frames=3 + ENGINE_FALLBACK_AFTER + 10)

        assert engine.calls == 3 + ENGINE_FALLBACK_AFTER, "the failing engine was called after the fallback"
        assert isinstance(pipeline.animator, MeshAnimator)
        assert pipeline.animator.describe()["engine"] == "mesh"
        switched = [r for r in caplog.records if "switched to the mesh engine" in r.getMessage()]
        assert len(switched) == 1 and switched[0].levelno >= logging.WARNING
        assert "flaky" in switched[0].getMessage() and str(ENGINE_FALLBACK_AFTER) in switched[0].getMessage()
        # Frames 3 … 12 repeat frame 2; the mesh engine renders new frames after the switch.
        assert all(sink.repeated[3 : 3 + ENGINE_FALLBACK_AFTER])
        assert not any(sink.repeated[3 + ENGINE_FALLBACK_AFTER + 1 :])


# ---------------------------------------------------------------------------------------------
# Long runs: an unpaced file (bench, soak) is read one frame ahead, never decoded just to be dropped


def test_unpaced_file_uses_every_frame_and_decodes_no_extra(avatar_640x360, driver_clip_path):
    from livehead.stages.capture import VideoFileSource
    from livehead.sinks import NullSink

    cfg = config(**{"output.fps": FPS, "capture.realtime": False})
    source = VideoFileSource(path=driver_clip_path, loop=False)
    total = source.frame_count
    engine = MeshAnimator()
    with Pipeline(cfg, source=source, animator=engine, states=[engine.prepare(avatar_640x360)], sinks=[NullSink()],
                  throttle=False) as pipeline:
        summary = pipeline.run(max_seconds=120)
    assert pipeline.capture.ended.is_set()
    assert pipeline.capture.dropped == 0, "frames were decoded only to be dropped"
    assert summary["stages_ms"]["tracking"]["n"] == total, "every frame of the file should be tracked"
