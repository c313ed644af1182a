"""Recordings made by the real CLI (issue 12): as long as the clip whatever was dropped, every frame
of a clip when nothing is watched live, playable after a SIGKILL, finished on SIGHUP, and a disk that
fills up mid-run is a failure (exit 1) with the partial file kept, never "Recording written".

Durations and frame counts are read from the source clip itself with PyAV, and the recordings are
decoded the same way.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from _media import media
from helpers import REPO, Streaming, assert_clean_exit
from livehead.sinks.output_path import partial_path
from livehead.sinks.recorder import read_back

CLIP = "liveportrait_d20.mp4"  # a talking clip with audio, as a user would record from
STARTUP_TIMEOUT_S = 90.0


def clip_times(path: Path) -> tuple[list[float], float]:
    """(presentation time of every video frame, s from the first; one frame's duration) of a clip."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream)]
        step = float(1 / stream.average_rate)
    return [t - times[0] for t in times], step


def args(avatar: Path, clip: Path, out: Path, *extra: str) -> list[str]:
    return ["--avatar", str(avatar), "--source", str(clip), "--no-vcam", "--no-preview", "--output", str(out),
            "--size", "320x240", *extra]


def test_clip_to_file_renders_every_frame_in_order_at_the_clips_times(run_cli, avatar_path, tmp_path):
    clip = media(CLIP)
    source_times, step = clip_times(clip)
    out = tmp_path / "o.mp4"
    result = run_cli(*args(avatar_path, clip, out), timeout=300)
    assert_clean_exit(result, 0, "Recording written to", "every frame rendered in order")

    recorded, _ = clip_times(out)
    _, duration, _ = read_back(out)
    print(f"{len(source_times)} source frames, {source_times[-1] + step:.3f} s → {len(recorded)} frames, {duration:.3f} s")
    assert len(recorded) == len(source_times), "not every frame of the clip was rendered"
    assert recorded == pytest.approx(source_times, abs=1e-4), "frames are not at the clip's own times"
    assert duration == pytest.approx(source_times[-1] + step, abs=1e-3)


def test_realtime_recording_lasts_as_long_as_the_clip(run_cli, avatar_path, tmp_path):
    """Played in real time on a loaded machine, frames are dropped; the rest keep their times."""
    clip = media(CLIP)
    source_times, step = clip_times(clip)
    out = tmp_path / "o.mp4"
    result = run_cli(*args(avatar_path, clip, out, "--realtime"), timeout=300)
    assert_clean_exit(result, 0, "Recording written to", "played in real time")

    recorded, _ = clip_times(out)
    _, duration, _ = read_back(out)
    expected = source_times[-1] + step
    print(f"clip {expected:.3f} s, {len(source_times)} frames → recording {duration:.3f} s, {len(recorded)} frames")
    assert duration == pytest.approx(expected, abs=step), f"{duration:.3f} s recorded from a {expected:.3f} s clip"
    assert all(b > a for a, b in zip(recorded, recorded[1:])), "frames out of order"


def _streaming(cli_env, avatar: Path, out: Path) -> Streaming:
    """A looping clip played in real time (like a camera) into ``out``."""
    argv = [sys.executable, "-m", "livehead.cli", *args(avatar, media(CLIP), out, "--loop", "--realtime")]
    run = Streaming(argv, cli_env)
    run.wait_for("Calibrated", STARTUP_TIMEOUT_S)  # the first frame was rendered: the recording has started
    return run


def test_sigkill_after_3_s_leaves_a_playable_recording(cli_env, avatar_path, tmp_path):
    out = tmp_path / "o.mp4"
    run = _streaming(cli_env, avatar_path, out)
    try:
        time.sleep(3.0)
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(10)
    finally:
        run.kill()
    assert not out.exists()
    packets, duration, size = read_back(partial_path(out))
    with av.open(str(partial_path(out))) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    print(f"killed after 3 s: {partial_path(out).name} decodes {decoded} frames, {duration:.2f} s")
    assert size == (320, 240) and decoded == packets
    assert duration >= 2.0, f"only {duration:.2f} s of a 3 s recording survived the kill"


def test_sighup_finishes_the_recording(cli_env, avatar_path, tmp_path):
    """The terminal closing (or SSH dropping) stops the stream like SIGTERM: the recording is finished."""
    out = tmp_path / "o.mp4"
    run = _streaming(cli_env, avatar_path, out)
    try:
        time.sleep(1.5)
        code, _ = run.signal_and_time(signal.SIGHUP)
    finally:
        run.kill()
    assert "Traceback" not in run.text, run.text[-3000:]
    assert code == 0, f"exit {code} after SIGHUP:\n{run.text[-3000:]}"
    assert "Recording written to" in run.text and not partial_path(out).exists()
    packets, duration, _ = read_back(out)
    assert packets > 0 and duration >= 1.0


def test_disk_filling_up_mid_recording_fails_the_run(cli_env, avatar_path, tmp_path):
    """Writes fail once the file reaches 60 kB (RLIMIT_FSIZE, as a full disk does): exit 1, the reason, the
    partial file named and kept; no "Recording written", no file under the final name."""
    full_disk = ("import resource, signal, sys\n"
                 "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                 "resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, resource.RLIM_INFINITY))\n"
                 "from livehead.cli import main\n"
                 "sys.exit(main(sys.argv[1:]))\n")
    out = tmp_path / "o.mp4"
    result = subprocess.run([sys.executable, "-c", full_disk, *args(avatar_path, media(CLIP), out)], cwd=REPO,
                            env=cli_env, capture_output=True, text=True, timeout=300)
    assert_clean_exit(result, 1, "Recording failed", "File too large", str(partial_path(out)))
    assert "Recording written" not in result.stdout + result.stderr
    assert not out.exists() and partial_path(out).exists()
