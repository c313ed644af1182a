"""Errors that reach the user: each carries the fix and the process exit code.

The exit-code rule (also in ``livehead --help`` and the README) lives here, with the errors that
carry it: :data:`EXIT_CODES`.
"""

from __future__ import annotations

EXIT_OK = 0  # done; for streaming also a stop by Ctrl-C, SIGTERM or SIGHUP (the recording is finished)
EXIT_FAILED = 1  # it ran, and something failed (a recording that could not be written, a dead tracker)
EXIT_USAGE = 2  # nothing ran: an option, config value or input file is wrong (the message says which)
EXIT_INTERRUPTED = 130  # interrupted before finishing: Ctrl-C during eval/bench/demo, or a second Ctrl-C

EXIT_CODES = (
    "exit codes: 0 done (stopping a stream with Ctrl-C, SIGTERM or SIGHUP is a clean stop: the recording is "
    "finished); 1 something failed while running; 2 an option, config value or input file is wrong, nothing ran; "
    "130 interrupted before finishing (a second Ctrl-C, or Ctrl-C in eval/bench/demo)"
)


class LiveHeadError(Exception):
    """A failure the user can act on.

    The message says what failed, the value involved and the next command or flag to try.
    The CLI prints it without a traceback and exits with ``exit_code``.
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
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


class RunFailure(LiveHeadError):
    """Something failed while running (exit 1): a recording that could not be written, a tracker that died."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_FAILED)
