"""Capture: the latest-wins slot (``FrameSlot``), the capture thread (pacing, drops, stop, a failing
camera retried and reopened) driven by a scripted camera, and video files, generated here and real.

The generated clip's frame ``i`` is uniformly grey at level ``GREY0 + GREY_STEP * i`` with a red
block in its top-left corner, so order, looping and RGB channel order can be read off the pixels.
Clip timestamps and the ``keep_all`` slot (every item in order, for the every-frame file mode) too.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import av
import numpy as np
import pytest

from livehead.errors import InputError
from livehead.stages.capture import CaptureThread, FrameSlot, VideoFileSource
from livehead.types import Frame

from harness import wait_until
from helpers import ScriptedCamera, Step, drain

CLIP_SIZE = (96, 64)  # (w, h): not square, so a w/h swap shows
CLIP_FPS = 20
CLIP_FRAMES = 10
GREY0, GREY_STEP = 30, 20
RED = (slice(0, 16), slice(0, 16))  # rows, columns of the red block


def grey_index(image: np.ndarray) -> int:
    """Which generated frame ``image`` is, from its grey level (the bottom-right quarter)."""
    h, w = image.shape[:2]
    return round((float(image[h // 2:, w // 2:].mean()) - GREY0) / GREY_STEP)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av

    path = tmp_path_factory.mktemp("capture") / "grey_steps.mp4"
    w, h = CLIP_SIZE
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(CLIP_FRAMES):
            frame = np.full((h, w, 3), GREY0 + GREY_STEP * i, np.uint8)
            frame[RED] = (255, 0, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def scripted_frames(n: int = 8, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """``n`` distinct (h, w, 3) uint8 frames: frame i is grey level 10·i."""
    return [np.full((size[1], size[0], 3), 10 * i, np.uint8) for i in range(n)]


def collect(capture: CaptureThread, until: Callable[[list[Frame]], bool], timeout: float = 10.0) -> list[Frame]:
    """Read the capture slot as a fast consumer does until ``until(frames)`` holds."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while not until(frames):
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(frames)} frames within {timeout:.0f} s")
        frame = capture.slot.get(frames[-1].index if frames else -1, timeout=0.1)
        if frame is not None:
            frames.append(frame)
    return frames


# ---------------------------------------------------------------------------------------------


class TestFrameSlot:
    def test_get_returns_the_newest_and_counts_what_was_never_read(self):
        slot = FrameSlot()
        for index, item in enumerate("abc"):
            slot.put(item, index)
        assert slot.get(-1, timeout=0.1) == "c"
        assert slot.dropped == 2  # a and b were overwritten unread

    def test_an_item_read_before_it_is_replaced_is_not_a_drop(self):
        slot = FrameSlot()
        slot.put("a", 0)
        assert slot.get(-1, timeout=0.1) == "a"
        slot.put("b", 1)
        assert slot.get(0, timeout=0.1) == "b"
        assert slot.dropped == 0

    def test_nothing_newer_times_out_with_none(self):
        slot = FrameSlot()
        slot.put("a", 0)
        assert slot.get(-1, timeout=0.1) == "a"
        assert slot.get(0, timeout=0.05) is None  # the same item is never handed out twice

    def test_get_waits_for_a_newer_item(self):
        slot = FrameSlot()
        slot.put("a", 0)
        threading.Timer(0.05, slot.put, args=("b", 1)).start()
        assert slot.get(0, timeout=10.0) == "b"

    def test_close_wakes_a_waiting_reader(self):
        slot = FrameSlot()
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.append(slot.get(-1, timeout=30.0)))
        reader.start()
        slot.close()
        reader.join(10.0)
        assert not reader.is_alive() and got == [None]


# ---------------------------------------------------------------------------------------------


