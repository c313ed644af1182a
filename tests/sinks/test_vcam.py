"""The virtual camera's doctor check on Linux, against a fake sysfs tree; the fix text has one owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehead.sinks import vcam
from livehead.stages import cameras


class TestCheckVirtualCameraLinux:
    @pytest.fixture
    def sysfs(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        monkeypatch.setattr(vcam, "V4L2LOOPBACK_MODULE", tmp_path / "module" / "v4l2loopback")
        monkeypatch.setattr(cameras, "VIRTUAL_VIDEO_DIR", tmp_path / "virtual")
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
        [check] = vcam.check_virtual_camera_linux()
        assert check.status == "fail" and check.fix.startswith("sudo modprobe v4l2loopback devices=1")
        assert "v4l2loopback-dkms" in check.fix

    def test_loaded_without_devices(self, sysfs: Path) -> None:
        self.load_module(sysfs, "")
        [check] = vcam.check_virtual_camera_linux()
        assert check.status == "fail" and "modprobe -r" in check.fix

    def test_devices_labels_and_exclusive_caps(self, sysfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.load_module(sysfs, "Y,N")
        self.add_device(sysfs, 10, "LiveHead Camera")
        self.add_device(sysfs, 2, "Dummy")
        monkeypatch.setattr(vcam.os, "access", lambda path, mode: True)
        checks = vcam.check_virtual_camera_linux()
        assert [c.name for c in checks] == ['/dev/video2 "Dummy"', '/dev/video10 "LiveHead Camera"']
        assert [c.status for c in checks] == ["ok", "warn"]
        assert "exclusive_caps=1" in checks[1].fix

    def test_not_writable(self, sysfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.load_module(sysfs, "Y")
        self.add_device(sysfs, 10, "LiveHead Camera")
        monkeypatch.setattr(vcam.os, "access", lambda path, mode: False)
        [check] = vcam.check_virtual_camera_linux()
        assert check.status == "fail" and "usermod -a -G video" in check.fix


def test_the_sink_error_and_the_doctor_name_the_same_modprobe_line() -> None:
    assert vcam.V4L2LOOPBACK_FIX in vcam.virtual_camera_fix("Linux")
    assert 'card_label="LiveHead Camera" exclusive_caps=1' in vcam.V4L2LOOPBACK_FIX
