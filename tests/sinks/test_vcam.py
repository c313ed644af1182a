"""The virtual camera: frames reach the pyvirtualcam backend whole, it closes once, a missing device names
the fix; its doctor check on Linux, against a fake sysfs tree; the fix text has one owner."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from livehead.sinks import SinkUnavailable, vcam
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


class TestVirtualCameraSink:
    def test_frames_arrive_whole_and_in_order(self, vcam_backend) -> None:
        name, backend_cls = vcam_backend
        backend_cls.thumb_step = 1
        sink = vcam.VirtualCameraSink(width=64, height=48, fps=30.0, backend=name)
        frames = [np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8) for i in range(3)]
        for i, frame in enumerate(frames):
            sink.send(frame, i / 30)
        sink.close()
        (camera,) = backend_cls.instances
        assert (camera.width, camera.height) == (64, 48)
        for sent, got in zip(frames, camera.thumbs, strict=True):
            np.testing.assert_array_equal(got, sent)
        assert sink.device == camera.device() and sink.backend == name

    def test_close_reaches_the_device_once(self, vcam_backend) -> None:
        name, backend_cls = vcam_backend
        sink = vcam.VirtualCameraSink(width=64, height=48, fps=30.0, backend=name)
        sink.close()
        sink.close()
        assert backend_cls.instances[0].close_calls == 1

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2loopback is the Linux backend")
    def test_a_missing_device_names_the_fix(self) -> None:
        with pytest.raises(SinkUnavailable) as info:
            vcam.VirtualCameraSink(width=64, height=48, fps=30.0, device="/dev/livehead-test-no-such-device")
        assert vcam.virtual_camera_fix("Linux") in str(info.value)
        assert "/dev/livehead-test-no-such-device" in str(info.value)  # what pyvirtualcam said comes along
