"""Live controls as data: one keymap table, one dispatcher, one pure state update.

The keymap maps a key name to an *action spec*: an action name from :data:`ACTIONS`, with a
1-based number for ``select_avatar`` (``"select_avatar:3"``). Everything that shows keys to the
user — the help overlay, the calibration prompt — is generated from that table, so the docs and
the behaviour cannot drift apart (avatarify's hand-written help list did).

Flow: a key arrives (``cv2.waitKeyEx`` code from the preview window, or a pynput key name from
:class:`GlobalHotkeys`) → :class:`Dispatcher` turns it into a :class:`Command` and hands it to
``post`` (the pipeline's queue) → between frames the pipeline calls :func:`apply` and carries out
the returned effects. Nothing here blocks, draws or touches a camera.

Convention: key names are lower case: single characters (``"x"``, ``"1"``) or the pynput names
in :data:`NAMED_KEYS` (``"esc"``, ``"space"``, ``"left"``, ``"f1"``). Letters are matched
case-insensitively, so Shift+X is X.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from livehead.config import ControlsConfig
from livehead.config.schema import EYE_MODES, LIP_MODES
from livehead.errors import LiveHeadError

__all__ = [
    "ACTIONS",
    "DEFAULT_KEYMAP",
    "EFFECTS",
    "NAMED_KEYS",
    "Action",
    "Command",
    "ControlState",
    "Dispatcher",
    "GlobalHotkeys",
    "apply",
    "build_keymap",
    "help_rows",
    "help_text",
    "keys_for",
    "modifiers_label",
    "normalize_key",
    "parse_action",
]

log = logging.getLogger(__name__)

MIN_ZOOM = 1.0  # the whole camera frame
MAX_ZOOM = 4.0  # a quarter of the frame width; tighter crops leave MediaPipe too few pixels


@dataclass(frozen=True)
class Action:
    """What an action name means to the user; ``{n}`` in the help is the avatar number."""

    help: str
    takes_number: bool = False


# Order here is the order of the help overlay.
ACTIONS: dict[str, Action] = {
    "select_avatar": Action("select avatar {n}", takes_number=True),
    "prev_avatar": Action("previous avatar"),
    "next_avatar": Action("next avatar"),
    "reload_avatars": Action("reload the avatars folder"),
    "calibrate": Action("calibrate: your current pose becomes neutral"),
    "passthrough": Action("passthrough: send your real camera (toggle)"),
    "freeze": Action("freeze the current frame (toggle)"),
    "mirror": Action("mirror the output (toggle)"),
    "zoom_in": Action("zoom the camera crop in"),
    "zoom_out": Action("zoom the camera crop out"),
    "ghost_down": Action("avatar ghost overlay fainter"),
    "ghost_up": Action("avatar ghost overlay stronger"),
    "eyes_mode": Action("eyes: follow / retarget / open (liveportrait, cycle)"),
    "lips_mode": Action("lips: follow / retarget / closed (liveportrait, cycle)"),
    "landmarks": Action("landmark overlay (toggle)"),
    "stats": Action("stats overlay: fps, stage ms, engine (toggle)"),
    "help": Action("this help (toggle)"),
    "quit": Action("quit"),
}
UNBIND = "none"  # keymap value that removes a default binding

DEFAULT_KEYMAP: dict[str, str] = {
    **{str(n): f"select_avatar:{n}" for n in range(1, 10)},
    "a": "prev_avatar",
    "d": "next_avatar",
    "l": "reload_avatars",
    "x": "calibrate",
    "0": "passthrough",
    "p": "freeze",
    "m": "mirror",
    "w": "zoom_in",
    "s": "zoom_out",
    "z": "ghost_down",
    "c": "ghost_up",
    "e": "eyes_mode",
    "t": "lips_mode",
    "o": "landmarks",
    "i": "stats",
    "h": "help",
    "q": "quit",
    "esc": "quit",
}

# pynput's ``Key`` member names, which we also use as our own spellings.
NAMED_KEYS: frozenset[str] = frozenset(
    ["esc", "space", "enter", "tab", "backspace", "delete", "insert", "home", "end", "page_up", "page_down",
     "up", "down", "left", "right"] + [f"f{n}" for n in range(1, 13)]
)
_KEY_ALIASES = {
    "escape": "esc", "return": "enter", "del": "delete", "ins": "insert", "pageup": "page_up",
    "pagedown": "page_down", "pgup": "page_up", "pgdn": "page_down", "bksp": "backspace", " ": "space",
}
_ASCII_NAMES = {27: "esc", 13: "enter", 10: "enter", 32: "space", 9: "tab", 8: "backspace", 127: "backspace"}
# cv2.waitKeyEx codes of keys without an ASCII code: GTK/Qt on Linux (X keysyms), Win32, Cocoa.
_WAITKEYEX_NAMES = {
    65361: "left", 65362: "up", 65363: "right", 65364: "down", 65360: "home", 65367: "end",
    65365: "page_up", 65366: "page_down", 65535: "delete", 65379: "insert",
    2424832: "left", 2490368: "up", 2555904: "right", 2621440: "down", 2359296: "home", 2293760: "end",
    2162688: "page_up", 2228224: "page_down", 3014656: "delete", 2949120: "insert",
    63234: "left", 63232: "up", 63235: "right", 63233: "down",
    **{65469 + n: f"f{n}" for n in range(1, 13)},
    **{7340032 + 65536 * (n - 1): f"f{n}" for n in range(1, 13)},
}


def normalize_key(key: str | int | None) -> str | None:
    """Canonical key name, or ``None`` for "no key" and keys we have no name for.

    Accepts ``cv2.waitKeyEx`` codes (``-1`` = no key), characters, and pynput names with or
    without the ``Key.`` prefix. Pass ``waitKeyEx`` rather than ``waitKey`` codes: ``waitKey``
    keeps only the low byte, so on Linux the Left arrow (0xFF51) arrives as ``ord('Q')``.

    >>> normalize_key(ord("X")), normalize_key(27), normalize_key("Key.esc"), normalize_key(-1)
    ('x', 'esc', 'esc', None)
    """
    if key is None:
        return None
    if isinstance(key, bool):
        raise TypeError(f"key must be a str or an int key code, got {key!r}")
    if isinstance(key, int):
        if key < 0:
            return None
        if key in _ASCII_NAMES:
            return _ASCII_NAMES[key]
        if 33 <= key <= 126:
            return chr(key).lower()
        return _WAITKEYEX_NAMES.get(key)
    if not isinstance(key, str):
        raise TypeError(f"key must be a str or an int key code, got {type(key).__name__} {key!r}")
    if len(key) == 1:
        if key == " ":
            return "space"
        if key.isprintable():
            return key.lower()
        return _ASCII_NAMES.get(ord(key))
    name = key.strip().lower()
    if name.startswith("key."):
        name = name[4:]
    name = _KEY_ALIASES.get(name, name)
    if len(name) == 1 or name in NAMED_KEYS:
        return name
    return None


@dataclass(frozen=True)
class Command:
    """One user request, posted by the dispatcher and applied between frames.

    ``argument`` is the **0-based** avatar index for ``select_avatar`` (the keymap's
    ``"select_avatar:1"`` is index 0) and ``None`` for every other action.
    """

    action: str
    argument: int | None = None


def _closest(word: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def parse_action(spec: str) -> Command:
    """Turn a keymap value into a :class:`Command`: ``"calibrate"``, ``"select_avatar:3"``.

    Raises :class:`LiveHeadError` naming the closest valid action for a typo.
    """
    if not isinstance(spec, str):
        raise LiveHeadError(f"Keymap action must be a string such as \"calibrate\", got {spec!r}.")
    name, sep, number = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in ACTIONS:
        valid = ", ".join(list(ACTIONS) + [UNBIND])
        raise LiveHeadError(f"Unknown action {spec!r}.{_closest(name, ACTIONS)} Valid actions: {valid}.")
    action = ACTIONS[name]
    if action.takes_number:
        if not sep or not number.strip().isdigit() or int(number) < 1:
            raise LiveHeadError(f"Action {spec!r} needs an avatar number from 1, e.g. \"{name}:3\".")
        return Command(name, int(number) - 1)
    if sep:
        raise LiveHeadError(f"Action {name!r} takes no number; write \"{name}\" instead of {spec!r}.")
    return Command(name)


def _canonical_spec(command: Command) -> str:
    return command.action if command.argument is None else f"{command.action}:{command.argument + 1}"


def build_keymap(
    overrides: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    base: Mapping[str, str] = DEFAULT_KEYMAP,
) -> dict[str, str]:
    """The effective keymap: ``base`` (the defaults) with ``overrides`` applied.

    ``overrides`` is the config's ``[controls] keymap`` (a mapping or ``(key, action)`` pairs);
    an action of ``"none"`` unbinds the key. Keys and actions are validated and normalised;
    an unknown key name or action raises :class:`LiveHeadError` naming the closest valid one.
    """
    items = list(overrides.items() if isinstance(overrides, Mapping) else (overrides or ()))
    keymap: dict[str, str] = {}
    for source, pairs in (("default keymap", list(base.items())), ("keymap", items)):
        for raw_key, spec in pairs:
            key = normalize_key(raw_key) if isinstance(raw_key, str) else None
            if key is None:
                hint = _closest(str(raw_key).lower(), sorted(NAMED_KEYS))
                raise LiveHeadError(
                    f"Unknown key {raw_key!r} in the {source}.{hint} Use a single character (\"x\", \"1\") "
                    f"or one of: {', '.join(sorted(NAMED_KEYS))}."
                )
            if isinstance(spec, str) and spec.strip().lower() == UNBIND:
                keymap.pop(key, None)
                continue
            keymap[key] = _canonical_spec(parse_action(spec))
    return keymap


def keys_for(keymap: Mapping[str, str], action: str) -> list[str]:
    """Display names of the keys bound to ``action`` (any argument), in keymap order."""
    return [_display_key(k) for k, spec in keymap.items() if spec.partition(":")[0] == action]


def _display_key(key: str) -> str:
    if len(key) == 1:
        return key.upper()
    return {"esc": "Esc", "page_up": "PgUp", "page_down": "PgDn"}.get(key, key.capitalize())


def help_rows(keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(keys, description)`` rows for the help overlay, generated from ``keymap`` alone.

    One row per action in :data:`ACTIONS` order; avatar keys whose key equals their number and
    run consecutively collapse to one ``"1-9"`` row.
    """
    by_action: dict[str, list[tuple[str, int | None]]] = {}
    for key, spec in keymap.items():
        command = parse_action(spec)
        by_action.setdefault(command.action, []).append((key, command.argument))
    rows: list[tuple[str, str]] = []
    for name, action in ACTIONS.items():
        bound = by_action.get(name)
        if not bound:
            continue
        if not action.takes_number:
            rows.append((" / ".join(_display_key(k) for k, _ in bound), action.help))
            continue
        bound.sort(key=lambda pair: pair[1])
        numbers = [arg + 1 for _, arg in bound]
        digits_match = all(k == str(n) for (k, _), n in zip(bound, numbers))
        if len(bound) > 2 and digits_match and numbers == list(range(numbers[0], numbers[-1] + 1)):
            rows.append((f"{numbers[0]}-{numbers[-1]}", action.help.format(n=f"{numbers[0]}-{numbers[-1]}")))
        else:
            rows += [(_display_key(k), action.help.format(n=n)) for (k, _), n in zip(bound, numbers)]
    return rows


