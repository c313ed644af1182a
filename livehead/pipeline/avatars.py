"""Which prepared avatar is shown, while the avatar library prepares more in the background."""

from __future__ import annotations

import logging

from livehead.animators.base import AvatarState
from livehead.ui.keymap import Command

log = logging.getLogger(__name__)

__all__ = ["AvatarSelection"]


class AvatarSelection:
    """The prepared avatars (``states``) and a switch that waits for one still being prepared.

    ``library`` is an :class:`~livehead.avatars.library.AvatarLibrary` or None; its ready avatars
    are picked up by :meth:`sync`. A request for an avatar the library is still preparing is kept
    as ``pending`` (the caller asks again with :meth:`get` between frames); the newest request wins.
    """

    def __init__(self, states: list[AvatarState], library=None) -> None:
        self.states = list(states)
        self.library = library
        self.pending: int | None = None

    def sync(self) -> None:
        """Pick up avatars the library has prepared since the last call."""
        if self.library is not None:
            ready = self.library.ready()
            if len(ready) != len(self.states):
                self.states = ready

    def still_preparing(self, index: int | None) -> bool:
        """Whether avatar ``index`` (0-based) is not ready here yet but the library has it or works on it."""
        if self.library is None or index is None:
            return False
        pending = self.library.pending()  # before ready(): an avatar finishing in between counts twice, not never
        return len(self.states) <= index < pending + len(self.library.ready())

    def defer(self, command: Command) -> bool:
        """Note an avatar request; True when it must wait for the library (the command is then consumed)."""
        if command.action not in ("select_avatar", "prev_avatar", "next_avatar"):
            return False
        self.pending = None  # the newest avatar request wins
        if command.action == "select_avatar" and self.still_preparing(command.argument):
            self.pending = command.argument
            log.info("Avatar %d is still being prepared; switching when it is ready.", command.argument + 1)
            return True
        return False

    def get(self, index: int, *, current: int) -> AvatarState | None:
        """The prepared avatar ``index``; None when it is not there: kept pending while the library
        prepares it, else logged as failed (the stream stays on avatar ``current``)."""
        if 0 <= index < len(self.states):
            self.pending = None
            log.info("Avatar %d: %s", index + 1, self.states[index].avatar.name)
            return self.states[index]
        if self.still_preparing(index):
            self.pending = index
        else:
            self.pending = None
            log.warning("Avatar %d could not be prepared; staying on avatar %d.", index + 1, current + 1)
        return None

    def replace(self, states: list[AvatarState]) -> None:
        """Another engine's prepared avatars; the library's belong to the previous engine."""
        self.states = list(states)
        self.library = None
        self.pending = None
