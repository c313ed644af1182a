"""Optional extras of the ``livehead`` distribution and the exact line that installs each.

``pip install livehead`` brings the mesh path only (camera → MediaPipe → mesh warp → virtual
camera); ``livehead[neural]`` adds torch, onnx, onnxruntime and onnxscript for the ``fomm`` and
``fv2v`` engines, the onnxruntime/tensorrt backends and ``build_engines.py``. This module owns
those facts: the engines, ``doctor`` and the export call :func:`require` instead of restating them.
"""

from __future__ import annotations

import importlib.util
import sys

from livehead.errors import LiveHeadError

__all__ = ["EXTRAS", "MissingExtraError", "extra_providing", "install_line", "missing_extra_error", "missing_modules",
           "require"]

# extra -> import names it provides (checked in this order; the first missing one is reported)
EXTRAS: dict[str, tuple[str, ...]] = {
    "neural": ("torch", "onnx", "onnxruntime", "onnxscript", "yaml", "scipy"),
    "hotkeys": ("pynput",),
    "test": ("pytest", "hypothesis"),
}

# Where the CUDA builds of torch live; the user picks the suffix for their CUDA version (README).
TORCH_CUDA_INDEX = "https://download.pytorch.org/whl/cu126"


class MissingExtraError(LiveHeadError):
    """A feature needs an optional extra that is not installed; the message has the pip line."""


def missing_modules(extra: str) -> list[str]:
    """Import names of ``extra`` that cannot be found in this interpreter (none imported)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def install_line(extra: str) -> str:
    """The command that installs ``extra`` into *this* interpreter's environment.

    ``python -m pip`` with the running interpreter's path, so the line works whichever venv,
    pipx or system Python LiveHead runs from.
    """
    return f"{sys.executable} -m pip install \"livehead[{extra}]\""


def extra_providing(module: str | None) -> str | None:
    """The extra whose package provides top-level import ``module`` (``"torch.nn"`` → ``"neural"``)."""
    top = (module or "").split(".")[0]
    return next((extra for extra, names in EXTRAS.items() if top in names), None)


def missing_extra_error(extra: str, purpose: str, missing: list[str]) -> MissingExtraError:
    """The error for ``purpose`` (what the user asked for, e.g. ``"--engine fomm"``) without ``extra``."""
    message = (
        f"{purpose} needs the optional '{extra}' extra ({', '.join(EXTRAS[extra])}); "
        f"not installed here: {', '.join(missing)}. Install it with:\n"
        f"    {install_line(extra)}"
    )
    if extra == "neural":
        message += (
            f"\nFor an NVIDIA GPU install the CUDA build of torch first, from the index of your CUDA version "
            f"(listed at https://pytorch.org/get-started/locally/), e.g. pip install torch --index-url "
            f"{TORCH_CUDA_INDEX} (README: Install). "
            f"Installed with pipx or uv tool: pipx install --force \"livehead[{extra}]\" / "
            f"uv tool install --force \"livehead[{extra}]\". The mesh engine (--engine mesh) needs none of it."
        )
    return MissingExtraError(message)


def require(extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` naming the pip line when ``extra`` is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise missing_extra_error(extra, purpose, missing)
