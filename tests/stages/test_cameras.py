"""Camera discovery's doctor check: working cameras listed, loopback outputs are not cameras."""

from __future__ import annotations

from livehead.stages import cameras
from livehead.stages.cameras import CameraInfo


class TestCheckCameras:
    def test_none(self) -> None:
        [check] = cameras.doctor_checks([])
        assert check.status == "fail" and "--source clip.mp4" in check.fix

    def test_working_and_broken(self) -> None:
        cams = [CameraInfo(0, True, 1280, 720, "Integrated"), CameraInfo(1, True, note="opens but delivers no frame")]
        [check] = cameras.doctor_checks(cams)
        assert check.status == "ok" and "0: 1280x720 Integrated" in check.detail

    def test_loopback_is_not_a_camera(self) -> None:
        [check] = cameras.doctor_checks([CameraInfo(10, False, name="LiveHead Camera", note="v4l2loopback virtual camera (an output)")])
        assert check.status == "fail"
