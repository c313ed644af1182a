"""Preview-window hotkeys for real (issue 5): the `livehead` CLI runs under Xvfb with its OpenCV
preview window, and xdotool types into that window as a user would.

Needs the system tools Xvfb and xdotool (`make sysdeps` installs them); without them the test
skips and says so. The optional global-hotkey path (pynput) is not needed: the run logs that it
is off and the preview window's keys keep working.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _media import media
from helpers import REPO

TITLE = "LiveHead preview"
CLIP = "dreamtalk_W011_front_neutral_level1_001.mp4"


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} for the preview-window test: run `make sysdeps` (apt-get install xvfb xdotool)")
    return path


@pytest.fixture
def xvfb_display() -> str:
    """A private X server; ``-displayfd`` lets Xvfb pick a free display number itself."""
    xvfb = need_tool("Xvfb")
    need_tool("xdotool")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + 15.0
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_end, 16) if ready else b""
            if not chunk:
                proc.kill()
                _, err = proc.communicate(timeout=5)
                raise RuntimeError(f"Xvfb did not start within 15 s: {err.decode(errors='replace')[-2000:]}")
            number += chunk
        yield f":{int(number)}"
    finally:
        os.close(read_end)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        if proc.stderr is not None:
            proc.stderr.close()


def xdotool(display: str, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True,
                          text=True, timeout=timeout)


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen, log_path: Path):
    """Poll ``condition()`` until it returns something truthy; fail early if the CLI exits."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"livehead exited ({proc.returncode}) before {what}:\n{tail(log_path)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}:\n{tail(log_path)}")
        time.sleep(0.2)


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


def test_pressing_2_in_the_preview_switches_to_the_second_avatar(
    xvfb_display: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    avatars = tmp_path / "avatars"
    avatars.mkdir()
    shutil.copyfile(media("aniportrait_Aragaki.png"), avatars / "01_aragaki.png")
    shutil.copyfile(media("aniportrait_lyl.png"), avatars / "02_lyl.png")
    log_path = tmp_path / "livehead.log"
    env = {**cli_env, "DISPLAY": xvfb_display}
    command = [sys.executable, "-m", "livehead.cli", "--avatars", str(avatars), "--source", str(media(CLIP)),
               "--loop", "--no-vcam", "--size", "640x360", "-v"]
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        def window() -> str | None:
            found = xdotool(xvfb_display, "search", "--name", f"^{TITLE}$")
            return found.stdout.split()[0] if found.returncode == 0 and found.stdout.strip() else None

        window_id = wait_for(window, 60.0, f"the {TITLE!r} window", proc, log_path)
        focus = xdotool(xvfb_display, "windowfocus", "--sync", window_id)
        assert focus.returncode == 0, focus.stderr
        assert xdotool(xvfb_display, "key", "2").returncode == 0
        wait_for(lambda: "Avatar 2: 02_lyl.png" in log_path.read_text(errors="replace"), 20.0,
                 "avatar 2 to be selected after pressing 2", proc, log_path)
        assert xdotool(xvfb_display, "key", "q").returncode == 0
        try:
            returncode = proc.wait(20.0)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"livehead kept running 20 s after Q:\n{tail(log_path)}") from None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)

    log = log_path.read_text(errors="replace")
    assert returncode == 0, f"livehead exited with {returncode}:\n{tail(log_path)}"
    assert "Traceback" not in log, tail(log_path)
    assert "Global hotkeys are off" in log  # pynput is optional: said once, and the run goes on
    assert log.index("Avatar 2: 02_lyl.png") < log.index("Streamed ")  # selected while streaming
