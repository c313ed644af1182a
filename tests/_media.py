"""Paths to the shared real media and golden fixtures; tests skip with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MEDIA = SHARED / "media"
REFERENCE = SHARED / "reference"


def media(name: str) -> Path:
    """A file from ../shared/media, or skip the test saying what is missing."""
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"needs the shared media file {path} (../shared/media beside the repository)")
    return path


def reference(name: str) -> Path:
    """A golden fixture from ../shared/reference, or skip the test saying what is missing."""
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"golden fixture {path} not found (fixtures live in ../shared/reference next to the repo)")
    return path


def needs_extra(extra: str, module: str):
    """Import ``module`` from LiveHead's optional ``extra``, or skip (a whole test module when called
    at its top) naming the pip line: a light install without ``livehead[neural]`` still runs the rest."""
    from livehead.extras import install_line

    return pytest.importorskip(module, reason=f"needs the optional '{extra}' extra: {install_line(extra)}")
