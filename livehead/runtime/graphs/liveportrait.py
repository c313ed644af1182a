"""LivePortrait's graphs (the split FasterLivePortrait deploys, with W and G fused as there):

======================================  ==========  ============================================================
graph                                   stage       inputs -> outputs (S = crop size, K = 21 keypoints)
======================================  ==========  ============================================================
``appearance_feature_extractor`` (F)    per_avatar  ``source`` (1,3,S,S) -> ``feature_3d`` (1,C,D,S/4,S/4)
``motion_extractor`` (M)                per_frame   ``image`` (1,3,S,S) -> ``pitch``, ``yaw``, ``roll`` (1,66)
                                                    logits, ``t`` (1,3), ``exp`` (1,3K), ``scale`` (1,1),
                                                    ``kp`` (1,3K)  (also run on the avatar and the calibration frame)
``stitching`` (S)                       per_frame   ``kp_source``, ``kp_driving`` (1,K,3) -> ``kp_stitched`` (1,K,3)
``retarget_eye`` (S)                    per_frame   ``kp_source`` (1,K,3), ``eye_ratio`` (1,3) -> ``delta`` (1,K,3)
``retarget_lip`` (S)                    per_frame   ``kp_source`` (1,K,3), ``lip_ratio`` (1,2) -> ``delta`` (1,K,3)
``generator`` (W + G)                   per_frame   ``feature_3d``, ``kp_source``, ``kp_driving`` -> ``prediction``
                                                    (1,3,2S,2S) in [0, 1]
======================================  ==========  ============================================================

Pose decoding, Eq. 2 and the relative motion (:mod:`livehead.models.liveportrait.keypoints`) run in
torch between graphs, as FasterLivePortrait does on the host. In an fp16 set the motion extractor
and the three MLPs stay fp32 (FasterLivePortrait builds M in fp32 because fp16 overflows there, and
the MLPs are negligible); F and the generator run in fp16 with fp32 islands.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from livehead.errors import InputError
from livehead.models.liveportrait import keypoints as lpk
from livehead.runtime.graphs.contract import GraphBuilder, TensorSpec

MOTION_OUTPUTS = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")


class LpAppearance(nn.Module):
    """F: source image -> appearance feature volume."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, source: Tensor) -> tuple[Tensor]:
        return (self.extractor(source),)


class LpMotion(nn.Module):
    """M: image -> the seven raw heads, in :data:`MOTION_OUTPUTS` order."""

    def __init__(self, motion_extractor: nn.Module) -> None:
        super().__init__()
        self.motion_extractor = motion_extractor

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        out = self.motion_extractor(image)
        return tuple(out[name] for name in MOTION_OUTPUTS)


class LpStitching(nn.Module):
    """Stitching MLP applied to the driving keypoints (:func:`~livehead.models.liveportrait.keypoints.stitch`)."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor]:
        return (lpk.stitch(self.mlp, kp_source, kp_driving),)


class LpRetarget(nn.Module):
    """Eye or lip retargeting MLP: keypoint offsets (:func:`~livehead.models.liveportrait.keypoints.retarget`)."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, kp_source: Tensor, ratio: Tensor) -> tuple[Tensor]:
        return (lpk.retarget(self.mlp, kp_source, ratio),)


class LpGenerator(nn.Module):
    """W then G: warp the cached volume to the driving keypoints and decode the image."""

    def __init__(self, warping_module: nn.Module, spade_generator: nn.Module) -> None:
        super().__init__()
        self.warping_module = warping_module
        self.spade_generator = spade_generator

    def forward(self, feature_3d: Tensor, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor]:
        warped = self.warping_module(feature_3d, kp_driving, kp_source)["out"]  # (1, C, S/4, S/4)
        return (self.spade_generator(warped),)


def liveportrait_graphs(models, b: GraphBuilder) -> None:
    """Add LivePortrait's graphs for ``models`` (a liveportrait :class:`~livehead.models.ModelSet`) to ``b``.

    Raises:
        InputError: the image size does not divide by M's stride (32) and by what W's hourglass
            halves (4 * 2**num_blocks: 128 for the public model).
    """
    blocks = len(models.warping_module.dense_motion_network.hourglass.encoder.down_blocks)
    multiple = math.lcm(32, 4 * 2**blocks)
    if b.image_size % multiple:
        raise InputError(f"LivePortrait ({blocks} hourglass blocks) needs a crop size divisible by {multiple}; "
                         f"got {b.image_size}: set engine.crop_size (or build_engines.py --size) to a multiple of it.")
    enc = b.add("appearance_feature_extractor", "per_avatar", LpAppearance(models.appearance_feature_extractor),
                [b.image("source")], ["feature_3d"], ["feature"], "per-avatar appearance feature volume f_s",
                produced_by="appearance_feature_extractor")
    motion = b.add("motion_extractor", "per_frame", LpMotion(models.motion_extractor), [b.image("image")],
                   list(MOTION_OUTPUTS), ["logits", "logits", "logits", "vector", "vector", "vector", "vector"],
                   "pose bin logits, translation, expression, scale, canonical keypoints")
    k = motion.outputs[MOTION_OUTPUTS.index("kp")].shape[1] // 3
    kp = (1, k, 3)
    s = models.stitching_retargeting_module
    b.add("stitching", "per_frame", LpStitching(s.stitching),
          [TensorSpec("kp_source", kp, "kp_value"), TensorSpec("kp_driving", kp, "kp_value")],
          ["kp_stitched"], ["kp_value"], "driving keypoints plus the stitching offsets")
    eye_inputs = s.eye.input_size - 3 * k
    lip_inputs = s.lip.input_size - 3 * k
    b.add("retarget_eye", "per_frame", LpRetarget(s.eye),
          [TensorSpec("kp_source", kp, "kp_value"), TensorSpec("eye_ratio", (1, eye_inputs), "vector")],
          ["delta"], ["vector"], "eye-opening offsets from [c_s_left, c_s_right, c_d]")
    b.add("retarget_lip", "per_frame", LpRetarget(s.lip),
          [TensorSpec("kp_source", kp, "kp_value"), TensorSpec("lip_ratio", (1, lip_inputs), "vector")],
          ["delta"], ["vector"], "lip-opening offsets from [c_s_lip, c_d_lip]")
    b.add("generator", "per_frame", LpGenerator(models.warping_module, models.spade_generator),
          [*enc.outputs, TensorSpec("kp_source", kp, "kp_value"), TensorSpec("kp_driving", kp, "kp_value")],
          ["prediction"], ["image"], "warping module and SPADE decoder")
