"""The doctor's unit: one :class:`Check` per line of ``livehead doctor``.

Each part of LiveHead owns the checks of what it needs (``install``, ``stages.tracking``,
``stages.cameras``, ``sinks.vcam``, ``runtime.checks``, ``models.catalog``, ``ui.hotkeys``) and
exports them as ``doctor_checks() -> list[Check]``; ``livehead.commands.doctor`` only runs and
prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Check", "Status"]

Status = Literal["ok", "warn", "fail", "info"]


@dataclass(frozen=True)
class Check:
    """One line of the report. ``fix`` is the exact command or step; empty when ``status`` is ok/info.

    ``fail`` means the main job (camera → mesh engine → virtual camera) cannot run; ``warn`` limits
    an optional part (neural engines, GPU, extras).
    """

    area: str
    name: str
    status: Status
    detail: str
    fix: str = ""
