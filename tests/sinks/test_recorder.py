"""The recorder (issue 12): frames shown at the times they were given, a partial file renamed only
after it closed and read back, write failures kept instead of reported as success, and a file that
plays up to its last fragment when the process dies.

Frames are small synthetic images (each a different grey level, so a decoded frame tells which was
sent); files are read back with PyAV.
"""

from __future__ import annotations

import errno

import av
import numpy as np
import pytest

from livehead.errors import InputError
from livehead.sinks import RecorderSink, check_recording_path
from livehead.sinks.output_path import partial_path
from livehead.sinks.recorder import FRAGMENT_S, TICKS, read_back

SIZE = (64, 48)


def grey(level: int) -> np.ndarray:
    return np.full((SIZE[1], SIZE[0], 3), level, np.uint8)


def decoded(path) -> list[tuple[float, int]]:
    """(presentation time s, mean grey level) of every decoded frame."""
    with av.open(str(path)) as container:
        return [(float(f.time), round(float(f.to_ndarray(format="rgb24").mean()))) for f in container.decode(video=0)]


def record(path, times: list[float], *, fps: float = 30.0, **kw) -> RecorderSink:
    sink = RecorderSink(path=path, width=SIZE[0], height=SIZE[1], fps=fps, **kw)
    for i, t in enumerate(times):
        sink.send(grey(20 + 10 * i), t)
    sink.close()
    return sink


class TestTiming:
    def test_frames_are_shown_at_their_timestamps(self, tmp_path):
        times = [0.0, 0.04, 0.13, 0.2, 0.5, 0.51, 0.9]  # a camera that stalls and catches up
        sink = record(tmp_path / "o.mp4", times)
        frames = decoded(tmp_path / "o.mp4")
        assert [round(t, 4) for t, _ in frames] == times
        assert np.abs(np.array([level for _, level in frames]) - [20 + 10 * i for i in range(len(times))]).max() <= 2
        assert sink.written and sink.frames == len(times)

    def test_duration_is_the_last_time_plus_a_usual_interval(self, tmp_path):
        """A clip of 25 fps timestamps lasts n / 25 s whatever rate the recorder was opened with."""
        times = [i / 25 for i in range(50)]
        sink = record(tmp_path / "o.mp4", times, fps=30.0)
        packets, duration, size = read_back(tmp_path / "o.mp4")
        assert packets == 50 and size == SIZE
        assert duration == pytest.approx(50 / 25, abs=1 / TICKS)
        assert sink.duration == pytest.approx(duration, abs=1 / TICKS)
        with av.open(str(tmp_path / "o.mp4")) as container:
            assert container.duration / 1e6 == pytest.approx(2.0, abs=1e-3)

    def test_first_frame_starts_the_recording(self, tmp_path):
        """A file's first frames may have been dropped before rendering started: the first one recorded is shown from 0."""
        record(tmp_path / "o.mp4", [0.2, 0.24, 0.28])
        assert [round(t, 4) for t, _ in decoded(tmp_path / "o.mp4")] == [0.0, 0.24, 0.28]

    def test_a_frame_not_later_than_the_previous_replaces_it(self, tmp_path):
        """A repeat sent at an extrapolated time can be overtaken by the real next frame: the newer picture wins."""
        record(tmp_path / "o.mp4", [0.0, 0.1, 0.1, 0.09, 0.2])
        frames = decoded(tmp_path / "o.mp4")
        assert [round(t, 4) for t, _ in frames] == [0.0, 0.1, 0.2]
        assert np.abs(np.array([level for _, level in frames]) - [20, 50, 60]).max() <= 2

    def test_matroska(self, tmp_path):
        times = [0.0, 0.05, 0.3]
        record(tmp_path / "o.mkv", times)
        assert [round(t, 3) for t, _ in decoded(tmp_path / "o.mkv")] == times


class DiskFillsUp:
    """The output container, whose writes fail with ENOSPC after ``packets`` packets (PyAV's own
    container does not let a test replace its methods)."""

    def __init__(self, container, *, packets: int) -> None:
        self._container, self._left = container, packets

    def mux(self, packet) -> None:
        if self._left <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= 1
        self._container.mux(packet)

    def close(self) -> None:
        self._container.close()


class TestFiles:
    def test_partial_file_until_closed_then_renamed(self, tmp_path):
        path = tmp_path / "o.mp4"
        sink = RecorderSink(path=path, width=SIZE[0], height=SIZE[1], fps=25)
        for i in range(5):
            sink.send(grey(40), i / 25)
        assert not path.exists() and partial_path(path).name == "o.incomplete.mp4"
        sink.close()
        sink.close()  # idempotent
        assert path.exists() and not partial_path(path).exists() and sink.written and sink.error is None

    def test_partial_file_plays_up_to_its_last_fragment(self, tmp_path):
        """What a SIGKILL leaves: a copy of the partial file taken mid-recording decodes up to the last flush."""
        path = tmp_path / "o.mp4"
        sink = RecorderSink(path=path, width=SIZE[0], height=SIZE[1], fps=25)
        rng = np.random.default_rng(0)
        for i in range(100):  # 4 s of noise: every frame costs real bytes
            sink.send(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8), i / 25)
        snapshot = tmp_path / "snapshot.mp4"
        snapshot.write_bytes(partial_path(path).read_bytes())
        sink.close()
        packets, duration, _ = read_back(snapshot)
        # lost at most one fragment and the encoder's look-ahead (a few frames)
        assert duration >= 4.0 - FRAGMENT_S - 10 / 25, f"only {duration:.2f} s of 4 s were on disk"
        assert len(decoded(snapshot)) == packets

    def test_write_failure_is_kept_not_reported_as_written(self, tmp_path):
        path = tmp_path / "o.mp4"
        sink = RecorderSink(path=path, width=SIZE[0], height=SIZE[1], fps=25)
        sink._container = DiskFillsUp(sink._container, packets=3)
        with pytest.raises(OSError):
            for i in range(100):
                sink.send(grey(30), i / 25)
        sink.close()
        assert not sink.written and "No space left on device" in sink.error
        assert not path.exists(), "a failed recording must not take the final name"
        assert partial_path(path).exists(), "what was written before the failure is kept"
        with pytest.raises(RuntimeError, match="already failed"):
            sink.send(grey(30), 9.0)

    def test_nothing_recorded_is_not_written(self, tmp_path):
        sink = RecorderSink(path=tmp_path / "o.mp4", width=SIZE[0], height=SIZE[1], fps=25)
        sink.close()
        assert not sink.written and "no frame" in sink.error
        assert not list(tmp_path.iterdir())


class TestCheckRecordingPath:
    def test_overwrite_replaces_an_existing_file(self, tmp_path):
        path = tmp_path / "o.mp4"
        path.write_bytes(b"old")
        with pytest.raises(InputError, match="already exists"):
            check_recording_path(path)
        record(path, [0.0, 0.1], overwrite=True)
        assert read_back(path)[0] == 2

    def test_inputs_are_never_outputs(self, tmp_path):
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(b"the user's clip")
        link = tmp_path / "link.mp4"
        link.symlink_to(clip)
        for given in (clip, link):
            with pytest.raises(InputError, match="is the --source file"):
                check_recording_path(given, overwrite=True, inputs=(("--source", str(clip)),))
        assert clip.read_bytes() == b"the user's clip"

    @pytest.mark.parametrize("name", ["o.mp4", "o.MKV", "o.mov", "o.m4v"])
    def test_known_containers(self, name, tmp_path):
        assert check_recording_path(tmp_path / name) == tmp_path / name
