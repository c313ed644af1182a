"""Typed configuration: one frozen dataclass per concern, one default each.

Values come from (lowest to highest precedence) the defaults below, the TOML config file, and the
command line. Configs hold values only — never loaded images or models.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args


@dataclass(frozen=True)
class CaptureConfig:
    """``[capture]``: where driver frames come from (webcam or video file) and how a file is paced."""
    camera: int = 0  # webcam index (--camera N); ignored when `source` is set
    source: str | None = None  # video file to drive from instead of a camera (--source clip.mp4)
    loop: bool = False  # restart the video file at its end (--loop)
    width: int = 1280  # requested camera resolution (the camera may pick another)
    height: int = 720
    fps: float = 30.0  # requested camera frame rate
    realtime: bool | Literal["auto"] = "auto"  # video files: true = real-time pace, frames dropped to keep it (--realtime); false = every frame in order (--every-frame); "auto" = every frame unless a preview or virtual camera is open


@dataclass(frozen=True)
class TrackingConfig:
    """``[tracking]``: MediaPipe FaceMesh thresholds and what happens when the face is lost."""
    min_detection_confidence: float = 0.5  # MediaPipe face detection threshold
    min_tracking_confidence: float = 0.5  # below this MediaPipe re-detects
    max_faces: int = 3  # faces MediaPipe looks for; the largest drives the avatar
    lost_hold_s: float = 0.25  # keep the last pose this long after the face is lost
    lost_ease_s: float = 1.0  # then ease back to neutral over this long


@dataclass(frozen=True)
class SmoothingConfig:
    """``[smoothing]``: the One Euro filter on landmarks, keypoints and openness (cutoffs in Hz)."""
    enabled: bool = True
    min_cutoff: float = 1.0  # Hz; lower = less jitter at rest, more lag
    # Per (face size / s); higher = less lag in fast motion. With d_cutoff, measured on the 8 real
    # clips (landmarks vs the tracker's own, in face sizes; the first 450 frames): beta 20 lagged
    # 8.1 ‰ (the mouth 9.4 ‰) and kept 64 % of the tracker's jitter on still stretches; 40 lags 5.6 ‰
    # (mouth 6.4 ‰) and keeps 70 %. Rendered (`livehead eval`, mesh, 300 frames each), 40 holds the
    # output's still jitter at the real video's own (8.4 ‰ vs 8.5 ‰, pixel change 1.37 vs 1.36; beta
    # 20: 7.8 ‰, 1.26) and cuts the mouth AKD 0.0223 → 0.0215 (no smoothing 0.0205). d_cutoff 4 Hz
    # (beta 30) did as well on the clips but damped a 1-px white-noise shake less: to 50 % (beta 40 /
    # 2 Hz: 45 %, beta 20: 33 %).
    beta: float = 40.0
    openness_min_cutoff: float = 3.0  # Hz, mouth/eye openness: blinks last ~150 ms and must survive
    d_cutoff: float = 2.0  # Hz, cutoff of the derivative estimate: lower reacts later when motion starts


@dataclass(frozen=True)
class MotionConfig:
    """``[motion]``: how the driver's motion is transferred to the avatar (relative to calibration, strengths)."""
    mode: Literal["relative", "absolute"] = "relative"  # relative to the calibration frame, or copy the driver's expression
    pose_strength: float = 1.0  # multiplies head rotation change
    expression_strength: float = 1.0  # multiplies expression change
    translation: bool = True  # follow head translation
    absolute_openness: bool = True  # mouth/eye openness follow the driver's absolute values (robust to a non-neutral calibration)
    estimate_neutral: bool = True  # expression is measured against the driver's running neutral, not the calibration frame


EyesMode = Literal["follow", "retarget", "open"]
LipsMode = Literal["follow", "retarget", "closed"]
EYE_MODES: tuple[str, ...] = get_args(EyesMode)
LIP_MODES: tuple[str, ...] = get_args(LipsMode)