class TestCaptureThread:
    def test_frames_carry_increasing_index_and_capture_time(self):
        source = ScriptedCamera(scripted_frames(), rate=50.0)
        capture = CaptureThread(source).start()
        try:
            frames = collect(capture, lambda f: len(f) >= 5)
        finally:
            capture.close()
        indices = [f.index for f in frames]
        assert indices == sorted(set(indices))
        assert all(a.capture_time < b.capture_time for a, b in zip(frames, frames[1:]))
        assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
        assert not capture._thread.is_alive() and source.closed

    def test_a_slow_reader_gets_the_newest_frame_and_the_skipped_ones_are_counted(self):
        source = ScriptedCamera(scripted_frames(), rate=100.0)
        capture = CaptureThread(source).start()
        seen: list[Frame] = []
        try:
            deadline = time.monotonic() + 20.0
            while capture.dropped < 3 and time.monotonic() < deadline:
                frame = capture.slot.get(seen[-1].index if seen else -1, timeout=1.0)
                if frame is not None:
                    seen.append(frame)
                time.sleep(0.05)  # a render step five camera frames long
        finally:
            capture.stop()
        last = capture.slot.get(seen[-1].index, timeout=0.1)  # whatever came after, now the newest
        seen += [last] if last is not None else []
        gaps = sum(b.index - a.index - 1 for a, b in zip(seen, seen[1:])) + seen[0].index
        assert capture.dropped >= 3
        assert gaps == capture.dropped, "every skipped index is a counted drop, and only those"

    def test_stop_returns_while_a_read_hangs_and_the_thread_ends_when_it_returns(self):
        source = ScriptedCamera(scripted_frames(), script=[Step("frames", frames=3), Step("hang", seconds=1.0)])
        capture = CaptureThread(source).start()
        collect(capture, lambda f: len(f) >= 1)
        wait_until(lambda: source.step == 1, 10.0, "the hang")
        capture.stop(timeout=0.1)
        assert capture._thread.is_alive(), "the read should still be stuck in the driver"
        capture._thread.join(10.0)
        assert not capture._thread.is_alive(), "the thread did not end after the read returned"

    def test_a_camera_that_stops_is_retried_reopened_and_resumes(self, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        source = ScriptedCamera(scripted_frames(), script=[Step("frames", frames=5), Step("none", seconds=1.0)],
                                rate=50.0)
        capture = CaptureThread(source, max_backoff_s=0.05).start()
        try:
            wait_until(capture.lost.is_set, 10.0, "the camera to be declared lost")
            before = capture.slot.get(-1, timeout=1.0)
            wait_until(lambda: source.step == 2, 10.0, "the end of the outage")
            wait_until(lambda: not capture.lost.is_set(), 10.0, "frames to come back")
            after = capture.slot.get(before.index, timeout=5.0)
        finally:
            capture.close()
        assert source.reopens >= 1, "a camera that delivers nothing is reopened while retrying"
        assert after is not None and after.index > before.index
        assert "delivers no frames" in caplog.text and "delivers frames again" in caplog.text

    @pytest.mark.parametrize("fault,logged", [("raise", "injected fault"), ("bad", "malformed frame")])
    def test_read_errors_and_malformed_frames_never_reach_the_slot(self, caplog, fault, logged):
        caplog.set_level(logging.INFO, logger="livehead")
        script = [Step("frames", frames=3), Step(fault, seconds=0.3)]
        source = ScriptedCamera(scripted_frames(), script=script, rate=50.0)
        capture = CaptureThread(source, max_backoff_s=0.05).start()

        def resumed(frames: list[Frame]) -> bool:  # capture went on after the fault: 3 frames since
            return source.step == len(script) and sum(f.capture_time > source.events[-1][0] for f in frames) >= 3

        try:
            frames = collect(capture, resumed)
        finally:
            capture.close()
        assert all(f.image.ndim == 3 and f.image.shape[2] == 3 and f.image.dtype == np.uint8 for f in frames)
        assert logged in caplog.text

    def test_a_new_resolution_starts_a_new_epoch(self, caplog):
        caplog.set_level(logging.INFO, logger="livehead")
        source = ScriptedCamera(scripted_frames(), script=[Step("frames", frames=4), Step("frames", size=(32, 24))],
                                rate=50.0)
        capture = CaptureThread(source).start()
        try:
            frames = collect(capture, lambda f: len(f) >= 2 and f[-1].image.shape[1] == 32)
        finally:
            capture.close()
        assert frames[0].meta["resolution_epoch"] == 0 and frames[0].image.shape == (48, 64, 3)
        assert frames[-1].meta["resolution_epoch"] == 1 and frames[-1].image.shape == (24, 32, 3)
        assert capture.resolution_changes == 1 and "now delivers 32x24 frames (was 64x48)" in caplog.text

    def test_paced_file_is_not_read_faster_than_its_frame_rate(self, clip):
        source = VideoFileSource(path=clip)
        capture = CaptureThread(source, pace=True).start()
        try:
            first = capture.slot.get(-1, timeout=10.0)
            wait_until(capture.ended.is_set, 30.0, "the end of the file")
            last = capture.slot.get(first.index, timeout=0.1)
        finally:
            capture.close()
        assert last is not None and last.index == CLIP_FRAMES - 1
        assert last.index - first.index >= CLIP_FRAMES // 2
        # Frame k is read no earlier than (k - 2) intervals after frame 0 (after a stall the pace
        # catches up by one interval): a lower bound, which a loaded machine cannot break.
        span = last.capture_time - first.capture_time
        assert span >= (last.index - first.index - 2) / CLIP_FPS, f"{last.index - first.index} frames in {span:.2f} s"

    def test_unpaced_file_hands_every_frame_to_a_slow_reader(self, clip):
        source = VideoFileSource(path=clip)
        capture = CaptureThread(source, pace=False).start()
        seen: list[Frame] = []
        try:
            while not (capture.ended.is_set() and capture.slot.closed):
                frame = capture.slot.get(seen[-1].index if seen else -1, timeout=0.5)
                if frame is not None:
                    seen.append(frame)
                    time.sleep(0.02)
            last = capture.slot.get(seen[-1].index, timeout=0.1)
            seen += [last] if last is not None else []
        finally:
            capture.close()
        assert [f.index for f in seen] == list(range(CLIP_FRAMES))
        assert [grey_index(f.image) for f in seen] == list(range(CLIP_FRAMES))
        assert capture.dropped == 0


# ---------------------------------------------------------------------------------------------


class TestVideoFileSource:
    def test_reports_its_size_rate_and_length(self, clip):
        source = VideoFileSource(path=clip)
        try:
            assert (source.size, source.fps, source.frame_count) == (CLIP_SIZE, CLIP_FPS, CLIP_FRAMES)
            assert source.is_file and source.name == clip.name
        finally:
            source.close()

    def test_reads_in_order_then_none(self, clip):
        source = VideoFileSource(path=clip)
        frames = drain(source)
        source.close()
        assert [grey_index(f) for f in frames] == list(range(CLIP_FRAMES))
        assert all(f.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3) and f.dtype == np.uint8 for f in frames)

    def test_frames_are_rgb(self, clip):
        """Convention pin: the red block (written as RGB) reads back red in channel 0."""
        source = VideoFileSource(path=clip)
        frame = source.read()
        source.close()
        red = frame[RED].reshape(-1, 3).mean(0)
        assert red[0] > 200 and red[1] < 60 and red[2] < 60, red

    def test_loop_starts_over_after_the_last_frame(self, clip):
        source = VideoFileSource(path=clip, loop=True)
        frames = [source.read() for _ in range(CLIP_FRAMES + 2)]
        source.close()
        assert [grey_index(f) for f in frames] == [*range(CLIP_FRAMES), 0, 1]

    def test_missing_file_names_the_option(self, tmp_path):
        with pytest.raises(InputError, match="--source"):
            VideoFileSource(path=tmp_path / "nope.mp4")

    def test_unreadable_file_says_how_to_re_encode(self, tmp_path):
        path = tmp_path / "notes.mp4"
        path.write_text("not a video\n")
        with pytest.raises(InputError, match="ffmpeg -i"):
            VideoFileSource(path=path)

    def test_real_clip_matches_an_independent_decoder(self, driver_clip_path):
        """OpenCV's frames (through the source) against PyAV's RGB decode of the same file."""
        import av

        with av.open(str(driver_clip_path)) as container:
            reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        source = VideoFileSource(path=driver_clip_path)
        frames = drain(source)
        source.close()
        assert len(frames) == len(reference) == source.frame_count
        assert source.size == (reference[0].shape[1], reference[0].shape[0])
        for ours, theirs in zip(frames[::10], reference[::10]):
            assert np.abs(ours.astype(int) - theirs).mean() < 3.0  # same pixels up to YUV→RGB rounding


