"""FOMM's graphs: ``kp_detector`` (per frame, also once on the avatar), ``source_encoder`` (per avatar), ``generator`` (per frame)."""

from __future__ import annotations

from torch import Tensor, nn

from livehead.runtime.graphs.contract import GraphBuilder, TensorSpec


class FommKeypoints(nn.Module):
    """FOMM KPDetector: image -> keypoints (and Jacobians)."""

    def __init__(self, kp_detector: nn.Module) -> None:
        super().__init__()
        self.kp_detector = kp_detector
        self.with_jacobian = getattr(kp_detector, "jacobian", None) is not None

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        kp = self.kp_detector(image)
        return (kp["value"], kp["jacobian"]) if self.with_jacobian else (kp["value"],)


class FommSourceEncoder(nn.Module):
    """FOMM per-avatar part of the generator (``encode_source``)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: Tensor) -> tuple[Tensor, Tensor]:
        encoding = self.generator.encode_source(source)
        return encoding.features, encoding.motion_source


class FommGenerator(nn.Module):
    """FOMM per-frame part: dense motion + warp + decoder (``decode``)."""

    def __init__(self, generator: nn.Module, with_jacobian: bool) -> None:
        super().__init__()
        self.generator = generator
        self.with_jacobian = with_jacobian

    def forward(self, *tensors: Tensor) -> tuple[Tensor]:
        from livehead.models.fomm import FommSourceEncoding

        if self.with_jacobian:
            features, motion_source, kp_s, jac_s, kp_d, jac_d = tensors
        else:
            (features, motion_source, kp_s, kp_d), jac_s, jac_d = tensors, None, None
        out = self.generator.decode(
            FommSourceEncoding(features, motion_source),
            {"value": kp_d, "jacobian": jac_d},
            {"value": kp_s, "jacobian": jac_s},
        )
        return (out["prediction"],)



def fomm_graphs(models, b: GraphBuilder) -> None:
    """Add FOMM's graphs for ``models`` (a fomm :class:`~livehead.models.ModelSet`) to ``b``."""
    kp = FommKeypoints(models.kp_detector)
    jac = kp.with_jacobian
    names = ["kp_value", "kp_jacobian"][: 2 if jac else 1]
    kp_spec = b.add("kp_detector", "per_frame", kp, [b.image("image")], names, names,
                    "keypoints (+ Jacobians) of an image")
    if getattr(models.generator, "dense_motion_network", None) is None:
        raise ValueError("FOMM export needs a generator with a dense-motion network (dense_motion_params)")
    enc = b.add("source_encoder", "per_avatar", FommSourceEncoder(models.generator), [b.image("source")],
                ["source_features", "motion_source"], ["feature", "image"], "per-avatar source encoding",
                produced_by="source_encoder")
    kv, kj = kp_spec.outputs[0].shape, (kp_spec.outputs[1].shape if jac else None)
    gen_inputs = [*enc.outputs, TensorSpec("kp_source_value", kv, "kp_value")]
    if jac:
        gen_inputs.append(TensorSpec("kp_source_jacobian", kj, "kp_jacobian"))
    gen_inputs.append(TensorSpec("kp_driving_value", kv, "kp_value"))
    if jac:
        gen_inputs.append(TensorSpec("kp_driving_jacobian", kj, "kp_jacobian"))
    # The dense-motion network stays fp32 in fp16 sets: its deformation field decides where every
    # feature is sampled, and fp16 rounding there (weights and activations alike) moved it by up to
    # 0.014 of the image and the picture by up to 0.38 (CPU emulation of CUDA autocast on calibrated
    # random weights; 0.25 measured on an H200). It is 6 % of the graph's multiply-adds; with it in
    # fp32 the picture stays within 0.007 of fp32.
    b.add("generator", "per_frame", FommGenerator(models.generator, jac), gen_inputs, ["prediction"], ["image"],
          "dense motion, warp, occlusion and decoder", fp32_modules=("generator.dense_motion_network",))