def help_text(keymap: Mapping[str, str], *, global_modifiers: str = "") -> str:
    """Plain-text help (for the terminal and ``--help``), from the same rows as the overlay."""
    rows = help_rows(keymap)
    width = max((len(k) for k, _ in rows), default=0)
    lines = [f"{keys:<{width}}  {text}" for keys, text in rows]
    if global_modifiers:
        lines.append(f"(while another app has focus: hold {modifiers_label(global_modifiers)} with the key)")
    return "\n".join(lines)


def modifiers_label(modifiers: str) -> str:
    """``"ctrl+alt"`` → ``"Ctrl+Alt"`` for display; raises :class:`LiveHeadError` for unknown names."""
    return "+".join(m.capitalize() for m in _parse_modifiers(modifiers))


class Dispatcher:
    """Turns key presses into :class:`Command` s for ``post``.

    ``keymap`` is a validated table from :func:`build_keymap` (it is re-validated here, so a
    hand-built table fails at construction, not at the first key press). ``post`` must not
    block: it is called from the preview loop and from the global-hotkey thread.
    """

    def __init__(self, keymap: Mapping[str, str], post: Callable[[Command], None]) -> None:
        self.keymap = build_keymap(keymap, base={})
        self._commands = {key: parse_action(spec) for key, spec in self.keymap.items()}
        self._post = post

    @classmethod
    def from_config(cls, controls: ControlsConfig, post: Callable[[Command], None]) -> Dispatcher:
        """The dispatcher for ``config.controls``: default keymap plus the config's bindings."""
        return cls(build_keymap(controls.keymap), post)

    def command_for(self, key: str | int | None) -> Command | None:
        """The command bound to ``key``, or ``None`` for unbound and unknown keys."""
        name = normalize_key(key)
        return None if name is None else self._commands.get(name)

    def handle_key(self, key: str | int | None) -> bool:
        """Post the command bound to ``key``; return whether one was posted (unknown keys: False)."""
        command = self.command_for(key)
        if command is None:
            return False
        self._post(command)
        return True