def clip_times(path) -> tuple[list[float], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream)]
        step = float(1 / stream.average_rate)
    return [t - times[0] for t in times], step


class TestMediaTime:
    def test_frames_carry_the_clips_timestamps(self, driver_clip_path):
        expected, _ = clip_times(driver_clip_path)
        source = VideoFileSource(path=driver_clip_path)
        got = []
        while source.read() is not None:
            got.append(source.media_time)
        source.close()
        assert got == pytest.approx(expected, abs=1e-6)

    def test_a_loop_goes_on_one_frame_after_the_end(self, short_clip):
        expected, step = clip_times(short_clip)
        source = VideoFileSource(path=short_clip, loop=True)
        got = []
        for _ in range(2 * len(expected) + 1):
            assert source.read() is not None
            got.append(source.media_time)
        source.close()
        lap = expected[-1] + step
        assert got == pytest.approx(expected + [t + lap for t in expected] + [2 * lap], abs=1e-6)


class TestKeepAllSlot:
    def test_every_item_in_order_and_the_producer_waits(self):
        slot = FrameSlot(keep_all=True)
        produced: list[float] = []

        def produce():
            for i in range(20):
                slot.put(i, i)
                produced.append(time.monotonic())
            slot.close()

        worker = threading.Thread(target=produce)
        worker.start()
        got, last = [], -1
        while True:
            item = slot.get(last, timeout=2.0)
            if item is None:
                break
            got.append(item)
            last = item
            time.sleep(0.01)  # a slow consumer
        worker.join(2)
        assert got == list(range(20)) and slot.dropped == 0

    def test_stop_releases_a_waiting_producer(self):
        slot = FrameSlot(keep_all=True)
        stop = threading.Event()
        assert slot.put("first", 0, stop=stop)
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("stored", slot.put("second", 1, stop=stop)))
        worker.start()
        time.sleep(0.2)
        assert worker.is_alive(), "the producer should wait while the first item is unread"
        stop.set()
        worker.join(1.0)
        assert not worker.is_alive() and result["stored"] is False

    def test_latest_wins_without_keep_all(self):
        slot = FrameSlot()
        for i in range(5):
            slot.put(i, i)
        assert slot.get(-1, timeout=0.1) == 4 and slot.dropped == 4
