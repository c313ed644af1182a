"""Engine ``fomm``: First Order Motion Model behind the Animator interface."""

from __future__ import annotations

from typing import ClassVar

from livehead.animators.neural.base import KP_SMOOTHING, NeuralAnimator

__all__ = ["FommAnimator"]


class FommAnimator(NeuralAnimator):
    """First Order Motion Model (vox-256): 10 keypoints with Jacobians, 2D warp of encoder features.

    Graphs (see :mod:`livehead.runtime.graphs.fomm`): ``kp_detector``, ``source_encoder``, ``generator``.
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


