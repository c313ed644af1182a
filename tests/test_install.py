"""What LiveHead needs installed: ranges read from the project, the Python and package checks name their fix."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from helpers import REPO
from livehead import install
from livehead.runtime import checks as runtime_checks


def test_ranges_read_from_project() -> None:
    from packaging.specifiers import SpecifierSet

    ranges = install._ranges()
    assert "0.10.21" in SpecifierSet(ranges["mediapipe"]) and "0.10.22" not in SpecifierSet(ranges["mediapipe"])
    assert "1.26.4" in SpecifierSet(ranges["numpy"]) and "2.0.0" not in SpecifierSet(ranges["numpy"])
    assert "torch" in ranges  # the neural extra's requirements are read too


def test_version_outside_range_warns_with_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "_ranges", lambda: {"numpy": "<2,>=1.26", "mediapipe": "<0.10.22,>=0.10.21"})
    real = install._version
    monkeypatch.setattr(install, "_version", lambda dist: "1.25.2" if dist == "numpy" else real(dist))
    checks = {c.name: c for c in install.check_packages()}
    assert checks["numpy"].status == "warn" and "1.25.2 installed, LiveHead needs numpy<2,>=1.26" in checks["numpy"].detail
    assert checks["numpy"].fix == 'pip install "numpy<2,>=1.26"'
    assert checks["mediapipe"].status == "ok"


def test_missing_torch_names_the_neural_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = install._version
    monkeypatch.setattr(install, "_version", lambda dist: None if dist == "torch" else real(dist))
    checks = {c.name: c for c in install.check_packages()}
    assert checks["torch"].status == "warn" and checks["torch"].fix.endswith('-m pip install "livehead[neural]"')
    [cuda] = [c for c in runtime_checks.check_gpu({"cuda": False}) if c.name == "CUDA"]
    assert "livehead[neural]" in cuda.fix and "--index-url https://download.pytorch.org/whl/cu" in cuda.fix


@pytest.mark.parametrize("version", [(3, 9), (3, 13)])
def test_python_outside_range_names_fix(monkeypatch: pytest.MonkeyPatch, version: tuple[int, int]) -> None:
    monkeypatch.setattr(install.sys, "version_info", SimpleNamespace(major=version[0], minor=version[1], micro=0))
    [check] = install.check_python()
    assert check.status == "fail" and "3.10–3.12" in check.detail and "python3.12 -m venv" in check.fix


@pytest.mark.parametrize("version", [(3, 10), (3, 11), (3, 12)])
def test_supported_pythons_pass(monkeypatch: pytest.MonkeyPatch, version: tuple[int, int]) -> None:
    monkeypatch.setattr(install.sys, "version_info", SimpleNamespace(major=version[0], minor=version[1], micro=0))
    assert [c.status for c in install.check_python()] == ["ok"]


# A light install (`pip install livehead`, no neural extra), simulated in a subprocess: the extra's
# modules are marked absent in sys.modules, so `import torch` fails and find_spec says "not installed".
LIGHT_PRELUDE = """
import sys
from livehead.extras import EXTRAS
for name in EXTRAS["neural"]:
    sys.modules[name] = None
"""


def run_light(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LIGHT_PRELUDE + code], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_light_install_collects_the_whole_suite() -> None:
    """Every test module imports on a light install (CI's Python 3.10/3.12 legs): neural tests skip
    naming the pip line instead of failing collection."""
    done = run_light("import pytest; sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests']))")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "needs the optional 'neural' extra" in done.stdout


def test_light_install_doctor_and_models_work() -> None:
    """Every doctor check module imports (the catalog is plain data: it lists the checkpoints) and
    `livehead models` prints them without torch; only --verify, which loads a file, asks for the extra."""
    done = run_light("""
from livehead.commands.doctor import run_checks
from livehead.cli import main
broken = [c.name for c in run_checks(cameras=False) if c.detail.startswith("cannot be imported")]
assert not broken, broken
assert any(c.area == "checkpoints" for c in run_checks(cameras=False))
assert "torch" not in sys.modules or sys.modules["torch"] is None
sys.exit(main(["models", "--json"]))
""")
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"checkpoints_dir"' in done.stdout
