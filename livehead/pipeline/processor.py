"""The frame path without threads: smoothing → motion transfer → animate → compose.

``FrameProcessor.process`` turns one tracked driver frame into one output frame and reports how
long each stage took. The live ``Pipeline`` runs it on its render thread; ``livehead eval`` and
tests call it directly, frame by frame, so results are deterministic.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from livehead.animators.base import Animator, AvatarState, Driving
from livehead.config import LiveHeadConfig
from livehead.face.neutral import NeutralEstimate, NeutralHistory, update_neutral
from livehead.stages.compose import Compositor
from livehead.stages.motion import Openness, eye_openness, mouth_openness, to_local, transfer
from livehead.stages.smoothing import OneEuroState, one_euro_step
from livehead.stages.tracking import observation_from_landmarks
from livehead.types import FaceObservation

log = logging.getLogger(__name__)

__all__ = ["FrameProcessor", "ProcessResult"]

EYE_RATIO_MAX = 1.6  # eyes opened wider than this over the neutral are not believable on a photo
# Fastest the avatar's landmarks may move, in avatar face sizes (pose scale ≈ inter-ocular
# distance) per second. A very fast natural head turn (≈ 400°/s) moves the face outline about
# 8 face sizes/s and the real clips peak near 4, so real motion passes untouched; a tracker
# glitch (a larger face walking in, an upside-down frame, the face returning after the avatar
# eased to neutral, a recalibration) becomes a glide of a few frames instead of a jump.
MAX_LANDMARK_SPEED = 12.0
MAX_STEP_DT = 0.1  # s; a stalled render loop must not license a jump
# Lips that meet and lids that shut are a contact, not tracker noise: filtered, a mouth that snaps
# shut between words stays open a frame or two longer than the driver's, so "shut" passes at once.
MOUTH_SHUT = 0.01  # mouth gap above the neutral's (canonical units) at which the lips have met
EYE_SHUT = 0.1  # eye opening / the neutral's at which the lids have met


@dataclass
class ProcessResult:
    """One processed frame: the output, the avatar frame before composition, the faces used and the stage timings."""
    output: np.ndarray  # (h, w, 3) uint8 RGB, output size
    avatar_frame: np.ndarray | None  # (H, W, 3) uint8 RGB, the avatar's working size; None when the engine composed the output itself
    observation: FaceObservation | None  # smoothed driver face (None when lost)
    target_landmarks: np.ndarray  # (478, 3) avatar landmarks after motion transfer
    timings_ms: dict[str, float] = field(default_factory=dict)
    face_lost: bool = False
    amount: float = 1.0  # share of the driver's motion shown (eases to 0 after the face is lost)


class FrameProcessor:
    """Holds the per-stream state: calibration reference, filters, lost-face easing.

    Not thread-safe: one processor per render thread. ``calibrate()`` makes the next observed
    face the neutral reference and resets the filters.

    An engine whose ``composes_output`` is true (a neural engine on the GPU) renders the output frame
    itself (``render_composed``: paste-back and composition stay on the device, one download);
    ``avatar_frames=True`` asks every engine for the avatar-size frame instead (``livehead eval``
    measures that), and the compositor runs here.
    """

    def __init__(self, config: LiveHeadConfig, animator: Animator, state: AvatarState, *,
                 avatar_frames: bool = False) -> None:
        self.config = config
        self.animator = animator
        self.state = state
        self.avatar_frames = avatar_frames
        self.compositor = Compositor(
            size=config.output.size, mirror=config.output.mirror, background=config.output.background
        )
        self.reference: FaceObservation | None = None
        self.reference_frame: np.ndarray | None = None
        self.reference_id = 0
        self._filter: OneEuroState | None = None
        self._open_filter: OneEuroState | None = None
        self._neutral: NeutralHistory | None = None  # the driver's running neutral (face.neutral)
        self._last_seen: FaceObservation | None = None
        self._last_seen_time = 0.0
        self._last_openness: Openness | None = None
        self._last_neutral: NeutralEstimate | None = None
        self._last_target: np.ndarray | None = None  # the previous frame's target, for the speed limit
        self._last_target_time = 0.0
        self.engine_controls: dict[str, str] = {}  # live engine modes set by hotkeys (eyes, lips), sent in Driving.extras

    # ---- control -------------------------------------------------------------------------
    def calibrate(self) -> None:
        """The next face becomes the neutral reference; smoothing restarts."""
        self.reference = None
        self._filter = None
        self._open_filter = None
        self._neutral = None

    def reset_filters(self) -> None:
        """Restart smoothing (the driver crop changed, so landmarks jump) without recalibrating."""
        self._filter = None
        self._open_filter = None

    def set_avatar(self, state: AvatarState) -> None:
        """Animate another prepared avatar from the next frame on (no glide from the previous photo's landmarks)."""
        self.state = state
        self._last_target = None  # another photo: its landmarks are not a continuation

    # ---- per frame -----------------------------------------------------------------------
    def smooth(self, obs: FaceObservation) -> FaceObservation:
        """The observation with its landmarks One Euro filtered (speed in face sizes per second); unchanged when smoothing is off."""
        cfg = self.config.smoothing
        if not cfg.enabled:
            return obs
        values, self._filter = one_euro_step(self._filter, obs.landmarks, obs.timestamp, cfg, scale=obs.face_size)
        return observation_from_landmarks(
            values, timestamp=obs.timestamp, frame_size=obs.frame_size, confidence=obs.confidence,
            num_faces=obs.num_faces,
        )

    def _openness(self, obs: FaceObservation) -> tuple[Openness, NeutralEstimate]:
        """Mouth gap and eye ratios of the *raw* observation against the driver's running neutral.

        The landmark filter would swallow a blink (≈150 ms), so openness gets a faster filter.
        """
        local = to_local(obs)
        neutral, self._neutral = update_neutral(self._neutral, local, obs.timestamp, obs.pose.yaw_pitch_roll[:2])
        eyes = np.asarray(eye_openness(local)) / np.asarray(neutral.eyes)
        raw = np.array([max(mouth_openness(local) - neutral.mouth_gap, 0.0), *np.clip(eyes, 0.0, EYE_RATIO_MAX)])
        cfg = self.config.smoothing
        if cfg.enabled:
            params = dataclasses.replace(cfg, min_cutoff=cfg.openness_min_cutoff)
            shut = raw <= np.array([MOUTH_SHUT, EYE_SHUT, EYE_SHUT])
            filtered, state = one_euro_step(self._open_filter, raw, obs.timestamp, params)
            raw = np.where(shut, raw, filtered)
            self._open_filter = dataclasses.replace(state, value=raw.copy(),
                                                    derivative=np.where(shut, 0.0, state.derivative))
        return Openness(mouth=float(raw[0]), eyes=(float(raw[1]), float(raw[2]))), neutral

    def _limit_speed(self, target: np.ndarray, now: float) -> np.ndarray:
        """The step from the last target to ``target`` (478, 3), shortened to MAX_LANDMARK_SPEED.

        The whole step is scaled by one factor (a blend of two landmark sets), so the face keeps
        its shape while it glides.
        """
        last, last_time = self._last_target, self._last_target_time
        self._last_target_time = max(now, last_time)  # a late frame's older timestamp must not widen the next step
        if last is not None and last.shape == target.shape:
            dt = min(max(now - last_time, 0.0), MAX_STEP_DT)
            allowed = MAX_LANDMARK_SPEED * dt * self.state.avatar.face.face_size
            step = float(np.sqrt(((target[:, :2] - last[:, :2]) ** 2).sum(1)).max())
            if step > allowed:
                target = (last + (target - last) * (allowed / step)).astype(np.float32)
        self._last_target = target
        return target

    def process(self, frame: np.ndarray | None, observation: FaceObservation | None, now: float | None = None) -> ProcessResult:
        """One output frame for the driver ``frame`` (RGB, may be None) and its tracked face."""
        timings: dict[str, float] = {}
        now = time.monotonic() if now is None else now
        avatar_face = self.state.avatar.face
        t0 = time.perf_counter()
        smoothed = self.smooth(observation) if observation is not None else None
        t1 = time.perf_counter()
        timings["smoothing"] = (t1 - t0) * 1e3

        lost = smoothed is None
        amount = 1.0
        if smoothed is not None:
            if self.reference is None:
                self.reference = smoothed
                self.reference_frame = frame
                self.reference_id += 1
                log.info("Calibrated: this pose is now the neutral reference.")
            self._last_seen, self._last_seen_time = smoothed, now
            current = smoothed
        elif self._last_seen is not None and self.reference is not None:
            # Hold the last pose briefly, then ease back to the avatar's neutral.
            cfg = self.config.tracking
            since = now - self._last_seen_time
            amount = float(np.clip(1.0 - (since - cfg.lost_hold_s) / max(cfg.lost_ease_s, 1e-3), 0.0, 1.0))
            amount = amount * amount * (3 - 2 * amount)
            current = self._last_seen
        else:
            current = None

        if current is None or self.reference is None:
            target = avatar_face.landmarks.copy()
            openness = None
            driving_obs, reference = avatar_face, avatar_face
        else:
            openness, neutral = None, self._last_neutral
            if not lost:
                openness, neutral = self._openness(observation)
                self._last_openness, self._last_neutral = openness, neutral
            else:
                openness = self._last_openness
            motion = self.config.motion
            h, w = self.state.avatar.image.shape[:2]
            target = transfer(
                avatar_face, self.reference, current, motion,
                openness=openness if motion.absolute_openness else None,
                neutral=neutral if motion.estimate_neutral else None, amount=amount, bounds=(w, h),
            )
            driving_obs, reference = current, self.reference
        target = self._limit_speed(target, now)
        t2 = time.perf_counter()
        timings["transfer"] = (t2 - t1) * 1e3

        driving = Driving(
            observation=driving_obs,
            reference=reference,
            reference_id=self.reference_id,
            target_landmarks=target,
            frame=frame if not lost else None,
            reference_frame=self.reference_frame,
            timestamp=now,
            extras={"amount": amount, "lost": lost, **self.engine_controls},
        )
        if getattr(self.animator, "composes_output", False) and not self.avatar_frames:
            # The engine composes on its device: "animate" covers paste-back and composition too.
            output = _checked(self.animator.render_composed(self.state, driving, self.compositor),
                              (self.compositor.size[1], self.compositor.size[0], 3))
            timings["animate"] = (time.perf_counter() - t2) * 1e3
            timings["compose"] = 0.0
            return ProcessResult(output, None, smoothed, target, timings, lost, amount)
        avatar_frame = _checked(self.animator.render(self.state, driving), self.state.avatar.image.shape)
        t3 = time.perf_counter()
        timings["animate"] = (t3 - t2) * 1e3
        output = self.compositor.compose(avatar_frame)
        timings["compose"] = (time.perf_counter() - t3) * 1e3
        return ProcessResult(output, avatar_frame, smoothed, target, timings, lost, amount)


def _checked(frame: object, expected: tuple[int, ...]) -> np.ndarray:
    """The engine's frame, or a RuntimeError naming what came back instead of (H, W, 3) uint8."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
        got = (getattr(frame, "shape", None), getattr(frame, "dtype", type(frame).__name__))
        raise RuntimeError(f"engine returned {got}, expected uint8 frame of shape {expected}")
    return frame
