"""Engines ``fomm`` and ``fv2v``: neural keypoint animators running their graphs on a runtime backend."""

from livehead.animators.neural.animator import FommAnimator, Fv2vAnimator

__all__ = ["FommAnimator", "Fv2vAnimator"]
