"""Value rules for every number and size a user can set: ranges, even output sizes, finite numbers.

One table, :data:`RULES` (dotted config key → rule), serves the config file, the ``livehead`` options
and the subcommands' own flags (``livehead demo --fps``, ``bench --camera-fps`` …), so a bad value
gets the same message wherever it was given. Types are checked before this (``config.loading``); a
rule only sees a value of the right type. ``livehead config`` refuses what ``livehead`` refuses,
because both load through :func:`livehead.config.loading.load_config`.

A rule's :meth:`problem` returns None for a good value, else what is allowed and what came in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from livehead.errors import LiveHeadError

__all__ = [
    "FPS", "MAX_OUTPUT_SIZE", "MIN_OUTPUT_SIZE", "RULES", "Range", "Rule", "Size", "check_flag", "problem",
    "value_message",
]

MIN_OUTPUT_SIZE = (16, 16)
MAX_OUTPUT_SIZE = (7680, 4320)  # 8K UHD: beyond it OpenCV asks for tens of GB before drawing a frame


class Rule(Protocol):
    """A check of one setting's value (:class:`Range`, :class:`Size`, :class:`Each`)."""
    def problem(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else "must be …; got …" (no key, no full stop)."""
        ...


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Range:
    """A finite number in [low, high] (either end optional); ``low_open`` excludes ``low`` itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    unit: str = ""  # shown after the bounds, e.g. "frames per second"

    def text(self) -> str:
        """The allowed values in words, e.g. "more than 0 and at most 240 frames per second"."""
        parts = []
        if self.low is not None:
            parts.append(f"{'more than' if self.low_open else 'at least'} {_number(self.low)}")
        if self.high is not None:
            parts.append(f"at most {_number(self.high)}")
        bounds = " and ".join(parts) or "a finite number"
        return f"{bounds} {self.unit}".rstrip()

    def problem(self, value: Any) -> str | None:
        """None when ``value`` is in range, else "must be …; got …" (NaN and infinities are refused)."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be {self.text()}; got {value}"
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            return f"must be {self.text()}; got {_number(value)}"
        return None


@dataclass(frozen=True)
class Size:
    """A (width, height) in pixels within [low, high] each way; ``even`` for H.264's 4:2:0 chroma planes."""

    low: tuple[int, int] = MIN_OUTPUT_SIZE
    high: tuple[int, int] = MAX_OUTPUT_SIZE
    even: bool = True

    def text(self) -> str:
        """The allowed sizes in words."""
        lo, hi = self.low, self.high
        return (f"between {lo[0]}x{lo[1]} and {hi[0]}x{hi[1]}" + (", width and height even" if self.even else ""))

    def problem(self, value: Any) -> str | None:
        """None when ``(w, h)`` is allowed, else "must be …; got WxH"."""
        w, h = value
        inside = self.low[0] <= w <= self.high[0] and self.low[1] <= h <= self.high[1]
        if not inside or (self.even and (w % 2 or h % 2)):
            return f"must be {self.text()}; got {w}x{h}"
        return None


@dataclass(frozen=True)
class Each:
    """Every item of a tuple obeys ``rule`` (the letterbox colour's channels)."""

    rule: Range

    def problem(self, value: Any) -> str | None:
        """None when every item obeys :attr:`rule`, else "must have every value …; got […]"."""
        for item in value:
            if self.rule.problem(item) is not None:
                return f"must have every value {self.rule.text()}; got {list(value)}"
        return None


FPS = Range(0, 240, low_open=True, unit="frames per second")
STRENGTH = Range(0, 3, unit="(1 = the driver's own amount, 0 = none)")
SECONDS = Range(0, 60, unit="seconds")
CUTOFF = Range(0, 100, low_open=True, unit="Hz")
CONFIDENCE = Range(0, 1)
STEP = Range(0, 1, low_open=True)

# Dotted config key → rule. Keys without a rule are free-form (paths, names) or checked by their
# owner when used (engine names by the engine registry, keymaps by ui.keymap, fv2v poses by fv2v).
RULES: dict[str, Rule] = {
    "capture.camera": Range(0, 63, unit="(a webcam index, see `livehead cameras`)"),
    "capture.width": Range(16, MAX_OUTPUT_SIZE[0], unit="pixels"),
    "capture.height": Range(16, MAX_OUTPUT_SIZE[1], unit="pixels"),
    "capture.fps": FPS,
    "tracking.min_detection_confidence": CONFIDENCE,
    "tracking.min_tracking_confidence": CONFIDENCE,
    "tracking.max_faces": Range(1, 10, unit="faces"),
    "tracking.lost_hold_s": SECONDS,
    "tracking.lost_ease_s": SECONDS,
    "smoothing.min_cutoff": CUTOFF,
    "smoothing.beta": Range(0, 1000),
    "smoothing.openness_min_cutoff": CUTOFF,
    "smoothing.d_cutoff": CUTOFF,
    "motion.pose_strength": STRENGTH,
    "motion.expression_strength": STRENGTH,
    "engine.crop_size": Range(64, 1024, unit="pixels"),
    "engine.grid_step": Range(2, 64, unit="pixels"),
    "output.size": Size(),
    "output.fps": FPS,
    "output.background": Each(Range(0, 255)),
    "controls.zoom_step": STEP,
    "controls.ghost_step": STEP,
}


def problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the config ``key`` (None when allowed or the key has no rule)."""
    rule = RULES.get(key)
    return None if rule is None or value is None else rule.problem(value)


def value_message(subject: str, trouble: str, example: str | None = None) -> str:
    """The one wording of a refused value: ``"<subject> must be …; got …. Example: …"``."""
    return f"{subject} {trouble}." + (f" Example: {example}" if example else "")


def check_flag(flag: str, value: Any, rule: Rule) -> Any:
    """A subcommand flag with no config key (``--frames``, ``--seconds``): ``value`` if ``rule`` allows it,
    else a :class:`LiveHeadError` (exit 2) worded like every other refused value."""
    trouble = rule.problem(value)
    if trouble:
        raise LiveHeadError(value_message(flag, trouble))
    return value
