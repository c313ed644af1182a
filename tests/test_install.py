"""What LiveHead needs installed: pins read from the project, the Python check names its fix."""

from __future__ import annotations

import pytest

from livehead import install


def test_pins_read_from_project() -> None:
    pins = install._pins()
    assert pins.get("mediapipe") == "0.10.21" and pins.get("opencv-contrib-python")


def test_python_check_names_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "SUPPORTED_PYTHON", (3, 99))
    [check] = install.check_python()
    assert check.status == "fail" and "python3.99 -m venv" in check.fix
