"""`livehead cameras`: says clearly when there is none."""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO


def has_camera_nodes() -> bool:
    return any(not Path(f"/sys/devices/virtual/video4linux/{Path(p).name}").exists() for p in glob.glob("/dev/video*"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livehead.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


class TestCamerasCommand:
    @pytest.mark.skipif(has_camera_nodes(), reason="this machine has camera devices")
    def test_says_clearly_when_none(self) -> None:
        result = run_cli("cameras")
        assert result.returncode == 1 and "No camera found" in result.stdout
        assert "Traceback" not in result.stderr

    @pytest.mark.skipif(has_camera_nodes(), reason="this machine has camera devices")
    def test_probing_is_quiet(self) -> None:
        result = run_cli("cameras")
        assert "can't open camera" not in result.stderr and "VIDEOIO" not in result.stderr, result.stderr
