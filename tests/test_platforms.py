"""Platform-specific paths run here with ``sys.platform`` (and ``platform.system``) monkeypatched:
virtual camera backend and its fix text, camera API, config/data folders, global hotkeys."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from livehead.config import paths
from livehead.sinks import vcam
from livehead.stages import capture
from livehead.ui import hotkeys
from livehead.ui.display import display_problem

PLATFORMS = {"linux": "Linux", "win32": "Windows", "darwin": "Darwin"}  # sys.platform -> platform.system()


@pytest.fixture(params=list(PLATFORMS))
def on_platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Pretend to run on ``linux``, ``win32`` or ``darwin``; yields that ``sys.platform`` value."""
    monkeypatch.setattr(sys, "platform", request.param)
    monkeypatch.setattr("platform.system", lambda: PLATFORMS[request.param])
    return request.param


class TestVirtualCamera:
    def test_fix_names_the_platforms_backend(self, on_platform: str) -> None:
        fix = vcam.virtual_camera_fix()
        if on_platform == "linux":
            assert "sudo modprobe v4l2loopback" in fix and "OBS" not in fix
        else:
            assert "OBS Virtual Camera" in fix and "modprobe" not in fix

    def test_doctor_checks_the_platforms_backend(self, on_platform: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
        import pyvirtualcam

        opened: list[dict] = []

        def no_obs(**kwargs):
            opened.append(kwargs)
            raise RuntimeError("'obs' backend: OBS Virtual Camera is not installed")

        monkeypatch.setattr(pyvirtualcam, "Camera", no_obs)
        monkeypatch.setattr(vcam, "V4L2LOOPBACK_MODULE", tmp_path / "no-module")
        [check] = vcam.doctor_checks()
        assert check.status == "fail"
        if on_platform == "linux":
            assert check.name == "v4l2loopback" and check.fix.startswith("sudo modprobe v4l2loopback") and not opened
        else:
            assert check.name == "OBS Virtual Camera" and "install OBS Studio" in check.fix and opened
            assert "OBS Virtual Camera is not installed" in check.detail

    def test_unknown_platform_says_what_still_works(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "platform", "freebsd14")
        monkeypatch.setattr("platform.system", lambda: "FreeBSD")
        [check] = vcam.doctor_checks()
        assert check.status == "fail" and "--output out.mp4" in check.fix
        assert "--output out.mp4" in vcam.virtual_camera_fix()


def test_camera_api_is_v4l2_only_on_linux(on_platform: str) -> None:
    import cv2

    assert capture._capture_api() == (cv2.CAP_V4L2 if on_platform == "linux" else cv2.CAP_ANY)


class TestFolders:
    @pytest.fixture
    def platformdirs_for(self, on_platform: str, monkeypatch: pytest.MonkeyPatch):
        """platformdirs re-imported for the pretended platform (it picks its class at import time)."""
        import platformdirs

        monkeypatch.delenv("LIVEHEAD_CONFIG_DIR", raising=False)
        monkeypatch.delenv("LIVEHEAD_DATA_DIR", raising=False)
        monkeypatch.setenv("HOME", "/home/me")
        for name, value in (("XDG_CONFIG_HOME", "/home/me/.config"), ("XDG_DATA_HOME", "/home/me/.local/share")):
            if on_platform == "linux":
                monkeypatch.setenv(name, value)
            else:  # newer platformdirs honour XDG variables on macOS too; a Mac user rarely sets them
                monkeypatch.delenv(name, raising=False)
        importlib.reload(platformdirs)
        if on_platform == "win32":  # the real lookup asks the Windows shell API
            import platformdirs.windows

            folders = {"CSIDL_APPDATA": "C:/Users/me/AppData/Roaming", "CSIDL_LOCAL_APPDATA": "C:/Users/me/AppData/Local"}
            monkeypatch.setattr(platformdirs.windows, "get_win_folder", folders.__getitem__)
        try:
            yield on_platform
        finally:
            monkeypatch.undo()
            importlib.reload(platformdirs)

    def test_config_and_data_dirs_follow_the_platform(self, platformdirs_for: str) -> None:
        config, data = paths.config_dir().as_posix(), paths.user_data_dir().as_posix()
        expected = {
            "linux": ("/home/me/.config/livehead", "/home/me/.local/share/livehead"),
            "win32": ("C:/Users/me/AppData/Local/livehead/livehead", "C:/Users/me/AppData/Local/livehead/livehead"),
            "darwin": ("/home/me/Library/Application Support/livehead", "/home/me/Library/Application Support/livehead"),
        }[platformdirs_for]
        assert (config, data) == expected

    def test_environment_overrides_every_platform(self, on_platform: str, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
        monkeypatch.setenv("LIVEHEAD_CONFIG_DIR", str(tmp_path / "c"))
        monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path / "d"))
        assert paths.config_dir() == tmp_path / "c" and paths.user_data_dir() == tmp_path / "d"


class TestHotkeys:
    def test_display_needed_only_on_linux(self, on_platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        why = display_problem()
        if on_platform == "linux":
            assert why is not None and "DISPLAY is not set" in why
        else:
            assert why is None

    def test_wayland_without_xwayland_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "platform", "linux")
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
        why = display_problem()
        assert why is not None and "Wayland" in why and "XWayland" in why

    def test_doctor_hotkeys_check(self, on_platform: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object() if name == "pynput" else None)
        [check] = hotkeys.doctor_checks()
        assert check.status == ("warn" if on_platform == "linux" else "ok")
