"""Capture (issue 12): a clip's frames carry the clip's own timestamps (going on across a loop), and a
``keep_all`` slot hands every item over in order instead of letting a newer one replace it."""

from __future__ import annotations

import threading
import time

import av
import pytest

from livehead.stages.capture import FrameSlot, VideoFileSource


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
