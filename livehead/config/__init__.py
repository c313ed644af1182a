"""Settings: the typed schema (``schema``), where files live (``paths``), and loading with validation (``loading``)."""

from livehead.config.schema import (
    CaptureConfig,
    ControlsConfig,
    EngineConfig,
    LiveHeadConfig,
    MotionConfig,
    OutputConfig,
    SmoothingConfig,
    TrackingConfig,
    with_overrides,
)

__all__ = ["CaptureConfig", "ControlsConfig", "EngineConfig", "LiveHeadConfig", "MotionConfig", "OutputConfig",
           "SmoothingConfig", "TrackingConfig", "with_overrides"]
