"""Keep native libraries' start-up chatter off the terminal unless ``-v`` was given.

MediaPipe's TFLite runtime writes ``W0000 … Feedback manager requires a model with a single
signature …``, ``landmark_projection_calculator … NORM_RECT without IMAGE_DIMENSIONS`` and
``INFO: Created TensorFlow Lite XNNPACK delegate`` straight to file descriptor 2 from C++ (absl
logging before ``InitializeLog``), the first time each graph runs. Python logging and environment
variables (``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL``) do not reach it, so
:func:`quiet_native_stderr` points fd 2 at a temporary file for the duration and, when it ends,
writes back everything that is not such an info/warning line (Python tracebacks, log records of
other threads, native errors), so nothing but the known chatter is lost. With the ``livehead``
logger at DEBUG (``-v``) it does nothing and the lines appear as they are printed.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

__all__ = ["QuietHold", "is_native_chatter", "quiet_native_stderr"]

log = logging.getLogger("livehead")

# absl/glog info and warning records ("I0000 00:00:…", "W1201 …"); errors ("E…", "F…") pass through.
_ABSL_INFO_OR_WARNING = re.compile(r"^[IW]\d{4} \d\d:\d\d:\d\d")
_TFLITE_CHATTER = (
    "INFO: Created TensorFlow Lite",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
)

# One redirect for the whole process: threads that nest or overlap share it, the last one out
# restores fd 2 (two independent dup2 pairs interleaving would leave fd 2 on a deleted file).
_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture: IO[bytes] | None = None


def is_native_chatter(line: str) -> bool:
    """True for a native info/warning line that :func:`quiet_native_stderr` drops."""
    return bool(_ABSL_INFO_OR_WARNING.match(line)) or line.startswith(_TFLITE_CHATTER)


class QuietHold:
    """Native chatter on fd 2 is dropped from construction until :meth:`release` (idempotent).

    For output that outlives a ``with`` block: MediaPipe opens some calculators on its own
    threads after the graph object is built, so a tracker holds the quiet from creation until
    its first frame is processed. Always release (``close()``, ``weakref.finalize``): while
    held, other lines on fd 2 are delayed until then.
    """

    def __init__(self) -> None:
        self._held = not log.isEnabledFor(logging.DEBUG)
        if self._held:
            _enter()

    def release(self) -> None:
        with _lock:
            held, self._held = self._held, False
        if held:
            _leave()


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence native info/warning lines written to fd 2 inside the block (see module doc)."""
    hold = QuietHold()
    try:
        yield
    finally:
        hold.release()


def _enter() -> None:
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth == 0:
            if sys.stderr is not None:
                sys.stderr.flush()
            try:
                _saved_fd = os.dup(2)
            except OSError:  # no fd 2 at all (pythonw on Windows): nothing to keep quiet
                _saved_fd = None
            else:
                _capture = tempfile.TemporaryFile()
                os.dup2(_capture.fileno(), 2)
        _depth += 1


def _leave() -> None:
    global _depth, _saved_fd, _capture
    with _lock:
        _depth -= 1
        if _depth > 0 or _saved_fd is None or _capture is None:
            return
        if sys.stderr is not None:
            sys.stderr.flush()
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        _capture.seek(0)
        text = _capture.read().decode("utf-8", errors="replace")
        _capture.close()
        _saved_fd = _capture = None
    kept = [line for line in text.splitlines(keepends=True) if not is_native_chatter(line)]
    if kept:
        os.write(2, "".join(kept).encode("utf-8"))
