"""Every file or folder LiveHead writes is checked before the work starts, not after it.

A recording (``--output``), ``livehead demo --output``, ``bench --json`` and ``eval --out`` all go
through here, so "cannot write" is said in the first second, with the reason and the fix, instead
of after a long run whose results are then lost. Nothing an input names (the ``--source`` clip,
the avatar) is ever a valid output, and an existing file is replaced only when asked.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from livehead.errors import InputError

__all__ = ["RECORDING_SUFFIXES", "check_output_dir", "check_output_file", "check_recording_path", "partial_path"]

# extension → FFmpeg muxer; both keep a file playable up to its last flushed fragment / cluster
RECORDING_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def partial_path(path: Path) -> Path:
    """Where a recording is written until it closes cleanly: ``out.mp4`` → ``out.incomplete.mp4``.

    The extension is kept, so a recording cut short by a crash or a kill still opens in a player.
    """
    return path.with_name(f"{path.stem}.incomplete{path.suffix}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _probe_folder(folder: Path, flag: str, path: Path) -> None:
    """Create and delete a file in ``folder``: the only test of writability that a read-only
    mount, a full quota or an ACL cannot fool."""
    if not folder.exists():
        raise InputError(f"Cannot write {flag} {path}: folder {folder} does not exist. Create it first "
                         f"(mkdir -p {folder}) or choose another path.")
    if not folder.is_dir():
        raise InputError(f"Cannot write {flag} {path}: {folder} is not a folder.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".livehead-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = "it is on a read-only file system" if exc.errno == errno.EROFS else reason
        raise InputError(f"Cannot write {flag} {path}: {hint} ({folder}). Choose a folder you can write to.") from None


def _refuse_special(path: Path, flag: str, example: str) -> None:
    if path.is_dir():
        raise InputError(f"{flag} {path} is a folder; give a file name inside it, e.g. {path / example}.")
    if path.exists() and not path.is_file():
        raise InputError(f"{flag} {path} is not a regular file (a device, pipe or socket); give a file name, "
                         f"e.g. {example}.")


def _refuse_inputs(path: Path, flag: str, inputs: Iterable[tuple[str, str | os.PathLike[str] | None]]) -> None:
    for input_flag, value in inputs:
        if value and _same_file(path, Path(value).expanduser()):
            raise InputError(f"{flag} {path} is the {input_flag} file: writing it would destroy the input. "
                             "Choose another output name.")


def check_output_file(path: str | os.PathLike[str], flag: str, *, overwrite: bool = True,
                      suffixes: Iterable[str] = (), inputs: Iterable[tuple[str, str | None]] = ()) -> Path:
    """Refuse an output file that cannot be written, before anything runs; returns it as a Path.

    Args:
        flag: the option that named it (``--json``), for the message.
        overwrite: an existing file may be replaced (else it is refused, naming ``--overwrite``).
        suffixes: allowed extensions (lower case, with the dot); empty = any.
        inputs: ``(flag, path)`` of the run's inputs; the output may be none of them.
    """
    path = Path(path).expanduser()
    allowed = tuple(suffixes)
    example = f"out{allowed[0]}" if allowed else "out.json"
    _refuse_special(path, flag, example)
    if allowed and path.suffix.lower() not in allowed:
        got = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise InputError(f"{flag} {path} has {got}; use one of {', '.join(allowed)} (e.g. {path.stem or 'out'}"
                         f"{allowed[0]}).")
    _refuse_inputs(path, flag, inputs)
    if path.exists() and not overwrite:
        raise InputError(f"{flag} {path} already exists. Add --overwrite to replace it, or choose another name.")
    _probe_folder(path.parent, flag, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"Cannot write {flag} {path}: the file is read-only. Choose another name.")
    return path


def check_recording_path(path: str | os.PathLike[str], *, overwrite: bool = False, flag: str = "--output",
                         inputs: Iterable[tuple[str, str | None]] = ()) -> Path:
    """:func:`check_output_file` for a recording: a known container, and no leftover of a recording
    that did not finish in the way (it may be the only copy of what was recorded)."""
    path = check_output_file(path, flag, overwrite=overwrite, suffixes=RECORDING_SUFFIXES, inputs=inputs)
    partial = partial_path(path)
    if partial.exists() and not overwrite:
        raise InputError(f"{partial} is left from a recording that did not finish (it plays up to where it "
                         "stopped). Rename it to keep it, or add --overwrite to replace it.")
    return path


def check_output_dir(path: str | os.PathLike[str], flag: str) -> Path:
    """Create folder ``path`` if needed and prove it writable, before the work whose results go there."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is a file, not a folder; give a folder name.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create {flag} folder {path}: {exc.strerror or exc}. Choose a folder you can "
                         "write to.") from None
    _probe_folder(path, flag, path)
    return path
