"""What the ``livehead eval`` modules hand each other: settings in, progress out, strips and the result.

Kept apart from ``runner`` so the protocol modules (``self_reenactment``, ``cross_identity``,
``stability``) can use them without importing the module that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["DEFAULT_ENGINES", "EvalResult", "EvalSettings", "Progress", "Sheet", "Strip"]

DEFAULT_ENGINES = ("mesh", "fomm", "fv2v", "liveportrait")


@dataclass(frozen=True)
class EvalSettings:
    """What ``livehead eval`` runs: engines, frames per clip, output size and which protocols."""
    engines: tuple[str, ...] = DEFAULT_ENGINES  # engines to try; those that cannot run are reported, not fatal
    frames: int | None = None  # frames per clip (None: the whole clip)
    size: tuple[int, int] = (1280, 720)  # output size; avatars (photos, first frames) are fitted inside it
    cross_identity: bool = True  # photos × clips
    stability: bool = True  # also run each engine with smoothing off (self-reenactment)
    identity: bool = True  # try the optional dlib identity metric
    identity_samples: int = 8  # frames per sequence that get a face embedding (dlib is ~50 ms a face)
    strip_frames: int = 3  # side-by-side frames per clip in the report
    sheet_frames: int = 8  # columns of each contact sheet (face, mouth, eyes of driver and output); 0: none
    still_threshold: float = 0.008  # face sizes per frame, see metrics.still_mask


class Progress(Protocol):
    """What ``run_eval`` reports while it runs (the CLI draws a progress bar from it)."""

    def start(self, total_frames: int) -> None: ...

    def advance(self, frames: int, note: str) -> None: ...


@dataclass
class Strip:
    """One side-by-side row for the report: images of equal meaning at one frame index."""

    kind: str  # "self" or "cross"
    clip: str
    photo: str | None
    frame: int
    labels: list[str]
    images: list[np.ndarray]  # (H, W, 3) uint8 RGB each, sizes may differ


@dataclass
class Sheet:
    """One contact sheet for the report (``contact_sheet.contact_sheet``): one method on one pair."""

    kind: str  # "self" or "cross"
    clip: str
    photo: str | None
    method: str
    image: np.ndarray  # (H, W, 3) uint8 RGB


@dataclass
class EvalResult:
    """Every number of an evaluation, with the frame strips and contact sheets the report shows."""
    data: dict[str, Any]  # every number; floats may be NaN (not measurable) or inf (identical images)
    strips: list[Strip] = field(default_factory=list)
    sheets: list[Sheet] = field(default_factory=list)
