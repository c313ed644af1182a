"""`livehead doctor` / `livehead cameras`: every missing part reported with its fix, right exit code."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
from pathlib import Path

import pytest

from livehead.commands import doctor
from livehead.checks import Check

from helpers import REPO as ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livehead.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def has_camera_nodes() -> bool:
    return any(not Path(f"/sys/devices/virtual/video4linux/{Path(p).name}").exists() for p in glob.glob("/dev/video*"))


@pytest.fixture(scope="module")
def result() -> subprocess.CompletedProcess[str]:
    return run_cli("doctor")


class TestDoctorOnThisMachine:
    """Runs the real command in a subprocess, as a user would; expectations follow the machine."""

    def test_no_traceback(self, result: subprocess.CompletedProcess[str]) -> None:
        assert "Traceback" not in result.stdout + result.stderr, result.stderr

    def test_every_problem_has_a_fix(self, result: subprocess.CompletedProcess[str]) -> None:
        lines = result.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.lstrip().startswith(("[FAIL]", "[warn]")):
                assert i + 1 < len(lines) and lines[i + 1].strip().startswith("fix: "), line

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is Linux only")
    def test_virtual_camera(self, result: subprocess.CompletedProcess[str]) -> None:
        if not Path("/sys/module/v4l2loopback").exists():
            assert "[FAIL] v4l2loopback" in result.stdout
            assert 'sudo modprobe v4l2loopback devices=1 card_label="LiveHead Camera" exclusive_caps=1' in result.stdout
            assert result.returncode == 1

    def test_camera(self, result: subprocess.CompletedProcess[str]) -> None:
        if sys.platform.startswith("linux") and not has_camera_nodes():
            assert "[FAIL] cameras: no camera delivers frames" in result.stdout
            assert "livehead --source clip.mp4" in result.stdout
            assert result.returncode == 1

    def test_gpu_reported(self, result: subprocess.CompletedProcess[str]) -> None:
        import importlib.util

        if importlib.util.find_spec("torch") is None:  # the light install
            assert "[warn] CUDA: torch is not installed" in result.stdout and "livehead[neural]" in result.stdout
        else:
            import torch

            if not torch.cuda.is_available():
                assert "[warn] CUDA" in result.stdout
                assert "pytorch.org" in result.stdout or "nvidia-smi" in result.stdout
        assert "TensorRT" in result.stdout

    def test_mediapipe_models_found(self, result: subprocess.CompletedProcess[str]) -> None:
        assert "[ ok ] face models: face_landmark_with_attention.tflite" in result.stdout

    def test_summary_matches_exit_code(self, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode == 1:
            assert "NOT READY" in result.stdout and "[FAIL]" in result.stdout
        else:
            assert result.returncode == 0 and "READY" in result.stdout and "[FAIL]" not in result.stdout

    def test_json(self) -> None:
        result = run_cli("doctor", "--json", "--no-cameras")
        checks = json.loads(result.stdout)
        assert result.returncode == 1  # --no-cameras counts the camera as missing
        assert {"area", "name", "status", "detail", "fix"} <= set(checks[0])
        assert all(c["fix"] for c in checks if c["status"] in ("fail", "warn"))


class TestExitCode:
    def test_zero_when_only_warnings(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        monkeypatch.setattr(doctor, "run_checks", lambda cameras=True: [
            Check("camera", "cameras", "ok", "1 camera"), Check("gpu", "CUDA", "warn", "cpu only", "install cuda torch"),
        ])
        assert doctor.main([]) == 0
        assert "READY" in capsys.readouterr().out

    def test_one_when_a_required_part_fails(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        monkeypatch.setattr(doctor, "run_checks", lambda cameras=True: [
            Check("mediapipe", "face models", "fail", "missing", "pip install --force-reinstall mediapipe==0.10.21"),
        ])
        assert doctor.main([]) == 1
        out = capsys.readouterr().out
        assert "NOT READY" in out and "fix: pip install --force-reinstall mediapipe==0.10.21" in out
        assert "Still possible" not in out  # demo needs MediaPipe too
