"""LivePortrait (Guo et al. 2024, KwaiVGI/LivePortrait): the five networks and their keypoint math.

One network per module, each named after its paper symbol and keyed like the official files so
they load with ``strict=True``:

* :class:`AppearanceFeatureExtractor` (F, ``appearance_feature_extractor.pth``): source image -> feature volume f_s;
* :class:`MotionExtractor` (M, ``motion_extractor.pth``): image -> canonical keypoints, pose, expression, t, scale;
* :class:`WarpingNetwork` (W, ``warping_module.pth``): warps f_s from the source to the driving keypoints;
* :class:`SPADEDecoder` (G, ``spade_generator.pth``): warped features -> image at twice the input size;
* :class:`StitchingRetargetingModule` (S, ``stitching_retargeting_module.pth``): the stitching, lip and eye MLPs.

:mod:`.keypoints` holds the pose decoding, Eq. 2, relative motion, stitching and retargeting as
pure functions.
"""

from livehead.models.liveportrait.appearance_feature_extractor import AppearanceFeatureExtractor
from livehead.models.liveportrait.motion_extractor import MotionExtractor
from livehead.models.liveportrait.spade_generator import SPADEDecoder
from livehead.models.liveportrait.stitching_retargeting import StitchingRetargetingModule, StitchingRetargetingNetwork
from livehead.models.liveportrait.warping_network import WarpingNetwork

__all__ = [
    "AppearanceFeatureExtractor",
    "MotionExtractor",
    "SPADEDecoder",
    "StitchingRetargetingModule",
    "StitchingRetargetingNetwork",
    "WarpingNetwork",
]
