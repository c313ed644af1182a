"""Engine ``fv2v``: face-vid2vid behind the Animator interface, with free-view pose."""

from __future__ import annotations

from typing import Any, ClassVar

from livehead.animators.neural.base import ANGLE_SMOOTHING, KP_SMOOTHING, NeuralAnimator, parse_pose

__all__ = ["Fv2vAnimator"]


class Fv2vAnimator(NeuralAnimator):
    """face-vid2vid: canonical 3D keypoints, head pose and expression, 3D feature-volume warp.

    ``pose``: ``follow`` (the driver's head pose), ``frontal`` (0, 0, 0), or ``"yaw,pitch,roll"``
    degrees (free view); expression follows the driver in every mode.
    """

    name: ClassVar[str] = "fv2v"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fixed_pose = parse_pose(self.pose)

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