# ---------------------------------------------------------------------------------------------
# State


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


# Effects :func:`apply` can return, and what the pipeline must do for each.
EFFECTS: dict[str, str] = {
    "calibrate": "take the current driver pose as the neutral reference and reset the smoothing filters",
    "reset_smoothing": "reset the smoothing filters (the driver crop changed, landmarks jump)",
    "select_avatar": "switch to avatar new_state.avatar_index (prepared in the background)",
    "engine_controls": "hand new_state.eyes / new_state.lips to the engine (Driving.extras)",
    "reload_avatars": "rescan the avatars folder in the background, then update num_avatars",
    "quit": "stop the pipeline and close every sink",
}

_TOGGLES = {
    "passthrough": "passthrough",
    "freeze": "frozen",
    "mirror": "mirror",
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
    raise LiveHeadError(f"Unknown action {action!r}.{_closest(action, ACTIONS)}")


# ---------------------------------------------------------------------------------------------
# Global hotkeys (optional pynput)

_MODIFIER_NAMES = {
    "ctrl": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl", "control": "ctrl",
    "alt": "alt", "alt_l": "alt", "alt_r": "alt", "alt_gr": "alt", "option": "alt",
    "shift": "shift", "shift_l": "shift", "shift_r": "shift",
    "cmd": "cmd", "cmd_l": "cmd", "cmd_r": "cmd", "super": "cmd", "win": "cmd",
}


def _parse_modifiers(text: str) -> tuple[str, ...]:
    names = [part.strip().lower() for part in text.replace("-", "+").split("+") if part.strip()]
    unknown = [n for n in names if n not in _MODIFIER_NAMES]
    if unknown:
        raise LiveHeadError(
            f"Unknown modifier {unknown[0]!r} in controls.global_modifiers = {text!r}."
            f"{_closest(unknown[0], _MODIFIER_NAMES)} Use e.g. \"ctrl+alt\" or \"\" for bare keys."
        )
    return tuple(dict.fromkeys(_MODIFIER_NAMES[n] for n in names))


def _pynput_key_name(key: Any) -> str | None:
    """Our key name for a pynput ``Key`` / ``KeyCode`` (duck-typed so tests need no pynput).

    With Ctrl held, Windows reports ``char`` as a control character (Ctrl+X = ``"\\x18"``) or
    ``None`` for digits; the virtual-key code (``vk``) still names the key.
    """
    char = getattr(key, "char", None)
    if char and len(char) == 1 and char.isprintable():
        return normalize_key(char)
    vk = getattr(key, "vk", None)
    if isinstance(vk, int) and (48 <= vk <= 57 or 65 <= vk <= 90):
        return chr(vk).lower()
    if char and len(char) == 1 and 1 <= ord(char) <= 26:
        return chr(ord(char) + 96)
    name = getattr(key, "name", None)
    return normalize_key(name) if isinstance(name, str) else None


def _display_available() -> tuple[bool, str]:
    if sys.platform.startswith("linux"):
        if os.environ.get("DISPLAY"):
            return True, ""
        if os.environ.get("WAYLAND_DISPLAY"):
            return False, "this is a Wayland session without an X display; pynput sees keys only under X11/XWayland"
        return False, "there is no display (DISPLAY is not set)"
    return True, ""


class GlobalHotkeys:
    """System-wide hotkeys through the optional ``pynput``, feeding the same :class:`Dispatcher`.

    Keys fire only while ``modifiers`` are held (default Ctrl+Alt), so typing in the meeting
    app's chat never switches avatars or quits. ``start()`` returns False — after logging the
    reason and the fix once — when pynput is missing or there is no display; it never raises
    for those. The preview window's keys keep working either way.
    """

    def __init__(self, dispatcher: Dispatcher, *, modifiers: str = "ctrl+alt") -> None:
        self.dispatcher = dispatcher
        self.modifiers = frozenset(_parse_modifiers(modifiers))
        self._held: set[str] = set()
        self._listener: Any = None
        self.unavailable_reason: str | None = None

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> bool:
        """Start listening; False (and a log line saying why and how to fix) if unavailable."""
        if self._listener is not None:
            return True
        ok, why = _display_available()
        if not ok:
            return self._unavailable(f"Global hotkeys are off: {why}. Keys still work in the preview window.")
        try:
            from pynput import keyboard
        except ImportError as exc:
            return self._unavailable(
                f"Global hotkeys are off: pynput is not usable ({exc}). Install it with "
                f"`pip install 'livehead[hotkeys]'` (needs a display). Keys still work in the preview window."
            )
        try:
            listener = keyboard.Listener(on_press=self._on_press, on_release=self._on_release)
            listener.daemon = True
            listener.start()
        except Exception as exc:  # pynput backends raise their own types (Xlib errors, OSError)
            return self._unavailable(
                f"Global hotkeys are off: pynput could not listen ({type(exc).__name__}: {exc}). "
                f"Keys still work in the preview window."
            )
        self._listener = listener
        combo = modifiers_label("+".join(sorted(self.modifiers))) if self.modifiers else "no modifier"
        log.info("Global hotkeys on (%s + key).", combo)
        return True

    def stop(self) -> None:
        """Stop listening; safe to call more than once and before ``start``."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            listener.join(timeout=1.0)
        self._held.clear()

    def __enter__(self) -> GlobalHotkeys:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _unavailable(self, message: str) -> bool:
        if self.unavailable_reason is None:
            log.warning(message)
        self.unavailable_reason = message
        return False

    def _on_press(self, key: Any) -> None:
        name = getattr(key, "name", None)
        if isinstance(name, str) and name in _MODIFIER_NAMES:
            self._held.add(_MODIFIER_NAMES[name])
            return
        if self.modifiers <= self._held:
            self.dispatcher.handle_key(_pynput_key_name(key))

    def _on_release(self, key: Any) -> None:
        name = getattr(key, "name", None)
        if isinstance(name, str) and name in _MODIFIER_NAMES:
            self._held.discard(_MODIFIER_NAMES[name])
