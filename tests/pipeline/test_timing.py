"""The Pipeline's clock and hand-offs (issue 12): a clip with nobody watching live is rendered frame by
frame (every frame, in order, none repeated) and each frame reaches the sinks with the clip's own
time; with a live sink the clip plays in real time; a sink that fails is dropped, and the stream
stops only when nothing is left to send to.

Runs the real capture and tracking threads, MediaPipe and the mesh engine on the shared talking clip.
"""

from __future__ import annotations

import errno

import av
import numpy as np
import pytest

from livehead.animators.mesh.animator import MeshAnimator
from livehead.config import LiveHeadConfig, with_overrides
from livehead.pipeline.pipeline import Pipeline
from livehead.stages.capture import VideoFileSource

OUTPUT = (320, 240)


class TimedSink:
    """Keeps the timestamp of every frame it is sent."""

    name = "timed"
    wants_overlays = False
    closed_by_user = False

    def __init__(self, *, live: bool = False, fail_after: int | None = None) -> None:
        self.live = live
        self.fail_after = fail_after
        self.times: list[float] = []
        self.closed = 0

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        if self.fail_after is not None and len(self.times) >= self.fail_after:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.times.append(timestamp)

    def close(self) -> None:
        self.closed += 1


def clip_times(path) -> list[float]:
    with av.open(str(path)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
    return [t - times[0] for t in times]


def run(clip, sinks, *, realtime="auto", avatar, max_seconds: float = 120.0) -> Pipeline:
    config = with_overrides(LiveHeadConfig(), {"output.size": OUTPUT, "capture.realtime": realtime})
    engine = MeshAnimator()
    with Pipeline(config, source=VideoFileSource(path=clip), animator=engine, states=[engine.prepare(avatar)],
                  sinks=sinks) as pipeline:
        pipeline.run(max_seconds=max_seconds)
    return pipeline


def test_a_clip_nobody_watches_is_rendered_frame_by_frame_at_its_own_times(driver_clip_path, avatar_640x360):
    sink = TimedSink()
    pipeline = run(driver_clip_path, [sink], avatar=avatar_640x360)
    expected = clip_times(driver_clip_path)
    assert pipeline.every_frame
    assert len(sink.times) == len(expected), f"{len(sink.times)} frames sent for a {len(expected)}-frame clip"
    assert sink.times == pytest.approx(expected, abs=1e-3)
    assert pipeline.capture.dropped == 0 and pipeline.tracking.slot.dropped == 0
    assert pipeline.stats.repeats == 0


def test_with_a_live_sink_the_clip_plays_in_real_time(driver_clip_path, avatar_640x360):
    sink = TimedSink(live=True)
    pipeline = run(driver_clip_path, [sink], avatar=avatar_640x360)
    expected = clip_times(driver_clip_path)
    assert not pipeline.every_frame
    assert all(b >= a for a, b in zip(sink.times, sink.times[1:])), "timestamps went back"
    assert sink.times[-1] == pytest.approx(expected[-1], abs=1e-3), "the clip's last frame ends the stream"
    wall = pipeline.stats.finished - pipeline.stats.started
    assert wall >= expected[-1] * 0.9, f"a {expected[-1]:.2f} s clip played in {wall:.2f} s: not real time"


def test_every_frame_can_be_asked_for_with_a_live_sink(driver_clip_path, avatar_640x360):
    sink = TimedSink(live=True)
    pipeline = run(driver_clip_path, [sink], realtime=False, avatar=avatar_640x360)
    assert pipeline.every_frame and len(sink.times) == len(clip_times(driver_clip_path))


def test_a_failed_sink_is_dropped_and_the_live_one_keeps_streaming(driver_clip_path, avatar_640x360):
    recorder, live = TimedSink(fail_after=10), TimedSink(live=True)
    recorder.name = "record"
    pipeline = run(driver_clip_path, [recorder, live], avatar=avatar_640x360)
    assert pipeline.failed_sinks and pipeline.failed_sinks[0][0] == "record"
    assert "No space left" in pipeline.failed_sinks[0][1]
    assert recorder.closed == 1 and len(recorder.times) == 10
    assert len(live.times) > 20, "the live sink stopped with the failed one"


def test_when_the_only_sink_fails_the_stream_stops(driver_clip_path, avatar_640x360):
    recorder = TimedSink(fail_after=5)
    pipeline = run(driver_clip_path, [recorder], avatar=avatar_640x360)
    assert len(recorder.times) == 5 and pipeline.stats.frames_out <= 6
    assert not pipeline.capture.ended.is_set(), "the stream went on with nothing to send to"


class SlowEngine:
    """The mesh engine, made to take ``seconds`` per frame (a slow GPU-less machine)."""

    def __init__(self, seconds: float) -> None:
        self.inner, self.seconds = MeshAnimator(), seconds

    def describe(self):
        return {**self.inner.describe(), "engine": "slow"}

    def prepare(self, avatar):
        return self.inner.prepare(avatar)

    def render(self, state, driving):
        import time

        time.sleep(self.seconds)
        return self.inner.render(state, driving)


def test_a_camera_recording_lasts_as_long_as_the_session(avatar_640x360, driver_frames, tmp_path):
    """A 25 fps camera, an engine managing ~8 fps, output paced at 30 fps: the recording still lasts as
    long as the stream ran (frames stamped at the output rate made 3 s of running about 1 s of video)."""
    from helpers import ScriptedCamera
    from livehead.sinks import RecorderSink
    from livehead.sinks.recorder import read_back

    config = with_overrides(LiveHeadConfig(), {"output.size": OUTPUT, "output.fps": 30.0})
    engine = SlowEngine(0.12)
    recorder = RecorderSink(path=tmp_path / "o.mp4", width=OUTPUT[0], height=OUTPUT[1], fps=30.0)
    live = TimedSink(live=True)
    source = ScriptedCamera(driver_frames, rate=25.0)
    with Pipeline(config, source=source, animator=engine, states=[engine.prepare(avatar_640x360)],
                  sinks=[recorder, live]) as pipeline:
        pipeline.run(max_seconds=3.0)
    assert recorder.written, recorder.error
    packets, duration, _ = read_back(tmp_path / "o.mp4")
    session = live.times[-1]  # the last frame's time on the capture clock, from the first frame
    print(f"{packets} frames recorded over {duration:.2f} s; the stream ran {session:.2f} s after its first frame")
    with av.open(str(tmp_path / "o.mp4")) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    longest = max(np.diff(times))
    assert session > 2.0
    # the last frame stays up for one usual interval: "as long as the session, within one frame"
    assert session - 1e-3 <= duration <= session + longest, f"{duration:.2f} s recorded of a {session:.2f} s session"
    assert pipeline.capture.dropped + pipeline.tracking.slot.dropped > 0, "the test needs a stream that drops frames"
