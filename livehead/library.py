"""The avatar library: a folder of portrait photos, prepared in the background."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

__all__ = ["IMAGE_SUFFIXES", "scan_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def scan_folder(folder: str | Path) -> list[Path]:
    """Image files in ``folder``, sorted by name (the order of keys 1–9)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"Avatar folder not found: {folder}. Create it and put portrait photos in it, or use --avatar FILE.")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