@dataclass(frozen=True)
class EngineConfig:
    """``[engine]``: which animator renders the avatar, on which backend, device and precision, with which weights."""
    engine: str = "mesh"  # mesh | fomm | fv2v | liveportrait
    backend: Literal["auto", "torch", "inductor", "onnxruntime", "tensorrt"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "fp16"] = "fp32"
    checkpoint: str | None = None  # a .pth.tar for fomm / fv2v; the weights folder for liveportrait
    model_config: str | None = None  # YAML in the original layout, for checkpoints of a non-standard size
    crop_size: int = 256  # neural network input (the public checkpoints are 256; liveportrait outputs 2x)
    adapt_scale: bool = True  # fomm / fv2v: scale motion by the avatar's keypoint spread (adapt_movement_scale)
    pose: str = "follow"  # fv2v / liveportrait: follow | frontal | "yaw,pitch,roll" degrees
    eyes: EyesMode = "follow"  # liveportrait: eyes follow the driver's expression | its eye opening (retargeting) | stay open
    lips: LipsMode = "follow"  # liveportrait: lips follow the driver's expression | its lip opening (retargeting) | stay closed
    grid_step: int = 16  # mesh: pixels between warp samples; lower = sharper, slower
    mouth_fill: Literal["auto", "driver", "synth", "none"] = "auto"  # mesh: mouth interior source
    segmentation: bool = True  # mesh: warp the head over a still background (person segmentation of the avatar, once per avatar)


@dataclass(frozen=True)
class OutputConfig:
    """``[output]``: output size and pace, and where frames go (virtual camera, preview, recording)."""
    size: tuple[int, int] = (1280, 720)  # output width, height (--size WxH)
    fps: float = 30.0  # output pace (--fps)
    mirror: bool = False  # flip the output left-right (--mirror)
    vcam: bool = True  # send to the virtual camera (--no-vcam to disable)
    vcam_device: str | None = None  # e.g. /dev/video10; None lets pyvirtualcam choose
    preview: bool = True  # show a preview window (--no-preview to disable)
    record: str | None = None  # record here: .mp4, .mkv, .mov or .m4v (--output out.mp4)
    overwrite: bool = False  # replace an existing recording file (--overwrite); inputs are never replaced
    overlay_on_output: bool = False  # draw overlays on the virtual-camera output too
    background: tuple[int, int, int] = (0, 0, 0)  # letterbox colour, RGB


@dataclass(frozen=True)
class ControlsConfig:
    """``[controls]``: hotkey bindings and step sizes."""
    keymap: tuple[tuple[str, str], ...] = ()  # extra bindings over the defaults, from `[controls] keymap = { k = "calibrate" }`; "none" unbinds a key
    global_hotkeys: bool = True  # also listen system-wide while the meeting app has focus (needs `pip install livehead[hotkeys]` and a display)
    global_modifiers: str = "ctrl+alt"  # held with a key for global hotkeys, so typing in the meeting chat triggers nothing; "" = bare keys
    zoom_step: float = 0.1  # W / S change the driver-crop magnification by this much (1.0 = whole frame)
    ghost_step: float = 0.1  # Z / C change the avatar ghost-overlay opacity by this much


@dataclass(frozen=True)
class LiveHeadConfig:
    """Every setting, one frozen section per pipeline part; built by :mod:`livehead.config.loading` from defaults, the config file and the command line."""
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    avatar: str | None = None  # the avatar photo (--avatar FILE)
    avatars: str | None = None  # folder of avatars (--avatars DIR)


def with_overrides(config: LiveHeadConfig, overrides: dict[str, Any]) -> LiveHeadConfig:
    """Return ``config`` with dotted keys replaced, e.g. ``{"output.fps": 25, "avatar": "me.png"}``."""
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = value
        else:
            top[key] = value
    for section, values in sections.items():
        top[section] = dataclasses.replace(getattr(config, section), **values)
    return dataclasses.replace(config, **top)
