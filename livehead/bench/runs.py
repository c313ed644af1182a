"""The two measurements behind ``livehead bench``: the full pipeline, or the engine alone.

``run_pipeline`` runs the pipeline exactly as ``livehead`` runs it (capture thread, tracking
thread, render loop) on a clip instead of a camera, into the null sink; whether the clip is paced
like a camera is the config's ``capture.realtime``. ``run_network`` times ``Animator.render``
alone on synthetic driving (no camera, no tracker): for neural engines that is the networks plus
crop and paste-back; for mesh, the warp. GPU work is synchronised before a timer is read.

Both return the measured part of a result (see ``report.JSON_FIELDS``): ``mode``, ``engine``,
``frames``, ``warmup``, ``stages_ms``, ``fps``, ``latency_ms``, ``dropped_frames``,
``engine_faults``, ``duration_s``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from livehead.bench.resources import sync
from livehead.config import LiveHeadConfig, with_overrides
from livehead.pipeline.stats import STAGES, summarise

__all__ = ["ScriptedSource", "run_network", "run_pipeline"]


class ScriptedSource:
    """A looping video source made from the demo: the bundled avatar rendered by the mesh engine
    following ``ScriptedDriver`` (talk, nod, turn, blink). Needs no file, camera or media.

    ``read()`` gives (H, W, 3) uint8 RGB frames: the avatar as rendered, fitted inside ``size`` = (w, h)
    (``self.size`` is what came out); ``seconds`` × ``fps`` of them, then the first again.
    """

    is_file = True
    loop = True

    def __init__(self, *, size: tuple[int, int] = (640, 480), seconds: float = 2.0, fps: float = 30.0) -> None:
        from livehead.animators import create_animator
        from livehead.avatars.demo import ScriptedDriver, demo_avatar
        from livehead.pipeline.processor import FrameProcessor

        self.name = "scripted (demo avatar, ScriptedDriver)"
        self.fps = fps
        config = with_overrides(LiveHeadConfig(), {"output.size": size})
        animator = create_animator("mesh", grid_step=config.engine.grid_step, mouth_fill="synth")
        avatar = demo_avatar(size)
        processor = FrameProcessor(config, animator, animator.prepare(avatar))
        driver = ScriptedDriver(avatar.face)
        # The script's first seconds are speech, so the tracker sees the mouth move.
        self._frames = [
            processor.process(None, driver.observation(t), now=t).avatar_frame
            for t in (i / fps for i in range(int(round(seconds * fps))))
        ]
        self.size = (self._frames[0].shape[1], self._frames[0].shape[0])
        self._next = 0

    def read(self) -> np.ndarray:
        frame = self._frames[self._next]
        self._next = (self._next + 1) % len(self._frames)
        return frame

    def reopen(self) -> None:
        self._next = 0

    def close(self) -> None:
        pass


def run_pipeline(config: LiveHeadConfig, *, source, animator, avatar, frames: int, warmup: int) -> dict[str, Any]:
    """Full pipeline into a NullSink; numbers cover the ``frames`` after ``warmup`` frames."""
    from livehead.pipeline import Pipeline
    from livehead.sinks import NullSink

    state = animator.prepare(avatar)
    with Pipeline(config, source=source, animator=animator, states=[state], sinks=[NullSink()],
                  throttle=False) as pipeline:
        if warmup:
            pipeline.run(max_frames=warmup)
        stats = pipeline.stats
        marks = {k: len(v) for k, v in stats.stages.items()}
        latency_mark, rendered_mark = len(stats.latency_ms), stats.frames_rendered
        faults_mark, t0 = stats.engine_faults, time.monotonic()
        summary = pipeline.run(max_frames=warmup + frames)
        duration = max(stats.finished - t0, 1e-9)
        stages = {k: summarise(list(v)[marks.get(k, 0):]) for k, v in stats.stages.items()}
        latency = summarise(list(stats.latency_ms)[latency_mark:])
        rendered = stats.frames_rendered - rendered_mark
    ordered = {k: stages[k] for k in STAGES if k in stages}
    ordered.update({k: v for k, v in stages.items() if k not in ordered})
    return {
        "mode": "pipeline", "engine": summary["engine"], "frames": rendered, "warmup": warmup,
        "stages_ms": ordered, "fps": rendered / duration, "latency_ms": latency,
        "dropped_frames": summary["dropped_frames"], "engine_faults": stats.engine_faults - faults_mark,
        "duration_s": duration,
    }


def run_network(config: LiveHeadConfig, *, animator, avatar, frames: int, warmup: int) -> dict[str, Any]:
    """``Animator.render`` alone on synthetic driving: the avatar's own face moved by ``ScriptedDriver``.

    The driver frame handed to the engine is the avatar photo (its landmarks are where the
    scripted face is), so crop-based engines have real pixels to crop.
    """
    from livehead.animators.base import Driving
    from livehead.avatars.demo import ScriptedDriver
    from livehead.stages.motion import transfer

    state = animator.prepare(avatar)
    driver = ScriptedDriver(avatar.face)
    h, w = avatar.image.shape[:2]
    reference = driver.observation(0.0)
    drivings = []
    for i in range(60):
        t = i / 30.0
        obs = driver.observation(t)
        target = transfer(avatar.face, reference, obs, config.motion, bounds=(w, h))
        drivings.append(Driving(observation=obs, reference=reference, reference_id=1, target_landmarks=target,
                                frame=avatar.image, reference_frame=avatar.image, timestamp=t))
    times = []
    t_start = 0.0
    for i in range(warmup + frames):
        if i == warmup:
            sync()
            t_start = time.perf_counter()
        t0 = time.perf_counter()
        animator.render(state, drivings[i % len(drivings)])
        sync()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    duration = max(time.perf_counter() - t_start, 1e-9)
    return {
        "mode": "network", "engine": dict(animator.describe()), "frames": frames, "warmup": warmup,
        "stages_ms": {"animate": summarise(times)}, "fps": frames / duration, "latency_ms": summarise([]),
        "dropped_frames": 0, "engine_faults": 0, "duration_s": duration,
    }
