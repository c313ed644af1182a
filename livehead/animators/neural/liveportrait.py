"""Engine ``liveportrait``: LivePortrait (KwaiVGI) behind the Animator interface.

Per avatar (``prepare``): LivePortrait's source crop of the photo (rotated so the eyes are level;
:mod:`.liveportrait_face`), then everything that does not depend on the driver: the appearance
volume f_s (F), the source's motion (M: canonical keypoints, pose, expression, t, scale), its
keypoints x_s (Eq. 2) and its eye/lip opening ratios.

Per frame (``render``), the original CLI's defaults: crop the driver (LivePortrait's driving-crop
scale, One Euro-smoothed box), run M, smooth the angles, expression, translation and scale (One
Euro), relative motion against the calibration frame (:func:`~livehead.models.liveportrait.keypoints.relative_motion`),
optional eye/lip retargeting, stitching, then W + G at twice the crop size and paste back into the
photo through the inverse crop transform.

Two frame paths (:mod:`.base`): OpenCV/NumPy on the host (``frame_path="arrays"``, the default on
the CPU), or on the engine's device (``"tensor"``, the default on CUDA; :mod:`.liveportrait_gpu`):
one upload of the driver frame, the crop, M, the One Euro filters on angles / expression / t /
scale, relative motion, retargeting, stitching, W + G, paste-back and composition on the device,
one download of the output. Both share the hooks below; the driver crop's box is filtered on the
host in both (three numbers, and the crop's supersampling depends on it).

Controls:

* ``pose``: ``follow`` | ``frontal`` | ``"yaw,pitch,roll"`` degrees (replaces the relative rotation);
* ``expression_strength``: scales the driver's expression change;
* ``eyes``: ``follow`` (the driver's expression moves them) | ``retarget`` (the eye MLP sets their
  opening to the driver's eye ratio) | ``open`` (kept at least as open as in the photo or at calibration);
* ``lips``: ``follow`` | ``retarget`` (the lip MLP sets the driver's lip ratio) | ``closed``.

Retargeting freezes the expression of the eye (or lip) keypoints at the source's and adds the
retargeting offsets, scaled like the rest of the face; the head pose keeps following the driver.
(The reference's offline retargeting instead discards all driving motion, a mode for editing a
still photo, not for live use.) ``Driving.extras["eyes"|"lips"]`` switch the modes per frame
(hotkeys).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.animators.neural import liveportrait_face as face
from livehead.animators.neural.base import (
    ANGLE_SMOOTHING,
    BOX_SMOOTHING,
    KP_SMOOTHING,
    NeuralAnimator,
    NeuralState,
    parse_pose,
)
from livehead.animators.neural.crop import to_image, to_tensor
from livehead.config.schema import EYE_MODES, LIP_MODES
from livehead.errors import CheckpointError, LiveHeadError
from livehead.models.liveportrait import keypoints as lpk
from livehead.stages.smoothing import one_euro_step
from livehead.types import FaceObservation

log = logging.getLogger(__name__)

__all__ = ["LivePortraitAnimator"]


class LivePortraitAnimator(NeuralAnimator):
    """LivePortrait: 21 implicit 3D keypoints, stitching, eye/lip retargeting; output 2x the crop size.

    Graphs (:mod:`livehead.runtime.graphs.liveportrait`): ``appearance_feature_extractor``,
    ``motion_extractor``, ``stitching``, ``retarget_eye``, ``retarget_lip``, ``generator``.
    """

    name: ClassVar[str] = "liveportrait"
    controls: ClassVar[tuple[str, ...]] = ("eyes", "lips")  # Driving.extras keys it reads (hotkeys)

    def __init__(self, *, eyes: str = "follow", lips: str = "follow", **kwargs: Any) -> None:
        self.eyes = _check_mode("eyes", eyes, EYE_MODES)
        self.lips = _check_mode("lips", lips, LIP_MODES)
        super().__init__(**kwargs)
        num_kp = self.runner.graphs["stitching"].inputs[0].shape[1]
        needed = max(lpk.EYE_KEYPOINTS + lpk.LIP_KEYPOINTS) + 1
        if num_kp < needed:  # the original code's eye/lip keypoint indices are fixed
            raise CheckpointError(
                f"This LivePortrait checkpoint has {num_kp} keypoints; the liveportrait engine needs at least "
                f"{needed} (its eye and lip retargeting use keypoints {lpk.EYE_KEYPOINTS} and {lpk.LIP_KEYPOINTS}, "
                "as the original code does). Use the official weights (`livehead models`) or a model config "
                "with num_kp >= " + str(needed) + "."
            )
        self.fixed_pose = parse_pose(self.pose)
        self._rotation = None  # the fixed pose's R (1, 3, 3), made once: a captured step creates no tensors
        if self.fixed_pose is not None:
            yaw, pitch, roll = (self.torch.tensor([v], dtype=self.torch.float32, device=self.device)
                                for v in self.fixed_pose)
            self._rotation = lpk.get_rotation_matrix(pitch, yaw, roll)
        self.output_size = self.runner.graphs["generator"].outputs[0].shape[-1]
        self._mask = face.paste_mask(self.output_size)

    def describe(self) -> dict[str, str]:
        info = super().describe()
        info["detail"] += f", eyes {self.eyes}, lips {self.lips}, pose {self.pose}"
        return info

    # ---- per avatar ----------------------------------------------------------------------
    def prepare(self, avatar: AvatarImage) -> NeuralState:
        centre, side, angle = face.crop_rect(avatar.face.landmarks, face.SOURCE_CROP)
        matrix = face.crop_matrix(centre, side, angle, self.crop_size)
        source_crop = face.warp_crop(avatar.image, matrix, self.crop_size)
        state = NeuralState(avatar=avatar, box=matrix, source_crop=source_crop)
        with self.torch.inference_mode():
            state.cache = self._encode(to_tensor(source_crop, self.device), avatar.face)
        return state

    def load_state(self, avatar: AvatarImage, path) -> NeuralState:
        """Tensors only (``weights_only=True``): a cache file can never run code."""
        data = self.torch.load(path, map_location=self.device, weights_only=True)
        matrix = data["box"].numpy()
        return NeuralState(avatar=avatar, box=matrix, source_crop=face.warp_crop(avatar.image, matrix, self.crop_size),
                           cache=data["cache"])

    def _encode(self, source, avatar_face: FaceObservation) -> dict[str, Any]:
        motion = self.runner.run("motion_extractor", {"image": source})
        x_s = lpk.transform_keypoint(lpk.refine_motion(motion))
        left, right = face.eye_ratios(avatar_face.landmarks)
        return {
            "feature_3d": self.runner.run("appearance_feature_extractor", {"source": source})["feature_3d"],
            "motion": motion,
            "x_s": x_s,
            # What a driver at its calibration pose renders (stitching is not the identity on x_s):
            # the rest pose the face eases back to when it is lost.
            "x_rest": self.runner.run("stitching", {"kp_source": x_s, "kp_driving": x_s})["kp_stitched"],
            "eyes": self.torch.tensor([[left, right]], dtype=self.torch.float32, device=x_s.device),
            "lip": self.torch.tensor([[face.lip_ratio(avatar_face.landmarks)]], dtype=self.torch.float32,
                                     device=x_s.device),
        }

    # ---- per frame -----------------------------------------------------------------------
    def modes(self, driving: Driving) -> tuple[str, str]:
        """This frame's (eyes, lips) modes: the hotkeys' ``Driving.extras`` or the engine's own."""
        return (_check_mode("eyes", driving.extras.get("eyes", self.eyes), EYE_MODES),
                _check_mode("lips", driving.extras.get("lips", self.lips), LIP_MODES))

    def render(self, state: NeuralState, driving: Driving) -> np.ndarray:
        if self.tensor_path:
            from livehead.animators.neural.gpu_path import Layout

            return self._gpu(state).render(driving, Layout())
        amount = float(driving.extras.get("amount", 1.0))
        eyes, lips = self.modes(driving)
        with self.torch.inference_mode():
            if driving.frame is None or driving.reference_frame is None:
                if state.last_motion is None:
                    return state.avatar.image.copy()
                motion = self._ease(state, amount)  # face or camera lost: ease back to the rest pose
            else:
                if driving.reference_id != state.reference_id:
                    self._calibrate(state, driving)
                matrix = self.driver_crop_matrix(state, driving.observation, driving.timestamp)
                crop = face.warp_crop(driving.frame, matrix, self.crop_size)
                info = self._driver_motion(state, to_tensor(crop, self.device), driving.timestamp)
                motion = {"x_d": self._keypoints(state, info, eyes, lips, self.driver_ratios(driving.observation))}
                state.last_motion = motion
            prediction = self._generate(state, motion)
        result = to_image(prediction)
        scale = np.diag([self.output_size / self.crop_size] * 2)
        return face.paste_back(state.avatar.image, result, scale @ state.box, self._mask)

    def _gpu(self, state: NeuralState):
        if state.gpu is None:
            from livehead.animators.neural.liveportrait_gpu import LivePortraitFramePath

            state.gpu = LivePortraitFramePath(self, state, capture=self.capture, box_smoothing=BOX_SMOOTHING)
        return state.gpu

    @staticmethod
    def _driver_box(observation: FaceObservation) -> np.ndarray:
        """``(cx, cy, side)`` of the driver's crop (not rotated: the head's roll must reach M)."""
        centre, side, _ = face.crop_rect(observation.landmarks, face.DRIVING_CROP)
        return np.array([centre[0], centre[1], side])

    def reference_crop_matrix(self, observation: FaceObservation) -> np.ndarray:
        """The calibration frame's crop matrix (2x3, frame pixels → crop pixels; not smoothed)."""
        box = self._driver_box(observation)
        return face.crop_matrix(box[:2], box[2], 0.0, self.crop_size)

    def driver_crop_matrix(self, state: NeuralState, observation: FaceObservation, t: float) -> np.ndarray:
        """This frame's driver crop matrix, its box One Euro-filtered on the host (both frame paths)."""
        box = self._driver_box(observation)
        box, state.driver_box = one_euro_step(state.driver_box, box, t, BOX_SMOOTHING, scale=box[2])
        return face.crop_matrix(box[:2], box[2], 0.0, self.crop_size)

    @staticmethod
    def driver_ratios(observation: FaceObservation) -> np.ndarray:
        """``(2,)`` float32: the driver's image-left eye opening (the reference reads that eye only) and
        lip opening, the retargeting targets."""
        return np.array([face.eye_ratios(observation.landmarks)[0], face.lip_ratio(observation.landmarks)],
                        dtype=np.float32)

    def _calibrate(self, state: NeuralState, driving: Driving) -> None:
        """The calibration frame becomes the reference of the relative motion (the reference's frame 0)."""
        crop = face.warp_crop(driving.reference_frame, self.reference_crop_matrix(driving.reference), self.crop_size)
        state.reference = self._reference(state, to_tensor(crop, self.device), driving.reference)
        state.reference_id = driving.reference_id
        state.filters = {}
        state.driver_box = None

    def _reference(self, state: NeuralState, crop, observation: FaceObservation) -> dict[str, Any]:
        """M's decoded motion of the calibration crop (a dict of tensors, so the tensor path can keep it in
        buffers) and the calibration frame's wider eye opening (eyes ``open``)."""
        info = lpk.refine_motion(self._run("motion_extractor", {"image": crop}))
        fields = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")
        eye = self.torch.tensor(max(face.eye_ratios(observation.landmarks)), dtype=self.torch.float32,
                                device=crop.device)
        return {"info": {k: getattr(info, k) for k in fields}, "eye": eye}

    def _driver_motion(self, state: NeuralState, crop, t) -> lpk.KeypointInfo:
        """M on the driver's crop ``(1, 3, S, S)`` in [0, 1], with One Euro on the angles and the
        expression/t/scale (``t``: a timestamp, or a FilterClock on the tensor path)."""
        info = lpk.refine_motion(self._run("motion_extractor", {"image": crop}))
        angles = self._smooth(state, "angles", info.angles, t, ANGLE_SMOOTHING)
        return lpk.KeypointInfo(
            pitch=angles[:, 0:1], yaw=angles[:, 1:2], roll=angles[:, 2:3],
            t=self._smooth(state, "t", info.t, t, KP_SMOOTHING),
            exp=self._smooth(state, "exp", info.exp, t, KP_SMOOTHING),
            scale=self._smooth(state, "scale", info.scale, t, KP_SMOOTHING),
            kp=info.kp,
        )

    def _ease(self, state: NeuralState, amount) -> dict[str, Any]:
        """From the last keypoints back to the rest pose (``amount`` 1 → 0, a float or a 0-d tensor)."""
        return {"x_d": lpk.apply_multiplier(state.cache["x_rest"], state.last_motion["x_d"], amount)}

    def _generate(self, state: NeuralState, motion: dict[str, Any]):
        return self._run("generator", {"feature_3d": state.cache["feature_3d"], "kp_source": state.cache["x_s"],
                                       "kp_driving": motion["x_d"]})["prediction"]

    def _keypoints(self, state: NeuralState, info: lpk.KeypointInfo, eyes: str, lips: str, ratios):
        """Driving keypoints x_d ``(1, K, 3)``: relative motion, retargeting, stitching.

        ``ratios``: the driver's (eye, lip) opening, :meth:`driver_ratios` as a ``(2,)`` float32
        tensor on the device (NumPy on the arrays path).
        """
        torch = self.torch
        cache = state.cache
        source = lpk.refine_motion(cache["motion"])
        x_s = cache["x_s"]
        if not isinstance(ratios, torch.Tensor):
            ratios = torch.from_numpy(ratios).to(x_s.device)
        frozen = (lpk.EYE_KEYPOINTS if eyes != "follow" else ()) + (lpk.LIP_KEYPOINTS if lips != "follow" else ())
        motion = lpk.relative_motion(source, info, lpk.KeypointInfo(**state.reference["info"]), rotation=self._rotation,
                                     expression_strength=self.expression_strength, frozen=frozen)
        x_d = motion.x_d
        # Retargeting offsets live in the source's keypoint space; scale them like the face.
        ratio = (motion.scale / source.scale)[:, :, None]
        if eyes != "follow":
            target = ratios[0:1] if eyes == "retarget" else torch.maximum(cache["eyes"].max(), state.reference["eye"])
            ratio_in = lpk.eye_ratio_input(cache["eyes"], target.reshape(1))
            x_d = x_d + ratio * self._run("retarget_eye", {"kp_source": x_s, "eye_ratio": ratio_in})["delta"]
        if lips != "follow":
            target = ratios[1:2] if lips == "retarget" else torch.zeros_like(ratios[1:2])
            ratio_in = lpk.lip_ratio_input(cache["lip"], target)
            x_d = x_d + ratio * self._run("retarget_lip", {"kp_source": x_s, "lip_ratio": ratio_in})["delta"]
        return self._run("stitching", {"kp_source": x_s, "kp_driving": x_d})["kp_stitched"]


def _check_mode(what: str, mode: str, modes: tuple[str, ...]) -> str:
    if mode not in modes:
        raise LiveHeadError(f"--{what} must be one of {', '.join(modes)}; got {mode!r}.")
    return mode
