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
SUPPORTED_PYTHON = (3, 11)


def _pins() -> dict[str, str]:
    """``{distribution: version}`` pinned with ``==`` by LiveHead (installed metadata, else pyproject.toml)."""
    requirements: list[str] = []
    try:
        requirements = importlib.metadata.requires("livehead") or []
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        if pyproject.is_file():
            import tomllib

            project = tomllib.loads(pyproject.read_text()).get("project", {})
            requirements = list(project.get("dependencies", []))
            for extra in project.get("optional-dependencies", {}).values():
                requirements += list(extra)
    pins: dict[str, str] = {}
    for req in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^;\s]+)", req)
        if match:
            pins[_norm(match.group(1))] = match.group(2)
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> list[Check]:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if (v.major, v.minor) == SUPPORTED_PYTHON:
        return [Check("python", "Python", "ok", text)]
    want = ".".join(map(str, SUPPORTED_PYTHON))
    return [
        Check(
            "python", "Python", "fail", f"{text}; LiveHead's pinned packages (mediapipe 0.10.21) need Python {want}",
            f"create a Python {want} environment: python{want} -m venv .venv && .venv/bin/pip install -e .",
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
    pins = _pins()
    checks: list[Check] = []
    for module, dist, required, purpose in PACKAGES:
        pin = pins.get(_norm(dist))
        install = f"pip install {dist}=={pin}" if pin else f"pip install {dist}"
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
        if pin and version.split("+")[0] != pin:  # "2.13.0+cpu" is the pinned 2.13.0
            checks.append(
                Check("packages", dist, "warn", f"{version} installed, LiveHead is tested with {pin} ({purpose})", install)
            )
        else:
            checks.append(Check("packages", dist, "ok", f"{version} ({purpose})"))
    checks.append(_check_opencv_distributions(pins))
    return checks


def _check_opencv_distributions(pins: dict[str, str]) -> Check:
    installed = {_norm(d.metadata["Name"] or ""): d.version for d in importlib.metadata.distributions()}
    others = [name for name in OPENCV_OTHERS if name in installed]
    pin = pins.get(OPENCV_DIST)
    reinstall = f"pip install --force-reinstall {OPENCV_DIST}" + (f"=={pin}" if pin else "")
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
