"""What LiveHead needs installed: supported Python, the packages of the main job and of the extras,
and their doctor checks (``doctor_checks``).

Pins are read from the installed package metadata (or ``pyproject.toml`` in a source tree), so the
fix lines name the versions LiveHead is tested with.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

from livehead.checks import Check
from livehead.stages.tracking import MEDIAPIPE_REINSTALL

__all__ = ["OPENCV_DIST", "PACKAGES", "SUPPORTED_PYTHON", "check_packages", "check_python", "doctor_checks"]

OPENCV_DIST = "opencv-contrib-python"
OPENCV_OTHERS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python-headless")
SUPPORTED_PYTHON = ((3, 10), (3, 12))  # oldest and newest minor version LiveHead is tested on


def _ranges() -> dict[str, str]:
    """``{distribution: version range}`` LiveHead declares, extras included (``{"numpy": "<2,>=1.26"}``).

    From the installed metadata, else pyproject.toml. Exact tested versions live in the source
    tree's requirements.lock, which an installed wheel does not carry.
    """
    from packaging.requirements import Requirement

    requirements: list[str] = []
    try:
        requirements = importlib.metadata.requires("livehead") or []
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        if pyproject.is_file():
            from livehead.config.loading import tomllib

            project = tomllib.loads(pyproject.read_text()).get("project", {})
            requirements = list(project.get("dependencies", []))
            for extra in project.get("optional-dependencies", {}).values():
                requirements += list(extra)
    ranges: dict[str, str] = {}
    for text in requirements:
        req = Requirement(text)
        # keep base and extra requirements that apply to this Python (tomli only below 3.11)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", "neural", "test", "hotkeys", "eval")):
            ranges[_norm(req.name)] = str(req.specifier)
    return ranges


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> list[Check]:
    """Doctor line for the running Python: within :data:`SUPPORTED_PYTHON`, or the command that makes a venv with a supported one."""
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    oldest, newest = SUPPORTED_PYTHON
    if oldest <= (v.major, v.minor) <= newest:
        return [Check("python", "Python", "ok", text)]
    want = ".".join(map(str, newest))
    return [
        Check(
            "python", "Python", "fail",
            f"{text}; LiveHead needs Python {'.'.join(map(str, oldest))}–{want} (mediapipe 0.10.21 has no wheels beyond)",
            f"create a Python {want} environment: python{want} -m venv .venv && .venv/bin/pip install livehead",
        )
    ]


# (import name, distribution, required for the main job, what it is for)
PACKAGES: tuple[tuple[str, str, bool, str], ...] = (
    ("numpy", "numpy", True, "arrays"),
    ("cv2", OPENCV_DIST, True, "camera, drawing, warping"),
    ("mediapipe", "mediapipe", True, "face tracking"),
    ("pyvirtualcam", "pyvirtualcam", True, "virtual camera output"),
    ("platformdirs", "platformdirs", True, "config and avatar folders"),
    ("torch", "torch", False, "neural engines fomm / fv2v"),
    ("onnxruntime", "onnxruntime", False, "--backend onnxruntime"),
    ("av", "av", False, "mp4 recording with --output"),
)


def check_packages() -> list[Check]:
    """Doctor lines per dependency: installed version within the range pyproject.toml asks for, or the pip line that fixes it."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    from livehead.extras import extra_providing, install_line

    ranges = _ranges()
    checks: list[Check] = []
    for module, dist, required, purpose in PACKAGES:
        wanted = ranges.get(_norm(dist), "")
        extra = extra_providing(module)
        install = install_line(extra) if extra else f'pip install "{dist}{wanted}"'
        installed = _version(dist)
        failed = "fail" if required else "warn"
        if installed is None and module != "cv2":
            checks.append(Check("packages", dist, failed, f"not installed (needed for {purpose})", install))
            continue
        try:
            imported = importlib.import_module(module)
            if module == "mediapipe":
                importlib.import_module("mediapipe.python.solutions.face_mesh")
        except Exception as exc:  # a broken wheel raises anything from ImportError to AttributeError
            fix = install
            if module == "mediapipe":
                fix = MEDIAPIPE_REINSTALL
            checks.append(
                Check("packages", dist, failed, f"installed {installed or '?'} but `import {module}` fails: "
                      f"{type(exc).__name__}: {exc}", fix)
            )
            continue
        version = installed or getattr(imported, "__version__", "?")
        try:
            in_range = not wanted or SpecifierSet(wanted).contains(Version(version), prereleases=True)
        except InvalidVersion:
            in_range = False
        if not in_range:
            checks.append(
                Check("packages", dist, "warn", f"{version} installed, LiveHead needs {dist}{wanted} ({purpose})", install)
            )
        else:
            checks.append(Check("packages", dist, "ok", f"{version} ({purpose})"))
    checks.append(_check_opencv_distributions(ranges))
    return checks


def _check_opencv_distributions(ranges: dict[str, str]) -> Check:
    installed = {_norm(d.metadata["Name"] or ""): d.version for d in importlib.metadata.distributions()}
    others = [name for name in OPENCV_OTHERS if name in installed]
    reinstall = f'pip install --force-reinstall "{OPENCV_DIST}{ranges.get(OPENCV_DIST, "")}"'
    if others:
        return Check(
            "packages", "OpenCV distributions", "fail",
            f"{', '.join(others)} installed next to {OPENCV_DIST}; they share the cv2/ folder and break each other",
            f"pip uninstall -y {' '.join(others)} {OPENCV_DIST} && {reinstall}",
        )
    if OPENCV_DIST not in installed:
        return Check("packages", "OpenCV distributions", "fail", f"{OPENCV_DIST} is not installed", reinstall)
    return Check("packages", "OpenCV distributions", "ok", f"only {OPENCV_DIST} installed")


def doctor_checks() -> list[Check]:
    """Python and packages, in report order."""
    return check_python() + check_packages()
