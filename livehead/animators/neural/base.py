"""What the neural engines share: checkpoint, backend and graphs set up once; per avatar a cached
encoding of the face crop; per frame the driver crop, relative motion, generator and paste-back.

Subclasses (:mod:`.fomm`, :mod:`.fv2v`) implement ``_encode``, ``_reference``, ``_motion``,
``_ease`` and ``_generate``. The networks live in :mod:`livehead.models` and run through a runner of
:mod:`livehead.runtime`; this module never falls back silently: the device, backend and precision
in use are logged once and returned by ``describe``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.animators.neural.crop import crop, face_crop_box, paste_back, to_image, to_tensor
from livehead.config import SmoothingConfig
from livehead.errors import LiveHeadError
from livehead.stages.smoothing import OneEuroState, one_euro_step
from livehead.types import FaceObservation

log = logging.getLogger(__name__)

__all__ = ["ANGLE_SMOOTHING", "BOX_SMOOTHING", "KP_SMOOTHING", "NeuralAnimator", "NeuralState", "parse_pose"]

KP_SMOOTHING = SmoothingConfig(min_cutoff=1.5, beta=2.0, d_cutoff=1.0)  # keypoints live in [-1, 1]
ANGLE_SMOOTHING = SmoothingConfig(min_cutoff=1.0, beta=0.05, d_cutoff=1.0)  # degrees
BOX_SMOOTHING = SmoothingConfig(min_cutoff=0.5, beta=0.5, d_cutoff=1.0)


def _tree(value, fn):
    """Apply ``fn`` to every tensor in nested dicts (None and numbers pass through)."""
    if isinstance(value, dict):
        return {k: _tree(v, fn) for k, v in value.items()}
    return fn(value) if hasattr(value, "detach") else value


@dataclass
class NeuralState:
    """Per-avatar cache; driver-side state (reference keypoints, filters) is reset per calibration."""

    avatar: AvatarImage
    box: np.ndarray  # (cx, cy, side) of the avatar crop
    source_crop: np.ndarray  # (S, S, 3) uint8
    cache: dict[str, Any] = field(default_factory=dict)  # engine-specific tensors
    reference_id: int = -1
    reference: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, OneEuroState | None] = field(default_factory=dict)
    driver_box: OneEuroState | None = None
    last_motion: Any = None


class NeuralAnimator:
    """Shared orchestration; subclasses implement ``_encode``, ``_reference`` and ``_motion``."""

    name: ClassVar[str] = "neural"

    def __init__(
        self,
        *,
        checkpoint: str | None = None,
        model_config: str | None = None,
        device: str = "auto",
        backend: str = "auto",
        precision: str = "fp32",
        crop_size: int = 256,
        adapt_scale: bool = True,
        expression_strength: float = 1.0,
        pose: str = "follow",
        engines_dir: str = "engines",
        **_: object,
    ) -> None:
        from livehead.extras import require

        require("neural", f"--engine {self.name}")
        import torch

        from livehead.runtime import create_runner, resolve_backend, resolve_device
        from livehead.runtime.graphs import build_graphs
        from livehead.models.catalog import resolve_checkpoint
        from livehead.models.checkpoint import load_checkpoint
        from livehead.models.configs import load_model_config

        self.torch = torch
        self.crop_size = int(crop_size)
        self.adapt_scale = adapt_scale
        self.expression_strength = float(expression_strength)
        self.pose = pose
        self.precision = precision
        resolve_device(device)  # a wrong --device fails before hundreds of MB of checkpoint are read
        path, cfg = resolve_checkpoint(self.name, checkpoint)
        if model_config is not None:
            cfg = load_model_config(model_config, engine=self.name)
        loaded = load_checkpoint(path, cfg)
        self.checkpoint = loaded.path
        self.sha256 = loaded.sha256
        # Backend, device and precision are resolved in one place and logged with the reason.
        self.choice = resolve_backend(backend, device, engine=self.name, precision=precision,
                                      engines_dir=engines_dir, checkpoint_sha256=loaded.sha256)
        self.device = self.choice.device
        graphs = build_graphs(loaded.models, image_size=self.crop_size, checkpoint=str(path),
                              checkpoint_sha256=loaded.sha256, config_name=cfg.name)
        self.runner = create_runner(self.choice.backend, graphs, self.device, precision)
        log.info("%s engine: checkpoint %s (sha256 %s…), config %s, backend %s.",
                 self.name, path, loaded.sha256[:12], cfg.name, self.choice)

    # ---- on-disk cache of the per-avatar work (used by the avatar library) -------------------
    def cache_key(self) -> str:
        """Identifies what ``prepare`` depends on besides the photo: weights and input size."""
        return f"{self.name}-{self.sha256[:16]}-{self.crop_size}"

    def save_state(self, state: NeuralState, path) -> None:
        self.torch.save({"box": self.torch.from_numpy(state.box), "cache": _tree(state.cache, lambda t: t.cpu())}, path)

    def load_state(self, avatar: AvatarImage, path) -> NeuralState:
        """Tensors only (``weights_only=True``): a cache file can never run code."""
        data = self.torch.load(path, map_location=self.device, weights_only=True)
        box = data["box"].numpy()
        return NeuralState(avatar=avatar, box=box, source_crop=crop(avatar.image, box, self.crop_size),
                           cache=data["cache"])

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "backend": self.choice.backend, "device": self.device,
                "precision": self.precision, "detail": f"checkpoint {self.checkpoint.name}"}

    # ---- Animator ------------------------------------------------------------------------
    def prepare(self, avatar: AvatarImage) -> NeuralState:
        h, w = avatar.image.shape[:2]
        box = face_crop_box(avatar.face, (w, h))
        source_crop = crop(avatar.image, box, self.crop_size)
        state = NeuralState(avatar=avatar, box=box, source_crop=source_crop)
        with self.torch.inference_mode():
            state.cache = self._encode(to_tensor(source_crop, self.device))
        return state

    def _driver_crop(self, state: NeuralState, frame: np.ndarray, face: FaceObservation, t: float) -> np.ndarray:
        box = face_crop_box(face, face.frame_size)
        box, state.driver_box = one_euro_step(state.driver_box, box, t, BOX_SMOOTHING, scale=box[2])
        return crop(frame, box, self.crop_size)

    def render(self, state: NeuralState, driving: Driving) -> np.ndarray:
        amount = float(driving.extras.get("amount", 1.0))
        with self.torch.inference_mode():
            if driving.frame is None or driving.reference_frame is None:
                if state.last_motion is None:
                    return state.avatar.image.copy()
                motion = self._ease(state, amount)  # face or camera lost: ease back to the avatar's pose
            else:
                if driving.reference_id != state.reference_id:
                    ref_crop = crop(driving.reference_frame, face_crop_box(driving.reference, driving.reference.frame_size),
                                    self.crop_size)
                    state.reference = self._reference(state, to_tensor(ref_crop, self.device))
                    state.reference_id = driving.reference_id
                    state.filters = {}
                    state.driver_box = None
                driver = self._driver_crop(state, driving.frame, driving.observation, driving.timestamp)
                motion = self._motion(state, to_tensor(driver, self.device), driving.timestamp)
                state.last_motion = motion
            prediction = self._generate(state, motion)
        result = to_image(prediction)
        return paste_back(state.avatar.image, result, state.box, state.source_crop)

    def _smooth(self, state: NeuralState, key: str, tensor, t: float, params: SmoothingConfig):
        if tensor is None:
            return None
        values = tensor.detach().float().cpu().numpy()
        out, state.filters[key] = one_euro_step(state.filters.get(key), values, t, params)
        return self.torch.from_numpy(out.astype(np.float32)).to(tensor.device)

    # subclass hooks
    def _encode(self, source):  # pragma: no cover - abstract
        raise NotImplementedError

    def _reference(self, state: NeuralState, reference):  # pragma: no cover - abstract
        raise NotImplementedError

    def _motion(self, state: NeuralState, driver, t: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def _ease(self, state: NeuralState, amount: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def _generate(self, state: NeuralState, motion):  # pragma: no cover - abstract
        raise NotImplementedError


def parse_pose(text: str) -> tuple[float, float, float] | None:
    """``follow`` → None; ``frontal`` → (0, 0, 0); ``"yaw,pitch,roll"`` → degrees."""
    if text == "follow":
        return None
    if text == "frontal":
        return (0.0, 0.0, 0.0)
    try:
        yaw, pitch, roll = (float(v) for v in text.split(","))
    except ValueError:
        raise LiveHeadError(f"--pose must be follow, frontal or yaw,pitch,roll in degrees (e.g. 20,-5,0); got {text!r}.") from None
    return yaw, pitch, roll
