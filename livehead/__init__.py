"""LiveHead: a real-time virtual webcam that animates a portrait photo with your face."""

from __future__ import annotations

from livehead.animators.base import Animator
from livehead.animators.registry import register_animator
from livehead.config import LiveHeadConfig
from livehead.types import FaceObservation

__version__ = "0.1.0"


def __getattr__(name: str):
    # Pipeline pulls in OpenCV and threads; keep `import livehead` light.
    if name == "Pipeline":
        from livehead.pipeline import Pipeline

        return Pipeline
    raise AttributeError(name)


__all__ = ["Animator", "FaceObservation", "LiveHeadConfig", "Pipeline", "register_animator", "__version__"]
