"""Engines ``fomm`` and ``fv2v``: neural keypoint animators running their graphs on a runtime backend.

``crop`` (face crop and paste-back), ``base`` (what they share), one module per engine.
"""

from livehead.animators.neural.fomm import FommAnimator
from livehead.animators.neural.fv2v import Fv2vAnimator

__all__ = ["FommAnimator", "Fv2vAnimator"]
