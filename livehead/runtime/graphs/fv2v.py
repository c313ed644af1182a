"""face-vid2vid's graphs: ``kp_detector`` (canonical keypoints, per avatar), ``he_estimator`` (per frame),
``source_encoder`` (appearance volume, per avatar), ``generator`` (per frame)."""

from __future__ import annotations

from torch import Tensor, nn

from livehead.runtime.graphs.contract import GraphBuilder, TensorSpec


class Fv2vCanonicalKeypoints(nn.Module):
    """face-vid2vid KPDetector: image -> canonical 3D keypoints."""

    def __init__(self, kp_detector: nn.Module) -> None:
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image: Tensor) -> tuple[Tensor]:
        return (self.kp_detector(image)["value"],)


class Fv2vHeadPose(nn.Module):
    """face-vid2vid HEEstimator: image -> pose logits, translation, expression."""

    def __init__(self, he_estimator: nn.Module) -> None:
        super().__init__()
        self.he_estimator = he_estimator

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        he = self.he_estimator(image)
        return he["yaw"], he["pitch"], he["roll"], he["t"], he["exp"]


class Fv2vSourceEncoder(nn.Module):
    """face-vid2vid per-avatar appearance volume (``encode_source``)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: Tensor) -> tuple[Tensor]:
        return (self.generator.encode_source(source),)


class Fv2vGenerator(nn.Module):
    """face-vid2vid per-frame part: 3D dense motion + warp + SPADE decoder (``decode``)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, feature_3d: Tensor, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor]:
        out = self.generator.decode(feature_3d, {"value": kp_driving, "jacobian": None},
                                    {"value": kp_source, "jacobian": None})
        return (out["prediction"],)



def fv2v_graphs(models, b: GraphBuilder) -> None:
    """Add face-vid2vid's graphs for ``models`` (an fv2v :class:`~livehead.models.ModelSet`) to ``b``."""
    b.add("kp_detector", "per_avatar", Fv2vCanonicalKeypoints(models.kp_detector), [b.image("image")],
          ["kp_canonical"], ["kp_value"], "canonical 3D keypoints of the avatar")
    b.add("he_estimator", "per_frame", Fv2vHeadPose(models.he_estimator), [b.image("image")],
          ["yaw", "pitch", "roll", "t", "exp"], ["logits", "logits", "logits", "vector", "vector"],
          "head pose bins (reference names), translation, expression")
    enc = b.add("source_encoder", "per_avatar", Fv2vSourceEncoder(models.generator), [b.image("source")],
                ["feature_3d"], ["feature"], "per-avatar appearance volume", produced_by="source_encoder")
    k = b.graphs["kp_detector"].outputs[0].shape
    # The dense-motion hourglass stays fp32 in fp16 sets: in fp16 its rounding moved the deformation
    # of the feature volume enough to change the picture by up to 0.085 (CPU emulation of CUDA
    # autocast, calibrated random weights); with it in fp32, 0.033. The whole dense-motion network
    # in fp32 would give 0.005 but is half of the graph's multiply-adds (the 7x7x7 mask head alone
    # 40 GMAC), the hourglass a quarter.
    b.add("generator", "per_frame", Fv2vGenerator(models.generator),
          [*enc.outputs, TensorSpec("kp_source", k, "kp_value"), TensorSpec("kp_driving", k, "kp_value")],
          ["prediction"], ["image"], "3D dense motion, warp, occlusion and SPADE decoder",
          fp32_modules=("generator.dense_motion_network.hourglass",))
