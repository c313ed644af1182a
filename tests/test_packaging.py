"""Installing LiveHead like a user: the built wheel in a fresh venv, ``python -m livehead``, a quiet start.

The wheel test builds ``livehead-*.whl`` from a copy of the source (``python -m build --wheel
--no-isolation``), installs it with ``--no-deps`` into a new venv that sees this suite's
site-packages through a ``.pth`` line (no download; the editable install's finder is not
activated that way), and runs the console script from a folder outside the source tree.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from helpers import REPO
from livehead.native import is_native_chatter, quiet_native_stderr


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No PYTHONPATH (the suite's points at the source tree), empty config/data dirs, no display/GPU."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(LIVEHEAD_CONFIG_DIR=str(tmp_path / "config"), LIVEHEAD_DATA_DIR=str(tmp_path / "data"),
               CUDA_VISIBLE_DEVICES="")
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="the wheel test needs `build` (the test extra): pip install -e '.[test]'")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "livehead", src / "livehead", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (path,) = dist.glob("livehead-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed in it; dependencies come from this suite's env."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    Path(purelib, "suite-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                        "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return bindir


class TestWheel:
    def test_carries_package_data_and_entry_points(self, wheel: Path) -> None:
        names = zipfile.ZipFile(wheel).namelist()
        assert "livehead/data/canonical_face.npy" in names  # loaded with importlib.resources
        assert "livehead/__main__.py" in names
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        archive = zipfile.ZipFile(wheel)
        assert "livehead = livehead.cli:main" in archive.read(f"{dist_info}/entry_points.txt").decode()
        requires = [line for line in archive.read(f"{dist_info}/METADATA").decode().splitlines()
                    if line.startswith("Requires-Dist:")]
        torch = [line for line in requires if line.split()[1].startswith("torch")]
        assert torch and all('extra == "neural"' in line for line in torch)  # the base install has no torch
        assert not any("==" in line.split(";")[0] for line in requires if "extra ==" not in line)  # ranges

    def test_console_script_runs_outside_the_source_tree(self, installed: Path, tmp_path: Path) -> None:
        env = _clean_env(tmp_path)
        where = subprocess.run([str(installed / "python"), "-c", "import livehead; print(livehead.__file__)"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout + where.stderr

        help_ = subprocess.run([str(installed / "livehead"), "--help"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)
        assert help_.returncode == 0 and "usage: livehead" in help_.stdout and "demo" in help_.stdout

        doctor = subprocess.run([str(installed / "livehead"), "doctor", "--no-cameras"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert "LiveHead doctor" in doctor.stdout, doctor.stderr
        assert "[ ok ] face models" in doctor.stdout and "[FAIL] mediapipe" not in doctor.stdout
        assert "[ ok ] numpy" in doctor.stdout  # the wheel's own Requires-Dist ranges are read

        out = tmp_path / "x.mp4"
        demo = subprocess.run([str(installed / "livehead"), "demo", "--frames", "30", "--output", str(out)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert demo.returncode == 0, demo.stderr[-2000:]
        assert _frame_count(out) == 30
        assert not [line for line in demo.stderr.splitlines() if is_native_chatter(line)], demo.stderr


def _frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_python_dash_m_livehead_is_the_cli(tmp_path: Path) -> None:
    env = {**_clean_env(tmp_path), "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "livehead", "--help"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("usage: livehead")


class TestQuietStart:
    """MediaPipe's native start-up lines stay off the terminal unless -v is given."""

    def run_demo(self, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        env = {**_clean_env(tmp_path), "PYTHONPATH": str(REPO)}
        return subprocess.run([sys.executable, "-m", "livehead", "demo", "--frames", "3", "--size", "320x240",
                               "--output", str(tmp_path / "q.mp4"), *extra],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    def test_default_level_prints_no_native_lines(self, tmp_path: Path) -> None:
        r = self.run_demo(tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        assert not [line for line in (r.stdout + r.stderr).splitlines() if is_native_chatter(line)], r.stderr

    def test_run_and_doctor_print_no_native_lines(self, tmp_path: Path, avatar_path: Path, short_clip: Path) -> None:
        env = {**_clean_env(tmp_path), "PYTHONPATH": str(REPO)}
        for args in (["--avatar", str(avatar_path), "--source", str(short_clip), "--no-vcam", "--no-preview",
                      "--output", str(tmp_path / "r.mp4")], ["doctor"]):
            r = subprocess.run([sys.executable, "-m", "livehead", *args], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=300)
            assert "Traceback" not in r.stderr, r.stderr[-2000:]
            assert not [line for line in (r.stdout + r.stderr).splitlines() if is_native_chatter(line)], r.stderr

    def test_verbose_shows_them(self, tmp_path: Path) -> None:
        r = self.run_demo(tmp_path, "-v")
        assert r.returncode == 0, r.stderr[-2000:]
        assert any(is_native_chatter(line) for line in r.stderr.splitlines()), r.stderr[-2000:]

    def test_only_native_chatter_is_dropped(self, capfd: pytest.CaptureFixture[str]) -> None:
        with quiet_native_stderr():
            os.write(2, b"W0000 00:00:1796089901.672709   12069 inference_feedback_manager.cc:114] Feedback\n")
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
            os.write(2, b"E0000 00:00:1796089901.672709   12069 calculator.cc:1] a native error stays\n")
            print("a Python line stays", file=sys.stderr)
        err = capfd.readouterr().err
        assert "Feedback" not in err and "XNNPACK" not in err
        assert "a native error stays" in err and "a Python line stays" in err
        os.write(2, b"after\n")  # fd 2 is back where it was
        assert capfd.readouterr().err == "after\n"
