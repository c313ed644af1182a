"""`livehead doctor` / `livehead cameras`: every missing part reported with its fix, right exit code."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from livehead.commands import doctor
from livehead.commands.doctor import CameraInfo, Check

ROOT = Path(__file__).resolve().parent.parent


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


class TestCamerasCommand:
    @pytest.mark.skipif(has_camera_nodes(), reason="this machine has camera devices")
    def test_says_clearly_when_none(self) -> None:
        result = run_cli("cameras")
        assert result.returncode == 1 and "No camera found" in result.stdout
        assert "Traceback" not in result.stderr


class TestCheckCameras:
    def test_none(self) -> None:
        [check] = doctor.check_cameras([])
        assert check.status == "fail" and "--source clip.mp4" in check.fix

    def test_working_and_broken(self) -> None:
        cams = [CameraInfo(0, True, 1280, 720, "Integrated"), CameraInfo(1, True, note="opens but delivers no frame")]
        [check] = doctor.check_cameras(cams)
        assert check.status == "ok" and "0: 1280x720 Integrated" in check.detail

    def test_loopback_is_not_a_camera(self) -> None:
        [check] = doctor.check_cameras([CameraInfo(10, False, name="LiveHead Camera", note="v4l2loopback virtual camera (an output)")])
        assert check.status == "fail"


class TestCheckVirtualCameraLinux:
    @pytest.fixture
    def sysfs(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setattr(doctor, "V4L2LOOPBACK_MODULE", tmp_path / "module" / "v4l2loopback")
        monkeypatch.setattr(doctor, "VIRTUAL_VIDEO_DIR", tmp_path / "virtual")
        return tmp_path

    def add_device(self, sysfs: Path, number: int, label: str) -> None:
        node = sysfs / "virtual" / f"video{number}"
        node.mkdir(parents=True)
        (node / "name").write_text(label + "\n")

    def load_module(self, sysfs: Path, exclusive: str) -> None:
        params = sysfs / "module" / "v4l2loopback" / "parameters"
        params.mkdir(parents=True)
        (params / "exclusive_caps").write_text(exclusive + "\n")

    def test_not_loaded(self, sysfs: Path) -> None:
        [check] = doctor.check_virtual_camera_linux()
        assert check.status == "fail" and check.fix.startswith("sudo modprobe v4l2loopback devices=1")
        assert "v4l2loopback-dkms" in check.fix

    def test_loaded_without_devices(self, sysfs: Path) -> None:
        self.load_module(sysfs, "")
        [check] = doctor.check_virtual_camera_linux()
        assert check.status == "fail" and "modprobe -r" in check.fix

    def test_devices_labels_and_exclusive_caps(self, sysfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.load_module(sysfs, "Y,N")
        self.add_device(sysfs, 10, "LiveHead Camera")
        self.add_device(sysfs, 2, "Dummy")
        monkeypatch.setattr(doctor.os, "access", lambda path, mode: True)
        checks = doctor.check_virtual_camera_linux()
        assert [c.name for c in checks] == ['/dev/video2 "Dummy"', '/dev/video10 "LiveHead Camera"']
        assert [c.status for c in checks] == ["ok", "warn"]
        assert "exclusive_caps=1" in checks[1].fix

    def test_not_writable(self, sysfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.load_module(sysfs, "Y")
        self.add_device(sysfs, 10, "LiveHead Camera")
        monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)
        [check] = doctor.check_virtual_camera_linux()
        assert check.status == "fail" and "usermod -a -G video" in check.fix


class TestCheckEngines:
    GPU = {"cuda": True, "name": "NVIDIA H100", "capability": "9.0", "torch_cuda_build": "12.8"}

    @pytest.fixture
    def engines(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        directory = tmp_path / "engines"
        directory.mkdir()
        monkeypatch.setattr(doctor, "_engine_dirs", lambda: [directory])
        return directory

    def entry(self, mf: object, directory: Path, graph: str, **kw: object) -> object:
        onnx = directory / f"fomm_{graph}.onnx"
        onnx.write_bytes(graph.encode())
        fields = dict(engine="fomm", graph=graph, precision="fp16", image_size=256, checkpoint="vox-cpk.pth.tar",
                      checkpoint_sha256="c0ffee", onnx=onnx.name, onnx_sha256=mf.sha256_file(onnx),  # type: ignore[attr-defined]
                      inputs={}, outputs={}, build_command=f"python build_engines.py --engine fomm --graph {graph}")
        fields.update(kw)
        return mf.ManifestEntry(**fields)  # type: ignore[attr-defined]

    def test_none(self, engines: Path) -> None:
        [check] = doctor.check_engines({"cuda": False}, None)
        assert check.status == "info" and "build_engines.py" in check.detail

    def test_match_mismatch_and_onnx_only(self, engines: Path) -> None:
        mf = pytest.importorskip("livehead.runtime.manifest")
        (engines / "a.plan").write_bytes(b"x")
        (engines / "b.plan").write_bytes(b"x")
        manifest = mf.Manifest(path=engines / "manifest.json")
        plan = dict(tensorrt_version="11.0.0", gpu_name="NVIDIA H100")
        manifest.put(self.entry(mf, engines, "kp", plan="a.plan", compute_capability="9.0", **plan))
        manifest.put(self.entry(mf, engines, "gen", plan="b.plan", compute_capability="8.6", **plan))
        manifest.put(self.entry(mf, engines, "dense"))
        manifest.save()
        checks = {c.name: c for c in doctor.check_engines(self.GPU, "11.0.0")}
        assert checks["fomm_kp_fp16"].status == "ok"
        assert checks["fomm_gen_fp16"].status == "warn" and "sm_86" in checks["fomm_gen_fp16"].detail
        assert checks["fomm_gen_fp16"].fix.startswith("python build_engines.py --engine fomm --graph gen")
        assert checks["fomm_dense_fp16"].status == "ok" and "onnxruntime" in checks["fomm_dense_fp16"].detail
        no_gpu = {c.name: c for c in doctor.check_engines({"cuda": False}, None)}
        assert no_gpu["fomm_kp_fp16"].status == "warn" and "no CUDA GPU" in no_gpu["fomm_kp_fp16"].detail

    @pytest.mark.parametrize("text", ["not json", "[]", '{"format": 99}', '{"format": 1, "entries": {"x": {"bogus": 1}}}'])
    def test_malformed_manifest_never_raises(self, engines: Path, text: str) -> None:
        pytest.importorskip("livehead.runtime.manifest")
        (engines / "manifest.json").write_text(text)
        for check in doctor.check_engines(self.GPU, None):
            assert check.status in ("info", "warn")


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


def test_ranges_read_from_project() -> None:
    from packaging.specifiers import SpecifierSet

    ranges = doctor._ranges()
    assert "0.10.21" in SpecifierSet(ranges["mediapipe"]) and "0.10.22" not in SpecifierSet(ranges["mediapipe"])
    assert "1.26.4" in SpecifierSet(ranges["numpy"]) and "2.0.0" not in SpecifierSet(ranges["numpy"])
    assert "torch" in ranges  # the neural extra's requirements are read too


def test_version_outside_range_warns_with_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_ranges", lambda: {"numpy": "<2,>=1.26", "mediapipe": "<0.10.22,>=0.10.21"})
    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda dist: "1.25.2" if dist == "numpy" else real(dist))
    checks = {c.name: c for c in doctor.check_packages()}
    assert checks["numpy"].status == "warn" and "1.25.2 installed, LiveHead needs numpy<2,>=1.26" in checks["numpy"].detail
    assert checks["numpy"].fix == 'pip install "numpy<2,>=1.26"'
    assert checks["mediapipe"].status == "ok"


def test_missing_torch_names_the_neural_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda dist: None if dist == "torch" else real(dist))
    checks = {c.name: c for c in doctor.check_packages()}
    assert checks["torch"].status == "warn" and checks["torch"].fix.endswith('-m pip install "livehead[neural]"')
    [cuda] = [c for c in doctor.check_gpu({"cuda": False}) if c.name == "CUDA"]
    assert "livehead[neural]" in cuda.fix and "--index-url https://download.pytorch.org/whl/cu" in cuda.fix


@pytest.mark.parametrize("version", [(3, 9), (3, 13)])
def test_python_outside_range_names_fix(monkeypatch: pytest.MonkeyPatch, version: tuple[int, int]) -> None:
    monkeypatch.setattr(doctor.sys, "version_info", SimpleNamespace(major=version[0], minor=version[1], micro=0))
    [check] = doctor.check_python()
    assert check.status == "fail" and "3.10–3.12" in check.detail and "python3.12 -m venv" in check.fix


@pytest.mark.parametrize("version", [(3, 10), (3, 11), (3, 12)])
def test_supported_pythons_pass(monkeypatch: pytest.MonkeyPatch, version: tuple[int, int]) -> None:
    monkeypatch.setattr(doctor.sys, "version_info", SimpleNamespace(major=version[0], minor=version[1], micro=0))
    assert [c.status for c in doctor.check_python()] == ["ok"]


def test_hotkeys_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    [check] = doctor.check_hotkeys()
    assert check.status == "warn" and check.fix


def test_checkpoints_found_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = pytest.importorskip("livehead.models.catalog")
    monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path))
    entry = catalog.CATALOG[0]
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / entry.file_names[0]).write_bytes(b"x")
    checks = {c.name.split(" ")[0]: c for c in doctor.check_checkpoints()}
    assert checks[entry.name].status == "ok"
    missing = [c for c in checks.values() if c.status == "warn"]
    assert missing and all(str(tmp_path / "checkpoints") in c.fix for c in missing)
