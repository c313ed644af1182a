"""Where a photo's lids are, beyond the tracker's lid lines: measured once per avatar (``measure``).

The tracker's upper-lid line runs through the lashes. ``lid_margins``: how far below it the lid's
dark margin ends (the eyeball shows from there; a raised lid lifts that edge). ``lash_tops``: how
far above it the dark band of lashes and eyeliner reaches (a closing lid is painted from above
it, so no outline of the open eye is left round the shut one). ``lower_lines``: how far below the
tracker's lower-lid line the photo's dark lower-lid line runs (a shutting lid closes onto it). All
as shares of the eye's height, so they hold while the face moves and scales.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from livehead.animators.mesh import eye_frame as ef

__all__ = ["LidLines", "lash_tops", "lid_margins", "lower_lines", "measure"]

LASH_TOP_MAX = 0.8  # the photo's dark band (lashes, eyeliner) reaches at most this far above the lid line, in eye heights
# A dark lower-lid line is sought up to LOWER_REACH eye heights below the tracker's lower-lid line,
# darker than LOWER_DARK of the skin under it.
LOWER_REACH, LOWER_DARK = 0.3, 0.6


class LidLines(NamedTuple):
    """Per eye (subject's right first), as shares of the eye's height: see the module's docstring."""

    margins: tuple[float, ...]
    tops: tuple[float, ...]
    lowers: tuple[float, ...]


def measure(image: np.ndarray, landmarks: np.ndarray) -> LidLines:
    """All of a photo's lid lines (``image`` with its tracked ``landmarks``)."""
    return LidLines(lid_margins(image, landmarks), lash_tops(image, landmarks), lower_lines(image, landmarks))


def _eyes(landmarks: np.ndarray):
    """Per eye of the photo: its frame (c0, ax, nm, length), its upper lid, brow and lower lid as
    (s, t) curves, and its open height (px)."""
    for (upper, lower, _), brow in zip(ef.EYES, ef.BROWS_LOWER):
        c0, ax, nm, length = ef.frame(landmarks, upper, lower)
        up, low = ef.curve(landmarks, upper, c0, ax, nm), ef.curve(landmarks, lower, c0, ax, nm)
        yield c0, ax, nm, length, up, ef.curve(landmarks, brow, c0, ax, nm), low, ef.height(up, low)


def lid_margins(image: np.ndarray, landmarks: np.ndarray) -> tuple[float, ...]:
    """Per eye of a photo: how far below the tracker's upper-lid line the lid's dark margin ends,
    in eye heights (0–0.4). The line runs through the lashes; the eyeball shows from the margin.
    Measured once per avatar (``image`` with its ``landmarks``), as a share, so it holds while
    the face moves and scales."""
    return tuple(_lid_margin(image, c0, ax, nm, up, height, length) / height if length >= 4 else 0.0
                 for c0, ax, nm, length, up, _, _, height in _eyes(landmarks))


def _lid_margin(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, upper: tuple[np.ndarray, np.ndarray],
                height: float, length: float) -> float:
    """How far (px, ≥ 0) below the upper-lid line ``upper`` (s, t) the lid's dark margin ends, in the eye's middle.

    Per column: the darkest point near the line (lashes), then the first point below it that is
    halfway back up to the eye's brightness further down; the median over the middle columns.
    """
    offsets = []
    for s in np.linspace(0.3, 0.7, 7) * length:
        u = float(np.interp(s, *upper))
        t = u + np.arange(-0.3 * height, 0.6 * height + 0.5, 0.5)
        profile = ef.luma_across(image, c0, ax, nm, s, t)
        near = t <= u + 0.3 * height
        k = int(np.argmin(np.where(near, profile, np.inf)))
        level = profile[k] + 0.5 * (profile[-1] - profile[k])
        above = np.nonzero(profile[k:] >= level)[0]
        offsets.append(t[k + above[0]] - u if above.size else 0.0)
    return float(np.clip(np.median(offsets), 0.0, 0.4 * height))


def lash_tops(image: np.ndarray, landmarks: np.ndarray) -> tuple[float, ...]:
    """Per eye of a photo: how far above the tracker's upper-lid line its dark band (lashes,
    eyeliner, the shadow of a hooded lid) reaches, in eye heights (0–``LASH_TOP_MAX``). A painted
    lid covers that band, so no dark outline of the open eye is left round the shut one. Measured
    once per avatar, like ``lid_margins``."""
    return tuple(_lash_top(image, c0, ax, nm, up, brow, height, length) / height if length >= 4 else 0.0
                 for c0, ax, nm, length, up, brow, _, height in _eyes(landmarks))


def _lash_top(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, upper: tuple[np.ndarray, np.ndarray],
              brow: tuple[np.ndarray, np.ndarray], height: float, length: float) -> float:
    """How far (px, ≥ 0) above the upper-lid line ``upper`` (s, t) the dark band around it reaches, in the eye's middle.

    Per column: the darkest point near the line, then going up, the first point halfway back to
    the skin between it and the brow (``brow``'s lower line; a bright percentile there); the
    median over the middle columns.
    """
    offsets = []
    for s in np.linspace(0.3, 0.7, 7) * length:
        u = float(np.interp(s, *upper))
        ceiling = max(float(np.interp(s, *brow)) + 1.0, u - LASH_TOP_MAX * height)
        t = np.arange(u + 0.3 * height, ceiling - 0.25, -0.5)  # upwards
        profile = ef.luma_across(image, c0, ax, nm, s, t)
        k = int(np.argmin(np.where(t >= u - 0.3 * height, profile, np.inf)))
        if k + 1 >= t.size:
            offsets.append(0.0)
            continue
        level = profile[k] + 0.5 * (np.percentile(profile[k + 1:], 90) - profile[k])
        up = np.nonzero(profile[k + 1:] >= level)[0]
        offsets.append(u - t[k + 1 + up[0]] if up.size else u - t[-1])
    return float(np.clip(np.median(offsets), 0.0, LASH_TOP_MAX * height))


def lower_lines(image: np.ndarray, landmarks: np.ndarray) -> tuple[float, ...]:
    """Per eye of a photo: how far below the tracker's lower-lid line the photo's dark lower-lid
    line runs (a drawn lid line, lower lashes, eyeliner), in eye heights (0–``LOWER_REACH``; 0
    where there is none). On drawn faces the tracker's line sits above the drawn one, and the
    white and the iris showed under a lid shut onto it."""
    return tuple(_lower_line(image, c0, ax, nm, low, height, length) / height if length >= 4 else 0.0
                 for c0, ax, nm, length, _, _, low, height in _eyes(landmarks))


def _lower_line(image: np.ndarray, c0: np.ndarray, ax: np.ndarray, nm: np.ndarray, lower: tuple[np.ndarray, np.ndarray],
                height: float, length: float) -> float:
    """How far (px, ≥ 0) below the lower-lid line ``lower`` (s, t) the darkest point within
    ``LOWER_REACH`` eye heights lies, in the eye's middle, where it is darker than ``LOWER_DARK``
    of the skin further down (0 where it is not): the median over the middle columns."""
    offsets = []
    for s in np.linspace(0.3, 0.7, 7) * length:
        lo = float(np.interp(s, *lower))
        skin = float(np.median(ef.luma_across(image, c0, ax, nm, s, lo + np.linspace(0.5, 0.8, 5) * height)))
        t = lo + np.arange(0.0, LOWER_REACH * height + 0.5, 0.5)
        profile = ef.luma_across(image, c0, ax, nm, s, t)
        k = int(np.argmin(profile))
        offsets.append(t[k] - lo if profile[k] < LOWER_DARK * skin else 0.0)
    return float(np.median(offsets))
