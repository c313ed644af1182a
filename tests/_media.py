"""Paths to the shared real media and golden fixtures; tests skip with a reason when absent.

``LIVEHEAD_REFERENCE_DIR`` points the golden-fixture tests at another folder with the same file
layout (default ``../shared/reference`` beside the repository); see :mod:`golden`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MEDIA = SHARED / "media"
REFERENCE = Path(os.environ.get("LIVEHEAD_REFERENCE_DIR") or SHARED / "reference").expanduser().resolve()


def media(name: str) -> Path:
    """A file from ../shared/media, or skip the test saying what is missing."""
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"needs the shared media file {path} (../shared/media beside the repository)")
    return path


def reference(name: str) -> Path:
    """A file from the golden-fixture folder (``LIVEHEAD_REFERENCE_DIR``, default ../shared/reference),
    or skip the test saying what is missing."""
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"golden fixture {path} not found (fixtures live in ../shared/reference next to the repo, "
                    "or where LIVEHEAD_REFERENCE_DIR points)")
    return path


def needs_extra(extra: str, module: str):
    """Import ``module`` from LiveHead's optional ``extra``, or skip (a whole test module when called
    at its top) naming the pip line: a light install without ``livehead[neural]`` still runs the rest."""
    from livehead.extras import install_line

    return pytest.importorskip(module, reason=f"needs the optional '{extra}' extra: {install_line(extra)}")
