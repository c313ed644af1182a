"""Shutdown on a real subprocess (issue 7 check 5): SIGTERM and Ctrl-C stop every thread within 2 s,
close the recording so it stays playable, and exit 0; a second Ctrl-C forces the exit.

The CLI streams a looping real clip to an mp4 with ``--no-vcam --no-preview``; ``-v`` makes it log
"All threads stopped." (or name the threads still running) after it has released everything.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers import Streaming

STOP_WITHIN_S = 2.0
STARTUP_TIMEOUT_S = 90.0  # imports, MediaPipe and the avatar on a loaded 2-core machine


def cli_args(avatar: Path, clip: Path, out: Path, *, python: list[str] | None = None) -> list[str]:
    return [*(python or [sys.executable, "-m", "livehead.cli"]), "-v", "--avatar", str(avatar), "--source", str(clip),
            "--loop", "--no-vcam", "--no-preview", "--output", str(out), "--size", "320x240"]


def assert_playable(path: Path) -> int:
    """The mp4 opens with PyAV and every frame decodes; returns the frame count."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        frames = sum(1 for _ in container.decode(stream))
    assert frames > 0
    return frames


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_within_2s(signum, cli_env, avatar_path, driver_clip_path, tmp_path):
    out = tmp_path / "out.mp4"
    run = Streaming(cli_args(avatar_path, driver_clip_path, out), cli_env)
    try:
        run.wait_for("Calibrated", STARTUP_TIMEOUT_S)  # the first face was rendered: streaming
        time.sleep(1.0)
        code, elapsed = run.signal_and_time(signum)
    finally:
        run.kill()
    log = run.text
    print(f"{signal.Signals(signum).name}: exit {code} after {elapsed:.2f} s")
    assert "Traceback" not in log, log[-3000:]
    assert code == 0, f"exit code {code} after {signal.Signals(signum).name}:\n{log[-3000:]}"
    assert elapsed <= STOP_WITHIN_S, f"took {elapsed:.2f} s to exit after {signal.Signals(signum).name}"
    assert "All threads stopped." in log and "Threads still running" not in log, log[-3000:]
    assert "Recording written to" in log
    assert assert_playable(out) >= 10


def test_sigterm_during_startup_exits_0(cli_env, avatar_path, driver_clip_path, tmp_path):
    """SIGTERM while the avatar is still being prepared unwinds start-up instead of killing the process."""
    run = Streaming(cli_args(avatar_path, driver_clip_path, tmp_path / "out.mp4"), cli_env)
    try:
        run.wait_for("Preparing the avatar", STARTUP_TIMEOUT_S)
        code, elapsed = run.signal_and_time(signal.SIGTERM)
    finally:
        run.kill()
    print(f"SIGTERM during start-up: exit {code} after {elapsed:.2f} s")
    assert "Traceback" not in run.text, run.text[-3000:]
    assert code == 0, f"exit code {code}:\n{run.text[-3000:]}"
    assert elapsed <= STOP_WITHIN_S


def test_second_ctrl_c_forces_exit(cli_env, avatar_path, driver_clip_path, tmp_path):
    """Shutdown hangs (a device that never lets go, simulated by a ``close`` that sleeps): the first
    Ctrl-C starts the orderly stop, the second ends the process at once with 130."""
    hang = (
        "import sys, time\n"
        "import livehead.pipeline as pipeline\n"
        "def close(self):\n"
        "    print('CLOSE HANGS', file=sys.stderr, flush=True)\n"
        "    time.sleep(60)\n"
        "pipeline.Pipeline.close = close\n"
        "from livehead.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    run = Streaming(cli_args(avatar_path, driver_clip_path, tmp_path / "out.mp4", python=[sys.executable, "-c", hang]),
                    cli_env)
    try:
        run.wait_for("Calibrated", STARTUP_TIMEOUT_S)
        run.proc.send_signal(signal.SIGINT)
        run.wait_for("CLOSE HANGS", 10)
        time.sleep(0.5)
        assert run.proc.poll() is None, "the hang simulation did not hold the process"
        code, elapsed = run.signal_and_time(signal.SIGINT)
    finally:
        run.kill()
    print(f"second SIGINT: exit {code} after {elapsed:.2f} s")
    assert code == 130, f"exit code {code}:\n{run.text[-3000:]}"
    assert elapsed <= 1.0, f"second Ctrl-C took {elapsed:.2f} s"


def test_handler_stops_on_first_signal_and_exits_on_a_following_ctrl_c(monkeypatch):
    """The handler logic itself: the first signal asks the stream to stop; a Ctrl-C after it calls os._exit(130)."""
    from livehead.commands import run as run_module

    stops: list[int] = []
    exits: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(os, "_exit", exits.append)
    try:
        run_module._install_signal_handlers(lambda: stops.append(1))
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert stops == [1] and exits == []
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        assert exits == [130]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
