"""What ``livehead eval`` compares: the requested engines and the ``still`` baseline.

``still`` (the avatar photo unchanged) runs next to every engine, so each number has a floor to
beat. Engines that cannot run here (missing checkpoint, not written yet, a failing ``prepare``)
are listed as unavailable with the reason instead of ending the evaluation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from livehead.animators.base import AvatarImage, Driving
from livehead.config import LiveHeadConfig, with_overrides

log = logging.getLogger(__name__)

__all__ = ["NO_SMOOTHING", "STILL", "Method", "StillAnimator", "prepare_state", "resolve_engines"]

STILL = "still"
NO_SMOOTHING = " (no smoothing)"  # suffix of the method name of an engine run with smoothing off


@dataclass
class _StillState:
    avatar: AvatarImage


class StillAnimator:
    """Baseline engine: the avatar photo, unchanged. What a static picture scores on each metric."""

    name: ClassVar[str] = STILL

    def prepare(self, avatar: AvatarImage) -> _StillState:
        return _StillState(avatar)

    def render(self, state: _StillState, driving: Driving) -> np.ndarray:
        return state.avatar.image

    def describe(self) -> dict[str, str]:
        return {"engine": STILL, "backend": "none", "device": "cpu", "precision": "-",
                "detail": "baseline: the avatar photo, unchanged"}


@dataclass
class Method:
    """One line of the results: an engine, with smoothing on or off."""

    name: str  # "still", "mesh", "mesh (no smoothing)", …
    engine: str
    animator: Any
    smoothing: bool


def resolve_engines(names: tuple[str, ...], config: LiveHeadConfig) -> tuple[list[Method], dict[str, dict]]:
    """Build every requested engine; the ones that cannot run here are reported with the reason.

    Returns ``(methods, report)``: ``still`` first, then each engine that was built; ``report`` maps
    every name (``still`` included) to ``{"available", "reason", "describe"}``.
    """
    from livehead.animators import animator_from_config

    methods = [Method(STILL, STILL, StillAnimator(), True)]
    report: dict[str, dict] = {STILL: {"available": True, "reason": None, "describe": StillAnimator().describe()}}
    for name in names:
        if name == STILL:
            continue
        try:
            animator = animator_from_config(with_overrides(config, {"engine.engine": name}))
        except Exception as exc:  # an engine that is missing or unfinished must not end the evaluation
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("Engine %s unavailable: %s", name, reason)
            report[name] = {"available": False, "reason": reason, "describe": None}
            continue
        report[name] = {"available": True, "reason": None, "describe": dict(animator.describe())}
        methods.append(Method(name, name, animator, True))
    return methods, report


def prepare_state(method: Method, avatar: AvatarImage, report: dict[str, dict]) -> Any | None:
    """A fresh prepared avatar for one run; a failing ``prepare`` marks the engine unavailable.

    Fresh for every run, never shared: engines may cache driver-side work in the state keyed by
    ``Driving.reference_id``, which restarts at 1 with every new ``FrameProcessor``, so a state
    reused with another clip could keep the previous clip's calibration.
    """
    if report[method.engine]["available"] is False:
        return None
    try:
        return method.animator.prepare(avatar)
    except Exception as exc:  # e.g. a neural engine without its checkpoint: report it, keep going
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("Engine %s cannot prepare %s: %s", method.engine, avatar.name, reason)
        report[method.engine].update(available=False, reason=reason)
        return None
