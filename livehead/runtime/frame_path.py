"""The per-avatar / per-frame call sequence of each engine over a runner.

This is what an animator does with a runner (and what the GPU benchmark times): per avatar, run
the per-avatar graphs and cache their outputs; per frame, run the driving keypoint graph, the
relative-motion math of :mod:`livehead.models.keypoints` in torch, then the generator graph.
Relative motion follows the demos: FOMM ``use_relative_movement`` + ``use_relative_jacobian``,
face-vid2vid ``use_relative_movement`` with the source's canonical keypoints for every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class AvatarCache:
    """Per-avatar tensors the per-frame step reuses: the source encoding and keypoints."""
    encoding: dict[str, Tensor]  # outputs of source_encoder
    kp_source: dict[str, Tensor | None]
    kp_driving_initial: dict[str, Tensor | None]
    kp_canonical: dict[str, Tensor | None] | None = None  # face-vid2vid only


class FramePath:
    """``prepare(source, driving_initial)`` once, then ``step(driving) -> prediction``.

    Images are ``(1, 3, S, S)`` float32 in [0, 1] on any device; the prediction is on
    ``runner.device``.
    """

    def __init__(self, runner, engine: str, *, adapt_movement_scale: bool = False) -> None:
        if engine not in ("fomm", "fv2v"):
            raise ValueError(f"engine must be 'fomm' or 'fv2v', got {engine!r}")
        self.runner = runner
        self.engine = engine
        self.adapt = adapt_movement_scale
        self.cache: AvatarCache | None = None
        self._scale: float | None = None

    def _fomm_kp(self, image: Tensor) -> dict[str, Tensor | None]:
        out = self.runner.run("kp_detector", {"image": image})
        return {"value": out["kp_value"], "jacobian": out.get("kp_jacobian")}

    def _fv2v_kp(self, image: Tensor, kp_canonical) -> dict[str, Tensor | None]:
        from livehead.models.keypoints import keypoint_transformation

        he = self.runner.run("he_estimator", {"image": image})
        return keypoint_transformation(kp_canonical, he)

    def prepare(self, source: Tensor, driving_initial: Tensor) -> AvatarCache:
        from livehead.models.keypoints import movement_scale

        encoding = self.runner.run("source_encoder", {"source": source})
        if self.engine == "fomm":
            kp_s, kp_d0, kp_c = self._fomm_kp(source), self._fomm_kp(driving_initial), None
        else:
            kp_c = {"value": self.runner.run("kp_detector", {"image": source})["kp_canonical"], "jacobian": None}
            kp_s, kp_d0 = self._fv2v_kp(source, kp_c), self._fv2v_kp(driving_initial, kp_c)
        self._scale = movement_scale(kp_s["value"].cpu(), kp_d0["value"].cpu()) if self.adapt else 1.0
        self.cache = AvatarCache(encoding, kp_s, kp_d0, kp_c)
        return self.cache

    @torch.inference_mode()
    def step(self, driving: Tensor) -> Tensor:
        from livehead.models.keypoints import normalize_kp

        c = self.cache
        if c is None:
            raise RuntimeError("FramePath.step before prepare")
        if self.engine == "fomm":
            kp_d = self._fomm_kp(driving)
            jac = kp_d["jacobian"] is not None
            kp = normalize_kp(c.kp_source, kp_d, c.kp_driving_initial, use_relative_movement=True,
                              use_relative_jacobian=jac, scale=self._scale)
            inputs = {**c.encoding, "kp_source_value": c.kp_source["value"], "kp_driving_value": kp["value"]}
            if jac:
                inputs |= {"kp_source_jacobian": c.kp_source["jacobian"], "kp_driving_jacobian": kp["jacobian"]}
        else:
            kp_d = self._fv2v_kp(driving, c.kp_canonical)
            kp = normalize_kp(c.kp_source, kp_d, c.kp_driving_initial, use_relative_movement=True,
                              use_relative_jacobian=False, scale=self._scale)
            inputs = {**c.encoding, "kp_source": c.kp_source["value"], "kp_driving": kp["value"]}
        return self.runner.run("generator", inputs)["prediction"]
