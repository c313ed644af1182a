"""Errors that reach the user: each carries the fix and the process exit code."""

from __future__ import annotations


class LiveHeadError(Exception):
    """A failure the user can act on.

    The message says what failed, the value involved and the next command or flag to try.
    The CLI prints it without a traceback and exits with ``exit_code``.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class InputError(LiveHeadError):
    """A file or device given by the user cannot be used (missing, unreadable, unsafe)."""


class NoFaceError(InputError):
    """No face was found where one is required (the avatar photo)."""


class CheckpointError(InputError):
    """A model checkpoint is missing, unsafe, truncated or for a different architecture."""


class EngineMismatchError(LiveHeadError):
    """A compiled engine does not match this machine or checkpoint; the message says how to rebuild."""
