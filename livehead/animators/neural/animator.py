"""Engines ``fomm`` and ``fv2v``: neural keypoint animators behind the Animator interface.

Per avatar (``prepare``): a stable square crop around the face, resized to the network input,
then everything that does not depend on the driver — source keypoints and the generator's source
encoding (FOMM features; face-vid2vid appearance volume, canonical keypoints, source pose).
Per frame (``render``): crop the driver around its tracked face (the crop box is smoothed), detect
keypoints, express them relative to the calibration frame (FOMM ``normalize_kp`` with relative
Jacobians; face-vid2vid relative rotation/translation/expression), smooth them (One Euro), run the
generator, and paste the 256² result back into the full photo with a feathered, colour-matched mask.

The networks live in ``livehead.models``; this module only orchestrates them and never falls back
silently: the device, backend and precision in use are logged once and returned by ``describe``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import numpy as np

from livehead.config import SmoothingConfig
from livehead.errors import LiveHeadError
from livehead.stages.smoothing import OneEuroState, one_euro_step
from livehead.types import FaceObservation
from livehead.animators.base import AvatarImage, Driving

log = logging.getLogger(__name__)

__all__ = ["Fv2vAnimator", "FommAnimator", "face_crop_box", "paste_back"]

CROP_SCALE = 1.9  # crop side / landmark-box side: the vox datasets frame the whole head with some hair
CROP_LIFT = 0.12  # move the crop up by this share of its side: landmarks start at the brows
KP_SMOOTHING = SmoothingConfig(min_cutoff=1.5, beta=2.0, d_cutoff=1.0)  # keypoints live in [-1, 1]
ANGLE_SMOOTHING = SmoothingConfig(min_cutoff=1.0, beta=0.05, d_cutoff=1.0)  # degrees
BOX_SMOOTHING = SmoothingConfig(min_cutoff=0.5, beta=0.5, d_cutoff=1.0)


def face_crop_box(face: FaceObservation, image_size: tuple[int, int]) -> np.ndarray:
    """Square crop (cx, cy, side) in pixels around a face; may extend past the image (padded later)."""
    x0, y0, x1, y1 = face.box
    side = CROP_SCALE * max(x1 - x0, y1 - y0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1) - CROP_LIFT * side
    return np.array([cx, cy, side], dtype=np.float64)


def _crop_matrix(box: np.ndarray, size: int) -> np.ndarray:
    """2×3 affine: image pixels → crop pixels (``size``²)."""
    cx, cy, side = box
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]])


def crop(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 crop; outside the image the border is replicated."""
    return cv2.warpAffine(image, _crop_matrix(box, size), (size, size), flags=cv2.INTER_AREA if box[2] > size else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _feather_mask(size: int) -> np.ndarray:
    """(size, size) float32 in [0, 1]: 1 in the middle, fading to 0 over the outer ~12 %."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / (0.12 * size), 0.0, 1.0)
    mask = np.outer(ramp, ramp).astype(np.float32)
    return mask * mask * (3 - 2 * mask)


def paste_back(avatar: np.ndarray, result: np.ndarray, box: np.ndarray, source_crop: np.ndarray) -> np.ndarray:
    """Put the generated crop back into the full avatar photo.

    Colour matching: the network shifts colours slightly; the per-channel mean difference between
    the generated and the source crop, measured where the mask fades (mostly background and hair),
    is removed before blending, so the seam disappears.
    """
    size = result.shape[0]
    mask = _feather_mask(size)
    ring = (mask > 0.05) & (mask < 0.6)
    shift = source_crop[ring].astype(np.float32).mean(0) - result[ring].astype(np.float32).mean(0)
    corrected = np.clip(result.astype(np.float32) + shift, 0, 255)
    h, w = avatar.shape[:2]
    inverse = cv2.invertAffineTransform(_crop_matrix(box, size))
    warped = cv2.warpAffine(corrected, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    out = alpha * warped + (1.0 - alpha) * avatar.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _tree(value, fn):
    """Apply ``fn`` to every tensor in nested dicts (None and numbers pass through)."""
    if isinstance(value, dict):
        return {k: _tree(v, fn) for k, v in value.items()}
    return fn(value) if hasattr(value, "detach") else value


def _to_tensor(image: np.ndarray, device: str):
    import torch

    return torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _to_image(tensor) -> np.ndarray:
    arr = tensor[0].float().permute(1, 2, 0).cpu().numpy()
    if not np.all(np.isfinite(arr)):
        raise FloatingPointError("the generator produced non-finite values")
    return np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)


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


class _NeuralAnimator:
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
            state.cache = self._encode(_to_tensor(source_crop, self.device))
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
                    state.reference = self._reference(state, _to_tensor(ref_crop, self.device))
                    state.reference_id = driving.reference_id
                    state.filters = {}
                    state.driver_box = None
                driver = self._driver_crop(state, driving.frame, driving.observation, driving.timestamp)
                motion = self._motion(state, _to_tensor(driver, self.device), driving.timestamp)
                state.last_motion = motion
            prediction = self._generate(state, motion)
        result = _to_image(prediction)
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


class FommAnimator(_NeuralAnimator):
    """First Order Motion Model (vox-256): 10 keypoints with Jacobians, 2D warp of encoder features.

    Graphs (see ``livehead.export.graphs``): ``kp_detector``, ``source_encoder``, ``generator``.
    """

    name: ClassVar[str] = "fomm"

    def _keypoints(self, image):
        out = self.runner.run("kp_detector", {"image": image})
        return {"value": out["kp_value"], "jacobian": out.get("kp_jacobian")}

    def _encode(self, source):
        return {"kp_source": self._keypoints(source), "encoding": self.runner.run("source_encoder", {"source": source})}

    def _reference(self, state, reference):
        from livehead.models.keypoints import movement_scale

        kp_initial = self._keypoints(reference)
        scale = movement_scale(state.cache["kp_source"]["value"], kp_initial["value"]) if self.adapt_scale else 1.0
        return {"kp_initial": kp_initial, "scale": scale}

    def _motion(self, state, driver, t):
        from livehead.models.keypoints import normalize_kp

        kp_driving = self._keypoints(driver)
        kp_driving = {"value": self._smooth(state, "value", kp_driving["value"], t, KP_SMOOTHING),
                      "jacobian": self._smooth(state, "jacobian", kp_driving.get("jacobian"), t, KP_SMOOTHING)}
        ref = state.reference
        return normalize_kp(state.cache["kp_source"], kp_driving, ref["kp_initial"], use_relative_movement=True,
                            use_relative_jacobian=kp_driving["jacobian"] is not None,
                            scale=ref["scale"] * self.expression_strength)

    def _ease(self, state, amount):
        src = state.cache["kp_source"]
        last = state.last_motion
        out = {"value": src["value"] + amount * (last["value"] - src["value"]), "jacobian": None}
        if last.get("jacobian") is not None:
            out["jacobian"] = src["jacobian"] + amount * (last["jacobian"] - src["jacobian"])
        return out

    def _generate(self, state, motion):
        src = state.cache["kp_source"]
        inputs = {**state.cache["encoding"], "kp_source_value": src["value"], "kp_driving_value": motion["value"]}
        if motion.get("jacobian") is not None:
            inputs |= {"kp_source_jacobian": src["jacobian"], "kp_driving_jacobian": motion["jacobian"]}
        return self.runner.run("generator", inputs)["prediction"]


class Fv2vAnimator(_NeuralAnimator):
    """face-vid2vid: canonical 3D keypoints, head pose and expression, 3D feature-volume warp.

    ``pose``: ``follow`` (the driver's head pose), ``frontal`` (0, 0, 0), or ``"yaw,pitch,roll"``
    degrees (free view); expression follows the driver in every mode.
    """

    name: ClassVar[str] = "fv2v"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fixed_pose = _parse_pose(self.pose)

    def _encode(self, source):
        from livehead.models.keypoints import keypoint_transformation

        kp_canonical = {"value": self.runner.run("kp_detector", {"image": source})["kp_canonical"], "jacobian": None}
        he_source = self.runner.run("he_estimator", {"image": source})
        return {
            "kp_canonical": kp_canonical,
            "kp_source": keypoint_transformation(kp_canonical, he_source),
            "encoding": self.runner.run("source_encoder", {"source": source}),
        }

    def _reference(self, state, reference):
        from livehead.models.keypoints import keypoint_transformation, movement_scale

        he = self.runner.run("he_estimator", {"image": reference})
        kp_initial = keypoint_transformation(state.cache["kp_canonical"], he)
        scale = movement_scale(state.cache["kp_source"]["value"], kp_initial["value"]) if self.adapt_scale else 1.0
        return {"he": he, "kp_initial": kp_initial, "scale": scale}

    def _motion(self, state, driver, t):
        from livehead.models.keypoints import headpose_pred_to_degree, keypoint_transformation, normalize_kp

        he = self.runner.run("he_estimator", {"image": driver})
        angles = self.torch.stack([headpose_pred_to_degree(he[k]) for k in ("yaw", "pitch", "roll")], -1)  # (1, 3)
        angles = self._smooth(state, "angles", angles, t, ANGLE_SMOOTHING)
        ref = state.reference
        if self.fixed_pose is not None:
            # Free view: the driver's pose change is replaced by a fixed pose on both sides of the
            # relative motion, so only expression (and translation) move the avatar.
            yaw, pitch, roll = self.fixed_pose
            ref_kp = keypoint_transformation(state.cache["kp_canonical"], ref["he"], yaw=yaw, pitch=pitch, roll=roll)
        else:
            yaw, pitch, roll = (angles[:, i] for i in range(3))
            ref_kp = ref["kp_initial"]
        exp = ref["he"]["exp"] + self.expression_strength * (he["exp"] - ref["he"]["exp"])
        he_driving = {**he, "exp": self._smooth(state, "exp", exp, t, KP_SMOOTHING),
                      "t": self._smooth(state, "t", he["t"], t, KP_SMOOTHING)}
        kp_driving = keypoint_transformation(state.cache["kp_canonical"], he_driving, yaw=yaw, pitch=pitch, roll=roll)
        return normalize_kp(state.cache["kp_source"], kp_driving, ref_kp, use_relative_movement=True,
                            scale=ref["scale"])

    def _ease(self, state, amount):
        src = state.cache["kp_source"]
        return {"value": src["value"] + amount * (state.last_motion["value"] - src["value"]), "jacobian": None}

    def _generate(self, state, motion):
        inputs = {**state.cache["encoding"], "kp_source": state.cache["kp_source"]["value"], "kp_driving": motion["value"]}
        return self.runner.run("generator", inputs)["prediction"]


def _parse_pose(text: str) -> tuple[float, float, float] | None:
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
