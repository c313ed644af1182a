"""What the neural engines share: checkpoint, backend and graphs set up once; per avatar a cached
encoding of the face crop; per frame the driver crop, relative motion, generator and paste-back.

Subclasses (:mod:`.fomm`, :mod:`.fv2v`) implement ``_encode``, ``_reference``, ``_motion``,
``_ease`` and ``_generate``, calling graphs through ``_run`` and filtering through ``_smooth``.
Two frame paths drive those hooks:

* on the CPU (``frame_path="arrays"``, the default there) the crop and paste-back are OpenCV on
  NumPy arrays and the filters NumPy (this module);
* on CUDA (``frame_path="tensor"``, the default there) the whole frame stays on the device from the
  upload of the driver frame to the download of the composed output (:mod:`.gpu_path`), captured
  as CUDA graphs when the backend allows. ``render_composed`` then returns the output frame itself
  (see :class:`livehead.animators.base.Animator`).

The networks live in :mod:`livehead.models` and run through a runner of :mod:`livehead.runtime`;
this module never falls back silently: the device, backend, precision and frame path in use are
logged once and returned by ``describe``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.animators.neural.crop import crop, face_crop_box, paste_back, to_image, to_tensor
from livehead.config import SmoothingConfig
from livehead.errors import LiveHeadError
from livehead.runtime.memory import within_budget
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


@functools.lru_cache(maxsize=1)
def _random_state(engine: str, model_config: str | None, seed: int, size: int) -> dict[str, dict[str, Any]]:
    """Calibrated random weights (``random_init.random_models``) as state dicts, made once per process:
    calibration runs the networks on the CPU (a minute for face-vid2vid), and a benchmark builds the
    same engine several times (``make gpu-check``: once per backend and precision)."""
    from livehead.models.configs import load_model_config
    from livehead.models.random_init import random_models

    cfg = load_model_config(model_config, engine=engine) if model_config else None
    models = random_models(engine, seed=seed, image_size=size, config=cfg)
    return {name: {k: v.clone() for k, v in module.state_dict().items()} for name, module in models.items()}


@dataclass
class NeuralState:
    """Per-avatar cache; driver-side state (reference keypoints, filters) is reset per calibration."""

    avatar: AvatarImage
    box: np.ndarray  # (cx, cy, side) of the avatar crop
    source_crop: np.ndarray  # (S, S, 3) uint8
    cache: dict[str, Any] = field(default_factory=dict)  # engine-specific tensors
    reference_id: int = -1
    reference: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, Any] = field(default_factory=dict)  # OneEuroState (arrays) or TensorOneEuro (tensor path)
    driver_box: OneEuroState | None = None
    last_motion: Any = None
    gpu: Any = None  # the GpuFramePath of this avatar (tensor frame path), made on first use


class NeuralAnimator:
    """Shared orchestration; subclasses implement ``_encode``, ``_reference`` and ``_motion``."""

    name: ClassVar[str] = "neural"
    # GPU memory (GiB) the engine should fit in at fp16, 256² (twice that at fp32): cuDNN's algorithm
    # search runs under it (livehead.runtime.memory), so an 8 GB card runs the engine.
    gpu_budget_fp16_gb: ClassVar[float | None] = None
    # Whether the engine's frame goes through the shared hooks (``_reference`` / ``_motion`` / ``_ease``
    # / ``_generate``) that the tensor frame path drives; an engine with its own ``render`` says False
    # and runs the OpenCV/NumPy frame path on every device.
    tensor_frame_path: ClassVar[bool] = True

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
        random_weights: bool = False,
        seed: int = 0,
        frame_path: str = "auto",
        cuda_graphs: bool = True,
        **_: object,
    ) -> None:
        import time

        from livehead.extras import require

        require("neural", f"--engine {self.name}")
        import torch

        from livehead.runtime import resolve_backend, resolve_device

        started = time.perf_counter()
        self.torch = torch
        self.crop_size = int(crop_size)
        self.adapt_scale = adapt_scale
        self.expression_strength = float(expression_strength)
        self.pose = pose
        self.precision = precision
        resolve_device(device)  # a wrong --device fails before hundreds of MB of checkpoint are read
        models, path, label, sha, config_name = self._load_models(checkpoint, model_config, random_weights, seed)
        self.checkpoint_label = label
        self.sha256 = sha
        # Backend, device and precision are resolved in one place and logged with the reason.
        self.choice = resolve_backend(backend, device, engine=self.name, precision=precision,
                                      engines_dir=engines_dir, checkpoint_sha256=sha)
        self.device = self.choice.device
        self.runner = self._make_runner(models, path, sha, config_name, engines_dir)
        if frame_path not in ("auto", "tensor", "arrays"):
            raise LiveHeadError(f"frame_path must be auto, tensor or arrays; got {frame_path!r}")
        if frame_path == "tensor" and not self.tensor_frame_path:
            raise LiveHeadError(f"--engine {self.name} has no tensor frame path yet; use frame_path auto or arrays.")
        self.tensor_path = self.tensor_frame_path and (frame_path == "tensor" or (frame_path == "auto" and self.device == "cuda"))
        # Graphs are called through the runner's ``call`` (no capture of its own) when the tensor path
        # captures the whole frame step as one CUDA graph; otherwise through ``run``.
        self.capture = self.tensor_path and self.device == "cuda" and cuda_graphs and hasattr(self.runner, "call")
        self._run = self.runner.call if self.capture else self.runner.run
        self.startup_s = time.perf_counter() - started
        log.info("%s engine: %s, config %s, backend %s, %s frame path.", self.name, label, config_name, self.choice,
                 "tensor (GPU)" if self.tensor_path else "OpenCV/NumPy")

    def _load_models(self, checkpoint, model_config, random_weights: bool, seed: int):
        """(models, path or None, label, sha256 or random-weights id, config name) from a checkpoint, or the public
        architecture with calibrated random weights (benchmarks: speed does not depend on the weights)."""
        from livehead.models.catalog import resolve_checkpoint
        from livehead.models.checkpoint import load_checkpoint
        from livehead.models.configs import PUBLIC_CONFIGS, build_models, load_model_config

        if random_weights:
            from livehead.runtime.manifest import random_weights_id

            cfg = load_model_config(model_config, engine=self.name) if model_config else next(
                c for c in PUBLIC_CONFIGS.values() if c.engine == self.name)
            models = build_models(cfg)
            for name, module in models.items():
                module.load_state_dict(_random_state(self.name, model_config, seed, self.crop_size)[name])
            return models, None, f"random weights (seed {seed})", random_weights_id(seed, self.crop_size), cfg.name
        path, cfg = resolve_checkpoint(self.name, checkpoint)
        if model_config is not None:
            cfg = load_model_config(model_config, engine=self.name)
        loaded = load_checkpoint(path, cfg)
        return (loaded.models, str(path), f"checkpoint {loaded.path.name} (sha256 {loaded.sha256[:12]}…)",
                loaded.sha256, cfg.name)

    def _make_runner(self, models, path: str | None, sha: str, config_name: str, engines_dir: str):
        from livehead.config.paths import user_data_dir
        from livehead.runtime import create_runner
        from livehead.runtime.graphs import build_graphs

        graphs = build_graphs(models, image_size=self.crop_size, checkpoint=path, checkpoint_sha256=sha,
                              config_name=config_name)
        # Compiled kernels (backend inductor) are cached in the data folder: the second start is fast.
        return create_runner(self.choice.backend, graphs, self.device, self.precision, engines_dir=engines_dir,
                             cache_dir=user_data_dir() / "compile-cache")

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
        """What runs: engine, backend, device, precision, why this backend, and the runner's and frame
        path's details (the stats overlay and ``livehead bench`` show them)."""
        runner = self.runner.describe()
        path = "tensor frame path" + (", one CUDA graph per step" if self.capture else "") if self.tensor_path else \
            "OpenCV/NumPy frame path"
        return {"engine": self.name, "backend": runner.get("backend", self.choice.backend), "device": self.device,
                "precision": self.precision, "why": self.choice.reason,
                "detail": f"{self.checkpoint_label}; {runner.get('detail', '')}; {path}"}

    @property
    def composes_output(self) -> bool:
        """True when ``render_composed`` does the composition itself (on the device)."""
        return self.tensor_path

    # ---- Animator ------------------------------------------------------------------------
    def prepare(self, avatar: AvatarImage) -> NeuralState:
        h, w = avatar.image.shape[:2]
        box = face_crop_box(avatar.face, (w, h))
        source_crop = crop(avatar.image, box, self.crop_size)
        state = NeuralState(avatar=avatar, box=box, source_crop=source_crop)

        def encode():
            with self.torch.inference_mode():
                return self._encode(to_tensor(source_crop, self.device))

        state.cache = within_budget(encode, self.memory_budget_gb, f"{self.name}: encoding an avatar")
        return state

    @property
    def memory_budget_gb(self) -> float | None:
        """The GPU memory budget at this precision and crop size (None on the CPU)."""
        if self.device != "cuda" or self.gpu_budget_fp16_gb is None:
            return None
        scale = (self.crop_size / 256) ** 2 * (2.0 if self.precision == "fp32" else 1.0)
        return self.gpu_budget_fp16_gb * max(scale, 1.0)

    def _driver_crop(self, state: NeuralState, frame: np.ndarray, face: FaceObservation, t: float) -> np.ndarray:
        box = face_crop_box(face, face.frame_size)
        box, state.driver_box = one_euro_step(state.driver_box, box, t, BOX_SMOOTHING, scale=box[2])
        return crop(frame, box, self.crop_size)

    def _gpu(self, state: NeuralState):
        if state.gpu is None:
            from livehead.animators.neural.gpu_path import GpuFramePath

            state.gpu = GpuFramePath(self, state, capture=self.capture, box_smoothing=BOX_SMOOTHING)
        return state.gpu

    def render_composed(self, state: NeuralState, driving: Driving, compositor) -> np.ndarray:
        """The output frame of ``compositor`` (size, mirror, bars), composed on the engine's device."""
        if not self.tensor_path:
            return compositor.compose(self.render(state, driving))
        from livehead.animators.neural.gpu_path import Layout

        return self._gpu(state).render(driving, Layout.of(compositor))

    def render(self, state: NeuralState, driving: Driving) -> np.ndarray:
        if self.tensor_path:
            from livehead.animators.neural.gpu_path import Layout

            return self._gpu(state).render(driving, Layout())
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

    def _smooth(self, state: NeuralState, key: str, tensor, t, params: SmoothingConfig):
        """One Euro filter ``tensor`` under ``key``: NumPy on the host when ``t`` is a timestamp, on the
        device when it is a :class:`~.tensor_filters.FilterClock` (tensor frame path, no host copy)."""
        if tensor is None:
            return None
        if not isinstance(t, (int, float)):
            from livehead.animators.neural.tensor_filters import TensorOneEuro

            if key not in state.filters:
                state.filters[key] = TensorOneEuro(tensor)
            return state.filters[key].step(tensor, t, params)
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
