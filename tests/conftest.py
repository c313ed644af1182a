"""Shared fixtures: media LiveHead generates itself (avatar photo, scripted driver clip: they need
no ../shared), real media (skipped with a reason when ../shared/media is absent), a recording
virtual-camera backend, the CLI in a subprocess, torch on one thread, and the gate that keeps the
soak test out of the normal run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from _media import media
from helpers import REPO

MOVING_CLIP = "tpsmm_driving.mp4"  # 410x412, speech with head motion and roll
GENERATED_SIZE = 256  # side of the generated driver clip: keeps tracking cheap


# ---------------------------------------------------------------------------------------------
# Slow tests (the soak) run only when asked for with -m slow: `make soak`.


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow soak test: run it with `make soak` (pytest -m slow tests/pipeline/test_soak.py)")
    for item in items:
        if "slow" in item.keywords and item.path.name == "test_soak.py":
            item.add_marker(skip)


# ---------------------------------------------------------------------------------------------
# torch on one thread, as the golden fixtures were made: pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def one_torch_thread():
    """``torch.set_num_threads(1)`` for a module's tests and its module-scoped fixtures, restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Media


@dataclass(frozen=True)
class GeneratedMedia:
    """Media LiveHead makes itself, so end-to-end tests run on a bare clone without ../shared."""

    avatar: Path  # the bundled public-domain portrait (scikit-image's astronaut) as a PNG
    clip: Path  # that portrait animated by `livehead demo`'s scripted driver: talk, nod, turn, blink


@pytest.fixture(scope="session")
def generated_media(tmp_path_factory: pytest.TempPathFactory) -> GeneratedMedia:
    """Written once per session by the code behind ``livehead demo`` (mesh engine, H.264 recorder)."""
    import cv2

    from livehead.avatars.demo import demo_photo
    from livehead.commands import demo

    folder = tmp_path_factory.mktemp("generated")
    avatar = folder / "astronaut.png"
    assert cv2.imwrite(str(avatar), cv2.cvtColor(demo_photo(), cv2.COLOR_RGB2BGR))
    clip = folder / "scripted.mp4"
    size = f"{GENERATED_SIZE}x{GENERATED_SIZE}"
    assert demo.main(["--output", str(clip), "--size", size, "--fps", "25", "--seconds", "4"]) == 0
    return GeneratedMedia(avatar=avatar, clip=clip)


@pytest.fixture(scope="session")
def avatar_path(generated_media: GeneratedMedia) -> Path:
    return generated_media.avatar


@pytest.fixture(scope="session")
def driver_clip_path(generated_media: GeneratedMedia) -> Path:
    return generated_media.clip


@pytest.fixture(scope="session")
def driver_frames(driver_clip_path: Path) -> list[np.ndarray]:
    """The scripted driver clip decoded to RGB frames (100 × 256×256 at 25 fps)."""
    from helpers import read_clip

    return read_clip(driver_clip_path)


@pytest.fixture(scope="session")
def moving_frames() -> list[np.ndarray]:
    """The first 120 frames of the clip with head motion, RGB, 256×256 to keep tracking cheap."""
    import cv2

    from helpers import read_clip

    frames = read_clip(media(MOVING_CLIP), limit=120)
    return [cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA) for f in frames]


@pytest.fixture(scope="session")
def avatar_640x360(avatar_path: Path):
    """The avatar photo decoded and tracked at the working size of a 640×360 output."""
    from livehead.avatars.photo import load_avatar

    return load_avatar(avatar_path, working_size=(640, 360))


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory, driver_frames: list[np.ndarray]) -> Path:
    """A 10-frame H.264 cut of the driver clip in a temp folder, so CLI runs end quickly."""
    import av

    path = tmp_path_factory.mktemp("clips") / "short.mp4"
    height, width = driver_frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in driver_frames[:10]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LiveHead data folder (``$LIVEHEAD_DATA_DIR``) for this test."""
    monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path))
    return tmp_path


# ---------------------------------------------------------------------------------------------
# A recording virtual camera


@pytest.fixture
def vcam_backend():
    """Registers a fresh ``RecordingBackend`` class with pyvirtualcam; yields ``(name, cls)``.

    ``cls.instances`` holds every camera opened through it. pyvirtualcam 0.15 has no
    ``unregister_backend``, so the entry is removed from its ``BACKENDS`` registry afterwards.
    """
    import pyvirtualcam
    from pyvirtualcam import camera as pvc_camera

    from helpers import RecordingBackend

    name = "livehead-test-recorder"
    cls = RecordingBackend.subclass()
    pyvirtualcam.register_backend(name, cls)
    try:
        yield name, cls
    finally:
        pvc_camera.BACKENDS.pop(name, None)


# ---------------------------------------------------------------------------------------------
# The real CLI in a subprocess


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a CLI subprocess: empty config and data folders, no display, no GPU."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["LIVEHEAD_CONFIG_DIR"] = str(tmp_path / "config")
    env["LIVEHEAD_DATA_DIR"] = str(tmp_path / "data")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]):
    """``run_cli(*args, timeout=60)`` → CompletedProcess of ``python -m livehead.cli args``, run from the repo."""

    def run(*args: str | os.PathLike[str], timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "livehead.cli", *map(str, args)],
            cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=timeout,
        )

    return run
