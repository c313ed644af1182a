"""The sink registry (``open_sinks``): it opens what the ``[output]`` section asks for, skips an
optional sink that cannot open with its fix, fails naming every reason when nothing is left, and
closes what it opened when the start-up fails half-way. Also the null sink and the preview window's
refusal without a display. (The recorder's own behaviour is tested with the recorder.)

Registry tests keep the real ``SINKS`` table (its ``wanted`` rules and its order) and replace only
how each sink opens, so no device, window or file is touched.
"""

from __future__ import annotations

import dataclasses
import logging
import sys

import numpy as np
import pytest

from livehead import sinks
from livehead.config import OutputConfig
from livehead.errors import LiveHeadError
from livehead.sinks import NullSink, PreviewSink, SinkSpec, SinkUnavailable, open_sinks, register_sink


class FakeSink:
    """A sink that only counts what happens to it."""

    wants_overlays = False
    closed_by_user = False
    live = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames = 0
        self.closes = 0

    def send(self, frame: np.ndarray, timestamp: float) -> None:
        self.frames += 1

    def close(self) -> None:
        self.closes += 1


class FakeOpening:
    """The registry's specs with their ``open`` replaced: a sink named in ``fails`` raises that
    error, any other opens as a ``FakeSink`` appended to ``opened``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fails: dict[str, BaseException] = {}
        self.opened: list[FakeSink] = []
        self.keys: list[object] = []
        table = {name: dataclasses.replace(spec, open=self.opener(name)) for name, spec in sinks.SINKS.items()}
        monkeypatch.setattr(sinks, "SINKS", table)

    def opener(self, name: str):
        def open_(output, on_key):
            self.keys.append(on_key)
            if name in self.fails:
                raise self.fails[name]
            sink = FakeSink(name)
            self.opened.append(sink)
            return sink

        return open_


@pytest.fixture
def opening(monkeypatch: pytest.MonkeyPatch) -> FakeOpening:
    return FakeOpening(monkeypatch)


NO_VCAM = SinkUnavailable("No virtual camera device found. On Linux run: sudo modprobe v4l2loopback …")
NO_WINDOW = SinkUnavailable("No preview window: there is no display (DISPLAY is not set). Or use --no-preview.")


class TestOpenSinks:
    @pytest.mark.parametrize("output,expected", [
        (OutputConfig(), ["vcam", "preview"]),
        (OutputConfig(vcam=False), ["preview"]),
        (OutputConfig(preview=False, record="out.mp4"), ["record", "vcam"]),
        (OutputConfig(vcam=False, preview=False, record="out.mp4"), ["record"]),
        (OutputConfig(record="out.mp4"), ["record", "vcam", "preview"]),  # the recording first
    ], ids=["default", "no-vcam", "record+vcam", "record-only", "all"])
    def test_opens_what_the_output_section_asks_for(self, opening, output, expected):
        opened = open_sinks(output)
        assert [s.name for s in opened] == expected
        assert opened == opening.opened

    def test_key_handler_reaches_every_sink(self, opening):
        def on_key(key):
            return key

        open_sinks(OutputConfig(), on_key=on_key)
        assert opening.keys == [on_key, on_key]

    def test_an_optional_sink_that_cannot_open_is_skipped_with_its_fix(self, opening, caplog):
        caplog.set_level(logging.WARNING, logger="livehead")
        opening.fails["vcam"] = NO_VCAM
        opened = open_sinks(OutputConfig())
        assert [s.name for s in opened] == ["preview"]
        assert str(NO_VCAM) in caplog.text

    def test_nothing_left_is_an_error_naming_every_reason(self, opening):
        opening.fails.update(vcam=NO_VCAM, preview=NO_WINDOW)
        with pytest.raises(LiveHeadError) as info:
            open_sinks(OutputConfig())
        message = str(info.value)
        assert str(NO_VCAM) in message and str(NO_WINDOW) in message
        assert "--output out.mp4" in message and info.value.exit_code == 1

    def test_nothing_asked_for_is_an_error_too(self, opening):
        with pytest.raises(LiveHeadError, match="Nowhere to send the video"):
            open_sinks(OutputConfig(vcam=False, preview=False))

    def test_a_recording_that_cannot_be_written_stops_before_any_device_opens(self, opening):
        opening.fails["record"] = SinkUnavailable("Cannot write /nope/out.mp4: folder /nope does not exist.")
        with pytest.raises(SinkUnavailable, match="/nope"):
            open_sinks(OutputConfig(record="/nope/out.mp4"))
        assert opening.opened == []

    def test_a_failing_required_sink_closes_what_was_opened(self, opening):
        register_sink(SinkSpec("late", wanted=lambda out: True, open=opening.opener("late"), optional=False))
        opening.fails["late"] = SinkUnavailable("the late sink is broken")
        with pytest.raises(SinkUnavailable, match="late sink"):
            open_sinks(OutputConfig())
        assert [(s.name, s.closes) for s in opening.opened] == [("vcam", 1), ("preview", 1)]

    def test_a_bug_while_opening_is_not_taken_for_unavailable(self, opening):
        """Only ``SinkUnavailable`` means "go on without it"; any other error stops the start-up,
        after closing what was opened."""
        opening.fails["preview"] = RuntimeError("bug in the preview sink")
        with pytest.raises(RuntimeError, match="bug in the preview sink"):
            open_sinks(OutputConfig())
        assert [(s.name, s.closes) for s in opening.opened] == [("vcam", 1)]

    def test_a_registered_sink_opens_after_the_built_in_ones(self, opening):
        register_sink(SinkSpec("extra", wanted=lambda out: out.vcam, open=opening.opener("extra")))
        assert [s.name for s in open_sinks(OutputConfig())] == ["vcam", "preview", "extra"]
        assert [s.name for s in open_sinks(OutputConfig(vcam=False))] == ["preview"]

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fix texts checked are the Linux ones")
    def test_real_sinks_with_no_device_and_no_display_say_what_to_do(self, monkeypatch):
        """What a user sees on a headless machine without v4l2loopback: every fix in one error."""
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        with pytest.raises(LiveHeadError) as info:
            open_sinks(OutputConfig(vcam_device="/dev/livehead-test-no-such-device"))
        message = str(info.value)
        assert sinks.virtual_camera_fix() in message and "/dev/livehead-test-no-such-device" in message
        assert "DISPLAY is not set" in message and "--no-preview" in message and "--output out.mp4" in message


class TestNullSink:
    def test_counts_and_keeps_the_last_frame(self):
        sink = NullSink()
        frames = [np.full((4, 6, 3), i, np.uint8) for i in range(3)]
        for i, frame in enumerate(frames):
            sink.send(frame, i / 30)
        assert sink.frames == 3 and sink.last is frames[-1]
        sink.close()
        sink.close()  # safe twice, as the contract says

    def test_meets_the_sink_contract(self):
        sink = NullSink()
        assert (sink.name, sink.wants_overlays, sink.closed_by_user) == ("null", False, False)


class TestPreviewSink:
    @pytest.mark.parametrize("wayland,problem", [(False, "DISPLAY is not set"), (True, "install it")],
                             ids=["no-display", "wayland-only"])
    def test_without_a_display_refuses_naming_the_fix(self, monkeypatch, wayland, problem):
        monkeypatch.setattr(sys, "platform", "linux")
        monkeypatch.delenv("DISPLAY", raising=False)
        if wayland:
            monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
        else:
            monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        with pytest.raises(SinkUnavailable) as info:
            PreviewSink()
        assert problem in str(info.value) and "--no-preview" in str(info.value)
