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
    def render(self, state: NeuralState, driving: Driving) -> np.ndarray:
        amount = float(driving.extras.get("amount", 1.0))
        eyes = _check_mode("eyes", driving.extras.get("eyes", self.eyes), EYE_MODES)
        lips = _check_mode("lips", driving.extras.get("lips", self.lips), LIP_MODES)
        x_s = state.cache["x_s"]
        with self.torch.inference_mode():
            if driving.frame is None or driving.reference_frame is None:
                if state.last_motion is None:
                    return state.avatar.image.copy()
                # Face or camera lost: ease from the last keypoints back to the rest pose.
                x_d = lpk.apply_multiplier(state.cache["x_rest"], state.last_motion, amount)
            else:
                if driving.reference_id != state.reference_id:
                    self._calibrate(state, driving)
                info = self._driver_motion(state, driving)
                x_d = self._keypoints(state, info, driving.observation, eyes, lips)
                state.last_motion = x_d
            prediction = self.runner.run("generator", {"feature_3d": state.cache["feature_3d"], "kp_source": x_s,
                                                       "kp_driving": x_d})["prediction"]
        result = to_image(prediction)
        scale = np.diag([self.output_size / self.crop_size] * 2)
        return face.paste_back(state.avatar.image, result, scale @ state.box, self._mask)

    @staticmethod
    def _driver_box(observation: FaceObservation) -> np.ndarray:
        """``(cx, cy, side)`` of the driver's crop (not rotated: the head's roll must reach M)."""
        centre, side, _ = face.crop_rect(observation.landmarks, face.DRIVING_CROP)
        return np.array([centre[0], centre[1], side])

    def _calibrate(self, state: NeuralState, driving: Driving) -> None:
        """The calibration frame becomes the reference of the relative motion (the reference's frame 0)."""
        box = self._driver_box(driving.reference)
        crop = face.warp_crop(driving.reference_frame, face.crop_matrix(box[:2], box[2], 0.0, self.crop_size),
                              self.crop_size)
        motion = self.runner.run("motion_extractor", {"image": to_tensor(crop, self.device)})
        state.reference = {"info": lpk.refine_motion(motion), "eye": max(face.eye_ratios(driving.reference.landmarks))}
        state.reference_id = driving.reference_id
        state.filters = {}
        state.driver_box = None

    def _driver_motion(self, state: NeuralState, driving: Driving) -> lpk.KeypointInfo:
        """M on the driver's crop, with One Euro on the box, the angles and the expression/t/scale."""
        box = self._driver_box(driving.observation)
        box, state.driver_box = one_euro_step(state.driver_box, box, driving.timestamp, BOX_SMOOTHING, scale=box[2])
        crop = face.warp_crop(driving.frame, face.crop_matrix(box[:2], box[2], 0.0, self.crop_size), self.crop_size)
        info = lpk.refine_motion(self.runner.run("motion_extractor", {"image": to_tensor(crop, self.device)}))
        t = driving.timestamp
        angles = self._smooth(state, "angles", info.angles, t, ANGLE_SMOOTHING)
        return lpk.KeypointInfo(
            pitch=angles[:, 0:1], yaw=angles[:, 1:2], roll=angles[:, 2:3],
            t=self._smooth(state, "t", info.t, t, KP_SMOOTHING),
            exp=self._smooth(state, "exp", info.exp, t, KP_SMOOTHING),
            scale=self._smooth(state, "scale", info.scale, t, KP_SMOOTHING),
            kp=info.kp,
        )

    def _keypoints(self, state: NeuralState, info: lpk.KeypointInfo, observation: FaceObservation, eyes: str,
                   lips: str):
        """Driving keypoints x_d ``(1, K, 3)``: relative motion, retargeting, stitching."""
        torch = self.torch
        cache = state.cache
        source = lpk.refine_motion(cache["motion"])
        x_s = cache["x_s"]
        rotation = None
        if self.fixed_pose is not None:
            yaw, pitch, roll = (torch.tensor([v], dtype=torch.float32, device=x_s.device) for v in self.fixed_pose)
            rotation = lpk.get_rotation_matrix(pitch, yaw, roll)
        frozen = (lpk.EYE_KEYPOINTS if eyes != "follow" else ()) + (lpk.LIP_KEYPOINTS if lips != "follow" else ())
        motion = lpk.relative_motion(source, info, state.reference["info"], rotation=rotation,
                                     expression_strength=self.expression_strength, frozen=frozen)
        x_d = motion.x_d
        # Retargeting offsets live in the source's keypoint space; scale them like the face.
        ratio = (motion.scale / source.scale)[:, :, None]
        if eyes != "follow":
            left = face.eye_ratios(observation.landmarks)[0]  # the reference reads the driver's left eye only
            target = left if eyes == "retarget" else max(float(cache["eyes"].max()), state.reference["eye"])
            ratio_in = lpk.eye_ratio_input(cache["eyes"], torch.tensor([target], device=x_s.device))
            x_d = x_d + ratio * self.runner.run("retarget_eye", {"kp_source": x_s, "eye_ratio": ratio_in})["delta"]
        if lips != "follow":
            target = face.lip_ratio(observation.landmarks) if lips == "retarget" else 0.0
            ratio_in = lpk.lip_ratio_input(cache["lip"], torch.tensor([target], device=x_s.device))
            x_d = x_d + ratio * self.runner.run("retarget_lip", {"kp_source": x_s, "lip_ratio": ratio_in})["delta"]
        return self.runner.run("stitching", {"kp_source": x_s, "kp_driving": x_d})["kp_stitched"]


def _check_mode(what: str, mode: str, modes: tuple[str, ...]) -> str:
    if mode not in modes:
        raise LiveHeadError(f"--{what} must be one of {', '.join(modes)}; got {mode!r}.")
    return mode
