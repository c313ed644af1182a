"""Live controls: what the user has switched (:class:`ControlState`), one pure update (:func:`apply`)
and the table of effects the pipeline carries out (:data:`EFFECTS`, :func:`carry_out`).

A :class:`~livehead.ui.keymap.Command` from the dispatcher is applied between frames: ``apply``
returns the new state and effect names; ``carry_out`` calls the pipeline's method of the same
name for each, so adding a control means adding an action (keymap), a case in ``apply`` and, if
it needs the pipeline, an effect here and a method there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from livehead.config.schema import EYE_MODES, LIP_MODES
from livehead.errors import LiveHeadError
from livehead.ui.keymap import ACTIONS, Command, closest_hint

__all__ = ["EFFECTS", "ControlState", "ControlTarget", "apply", "carry_out"]

MIN_ZOOM = 1.0  # the whole camera frame
MAX_ZOOM = 4.0  # a quarter of the frame width; tighter crops leave MediaPipe too few pixels


@dataclass(frozen=True)
class ControlState:
    """What the controls have set; the pipeline holds one and replaces it via :func:`apply`.

    ``zoom`` is the driver-crop magnification: the tracker sees the central ``1/zoom`` of the
    camera frame (1.0 = whole frame). ``num_avatars`` is kept current by the pipeline
    (``dataclasses.replace(state, num_avatars=n)`` after each library load) so that next /
    previous can wrap and out-of-range numbers are ignored.
    """

    calibrated: bool = False
    passthrough: bool = False
    frozen: bool = False
    mirror: bool = False
    zoom: float = 1.0
    ghost_opacity: float = 0.0
    show_landmarks: bool = False
    show_stats: bool = False
    show_help: bool = False
    avatar_index: int = 0
    num_avatars: int = 0
    running: bool = True
    eyes: str = "follow"  # liveportrait eye mode (EYE_MODES); starts at the config's engine.eyes
    lips: str = "follow"  # liveportrait lip mode (LIP_MODES)

    @property
    def needs_calibration(self) -> bool:
        """Show the "Look at the camera and press X" prompt."""
        return not self.calibrated


class ControlTarget(Protocol):
    """What carries out the effects: one method per :data:`EFFECTS` name, each given the new state."""

    def calibrate(self, state: ControlState) -> None: ...
    def reset_smoothing(self, state: ControlState) -> None: ...
    def select_avatar(self, state: ControlState) -> None: ...
    def reload_avatars(self, state: ControlState) -> None: ...
    def engine_controls(self, state: ControlState) -> None: ...
    def mirror(self, state: ControlState) -> None: ...
    def quit(self, state: ControlState) -> None: ...


# Effects :func:`apply` can return: the name of the ControlTarget method to call, and what it must do.
EFFECTS: dict[str, str] = {
    "calibrate": "take the current driver pose as the neutral reference and reset the smoothing filters",
    "reset_smoothing": "reset the smoothing filters (the driver crop changed, landmarks jump)",
    "select_avatar": "switch to avatar state.avatar_index (prepared in the background)",
    "reload_avatars": "rescan the avatars folder in the background, then update num_avatars",
    "engine_controls": "hand state.eyes / state.lips to the engine (Driving.extras)",
    "mirror": "flip the output left-right when state.mirror is set",
    "quit": "stop the pipeline and close every sink",
}


def carry_out(target: ControlTarget, state: ControlState, effects: tuple[str, ...]) -> None:
    """Call ``target.<effect>(state)`` for each effect, in order."""
    for effect in effects:
        if effect not in EFFECTS:
            raise LiveHeadError(f"Unknown control effect {effect!r}; known: {', '.join(EFFECTS)}")
        getattr(target, effect)(state)


_TOGGLES = {
    "passthrough": "passthrough",
    "freeze": "frozen",
    "landmarks": "show_landmarks",
    "stats": "show_stats",
    "help": "show_help",
}


def _clamp(value: float, low: float, high: float) -> float:
    # round: repeated ±0.1 steps must land on 1.3, not 1.3000000000000003
    return round(min(max(value, low), high), 6)


def apply(
    state: ControlState,
    command: Command,
    *,
    zoom_step: float = 0.1,
    ghost_step: float = 0.1,
) -> tuple[ControlState, tuple[str, ...]]:
    """Apply one command: return the new state and the effects (names in :data:`EFFECTS`).

    Pure: no I/O, ``state`` is not modified. An unknown action raises :class:`LiveHeadError`;
    requests that cannot be met (avatar 7 of 3, next avatar with none loaded) change nothing.
    """
    action = command.action
    replace = dataclasses.replace
    if action in _TOGGLES:
        field_name = _TOGGLES[action]
        return replace(state, **{field_name: not getattr(state, field_name)}), ()
    if action == "mirror":
        return replace(state, mirror=not state.mirror), ("mirror",)
    if action == "calibrate":
        return replace(state, calibrated=True), ("calibrate",)
    if action == "select_avatar":
        index = command.argument
        if index is None or not 0 <= index < state.num_avatars or index == state.avatar_index:
            return state, ()
        return replace(state, avatar_index=index), ("select_avatar",)
    if action in ("prev_avatar", "next_avatar"):
        if state.num_avatars < 2:
            return state, ()
        step = 1 if action == "next_avatar" else -1
        return replace(state, avatar_index=(state.avatar_index + step) % state.num_avatars), ("select_avatar",)
    if action == "reload_avatars":
        return state, ("reload_avatars",)
    if action in ("zoom_in", "zoom_out"):
        step = zoom_step if action == "zoom_in" else -zoom_step
        zoom = _clamp(state.zoom + step, MIN_ZOOM, MAX_ZOOM)
        return (replace(state, zoom=zoom), ("reset_smoothing",)) if zoom != state.zoom else (state, ())
    if action in ("ghost_down", "ghost_up"):
        step = ghost_step if action == "ghost_up" else -ghost_step
        return replace(state, ghost_opacity=_clamp(state.ghost_opacity + step, 0.0, 1.0)), ()
    if action in ("eyes_mode", "lips_mode"):
        field_name, modes = ("eyes", EYE_MODES) if action == "eyes_mode" else ("lips", LIP_MODES)
        current = getattr(state, field_name)
        following = modes[(modes.index(current) + 1) % len(modes)] if current in modes else modes[0]
        return replace(state, **{field_name: following}), ("engine_controls",)
    if action == "quit":
        return replace(state, running=False), ("quit",)
    raise LiveHeadError(f"Unknown action {action!r}.{closest_hint(action, ACTIONS)}")
