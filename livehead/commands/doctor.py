"""``livehead doctor``: check this machine, name the exact fix.

Exit code: **0 when the main job can run** — ``livehead --avatar me.png``, i.e. a camera →
MediaPipe → mesh engine → virtual camera — and 1 otherwise. Each part of LiveHead owns its checks
(``doctor_checks()`` in the modules listed in :data:`CHECKS`); this command runs them in order and
prints them. Anything optional — GPU/CUDA, TensorRT, built engines, checkpoints, global hotkeys —
is a warning. When the camera or virtual camera is what fails, the summary also names what still
works (``livehead demo``, ``--source clip.mp4 --no-vcam --output out.mp4``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import platform
import sys
from collections.abc import Iterable

from livehead.checks import Check

__all__ = ["CHECKS", "format_report", "main", "run_checks"]

# (module, needs a camera probe) in report order; each module exports doctor_checks() -> list[Check]
CHECKS: tuple[tuple[str, bool], ...] = (
    ("livehead.install", False),
    ("livehead.stages.tracking", False),
    ("livehead.stages.cameras", True),
    ("livehead.sinks.vcam", False),
    ("livehead.runtime.checks", False),
    ("livehead.models.catalog", False),
    ("livehead.ui.hotkeys", False),
)


def run_checks(*, cameras: bool = True) -> list[Check]:
    """Every check, in report order. A check module that cannot even be imported becomes a FAIL line."""
    checks: list[Check] = []
    for module, opens_cameras in CHECKS:
        if opens_cameras and not cameras:
            continue
        try:
            checks += importlib.import_module(module).doctor_checks()
        except ImportError as exc:  # a broken install: say so, keep checking the rest
            checks.append(Check(module.rsplit(".", 1)[-1], module, "fail", f"cannot be imported: {exc}",
                                "pip install --force-reinstall livehead"))
    return checks


_MARK = {"ok": "[ ok ]", "warn": "[warn]", "fail": "[FAIL]", "info": "[info]"}
_COLOUR = {"ok": "32", "warn": "33", "fail": "31;1", "info": "36"}


def format_report(checks: Iterable[Check], *, colour: bool = False) -> str:
    """The doctor report: checks grouped by area, one mark per line with its fix, and a closing verdict."""
    checks = list(checks)
    lines = [f"LiveHead doctor: {platform.system()} {platform.release()}, Python {platform.python_version()}", ""]
    area = None
    for c in checks:
        if c.area != area:
            if area is not None:
                lines.append("")
            lines.append(c.area.upper())
            area = c.area
        mark = _MARK[c.status]
        if colour:
            mark = f"\033[{_COLOUR[c.status]}m{mark}\033[0m"
        lines.append(f"  {mark} {c.name}: {c.detail}")
        if c.fix:
            lines.append(f"         fix: {c.fix}")
    failed = [c for c in checks if c.status == "fail"]
    warned = [c for c in checks if c.status == "warn"]
    lines.append("")
    if failed:
        lines.append(
            f"NOT READY: {len(failed)} problem(s) stop `livehead --avatar me.png` (camera -> mesh engine -> virtual "
            f"camera): {', '.join(f'{c.area} ({c.name})' for c in failed)}. Fix the [FAIL] lines above."
        )
        if all(c.area in ("camera", "virtual camera") for c in failed):
            lines.append(
                "Still possible meanwhile: `livehead demo`, or `livehead --avatar me.png --source clip.mp4 --no-vcam "
                "--output out.mp4`."
            )
    else:
        lines.append("READY: `livehead --avatar me.png`, then pick \"LiveHead Camera\" in your meeting app.")
    if warned:
        lines.append(f"{len(warned)} warning(s): optional parts (neural engines, GPU, extras); see [warn] lines.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``livehead doctor [--json] [--no-cameras]``: exit 0 when the main job can run, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="livehead doctor",
        description="Check this machine for LiveHead and print the exact fix for each missing part. "
        "Exit code 0 when `livehead --avatar me.png` (camera -> mesh engine -> virtual camera) can run.",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--no-cameras", action="store_true", help="skip opening cameras (they count as missing)")
    parser.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    checks = run_checks(cameras=not args.no_cameras)
    if args.no_cameras:
        checks.insert(0, Check("camera", "cameras", "fail", "not checked (--no-cameras)", "run `livehead doctor` without --no-cameras"))
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
    else:
        print(format_report(checks, colour=sys.stdout.isatty()))
    return 1 if any(c.status == "fail" for c in checks) else 0
