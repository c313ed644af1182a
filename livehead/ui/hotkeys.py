"""System-wide hotkeys through the optional ``pynput``, feeding the same dispatcher as the preview window."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from livehead.checks import Check
from livehead.ui.display import display_problem
from livehead.ui.keymap import MODIFIER_NAMES, Dispatcher, modifiers_label, normalize_key, parse_modifiers

log = logging.getLogger(__name__)

__all__ = ["GlobalHotkeys", "doctor_checks"]


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


class GlobalHotkeys:
    """System-wide hotkeys through the optional ``pynput``, feeding the same :class:`Dispatcher`.

    Keys fire only while ``modifiers`` are held (default Ctrl+Alt), so typing in the meeting
    app's chat never switches avatars or quits. ``start()`` returns False — after logging the
    reason and the fix once — when pynput is missing or there is no display; it never raises
    for those. The preview window's keys keep working either way.
    """

    def __init__(self, dispatcher: Dispatcher, *, modifiers: str = "ctrl+alt") -> None:
        self.dispatcher = dispatcher
        self.modifiers = frozenset(parse_modifiers(modifiers))
        self._held: set[str] = set()
        self._listener: Any = None
        self.unavailable_reason: str | None = None

    @property
    def running(self) -> bool:
        """True while the system-wide key listener is active."""
        return self._listener is not None

    def start(self) -> bool:
        """Start listening; False (and a log line saying why and how to fix) if unavailable."""
        if self._listener is not None:
            return True
        why = display_problem()
        if why:
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
        if isinstance(name, str) and name in MODIFIER_NAMES:
            self._held.add(MODIFIER_NAMES[name])
            return
        if self.modifiers <= self._held:
            self.dispatcher.handle_key(_pynput_key_name(key))

    def _on_release(self, key: Any) -> None:
        name = getattr(key, "name", None)
        if isinstance(name, str) and name in MODIFIER_NAMES:
            self._held.discard(MODIFIER_NAMES[name])


def doctor_checks() -> list[Check]:
    """Global hotkeys need the optional pynput and an X display (optional: the preview window's keys work anyway)."""
    fix = "pip install 'livehead[hotkeys]' (keys still work in the preview window without it)"
    if importlib.util.find_spec("pynput") is None:
        return [Check("controls", "global hotkeys", "warn", "pynput is not installed", fix)]
    problem = display_problem()
    if problem:
        return [Check("controls", "global hotkeys", "warn", f"pynput needs an X display: {problem}",
                      "run LiveHead inside your desktop session; keys still work in the preview window")]
    return [Check("controls", "global hotkeys", "ok", "pynput available")]
