"""The keymap as data: action names, key names, the default bindings, parsing, help text, the dispatcher.

The keymap maps a key name to an *action spec*: an action name from :data:`ACTIONS`, with a
1-based number for ``select_avatar`` (``"select_avatar:3"``). Everything that shows keys to the
user — the help overlay, the calibration prompt, ``livehead config`` — is generated from that
table, so the docs and the behaviour cannot drift apart (avatarify's hand-written help list did).

Flow: a key arrives (``cv2.waitKeyEx`` code from the preview window, or a pynput key name from
:class:`livehead.ui.hotkeys.GlobalHotkeys`) → :class:`Dispatcher` turns it into a :class:`Command`
and hands it to ``post`` (the pipeline's queue) → between frames the pipeline applies it with
:func:`livehead.ui.controls.apply`. Nothing here blocks, draws or touches a camera.

Convention: key names are lower case: single characters (``"x"``, ``"1"``) or the pynput names
in :data:`NAMED_KEYS` (``"esc"``, ``"space"``, ``"left"``, ``"f1"``). Letters are matched
case-insensitively, so Shift+X is X.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from livehead.errors import LiveHeadError

__all__ = [
    "ACTIONS",
    "DEFAULT_KEYMAP",
    "NAMED_KEYS",
    "UNBIND",
    "Action",
    "Command",
    "Dispatcher",
    "build_keymap",
    "help_rows",
    "help_text",
    "keys_for",
    "modifiers_label",
    "normalize_key",
    "parse_action",
    "parse_modifiers",
]


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


def closest_hint(word: str, candidates: Iterable[str]) -> str:
    """" Did you mean 'x'?" for the candidate closest to a mistyped ``word``, or ""."""
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
        raise LiveHeadError(f"Unknown action {spec!r}.{closest_hint(name, ACTIONS)} Valid actions: {valid}.")
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
                hint = closest_hint(str(raw_key).lower(), sorted(NAMED_KEYS))
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
    return "+".join(m.capitalize() for m in parse_modifiers(modifiers))


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



MODIFIER_NAMES = {
    "ctrl": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl", "control": "ctrl",
    "alt": "alt", "alt_l": "alt", "alt_r": "alt", "alt_gr": "alt", "option": "alt",
    "shift": "shift", "shift_l": "shift", "shift_r": "shift",
    "cmd": "cmd", "cmd_l": "cmd", "cmd_r": "cmd", "super": "cmd", "win": "cmd",
}


def parse_modifiers(text: str) -> tuple[str, ...]:
    """``"ctrl+alt"`` → ``("ctrl", "alt")``; raises :class:`LiveHeadError` naming the closest valid modifier."""
    names = [part.strip().lower() for part in text.replace("-", "+").split("+") if part.strip()]
    unknown = [n for n in names if n not in MODIFIER_NAMES]
    if unknown:
        raise LiveHeadError(
            f"Unknown modifier {unknown[0]!r} in controls.global_modifiers = {text!r}."
            f"{closest_hint(unknown[0], MODIFIER_NAMES)} Use e.g. \"ctrl+alt\" or \"\" for bare keys."
        )
    return tuple(dict.fromkeys(MODIFIER_NAMES[n] for n in names))
