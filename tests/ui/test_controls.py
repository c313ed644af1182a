"""Controls as data: keymap, dispatcher, help text from the keymap, pure state updates, hotkeys."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

import pytest

from livehead.ui.controls import EFFECTS, ControlState, apply
from livehead.ui.hotkeys import GlobalHotkeys, _pynput_key_name
from livehead.ui.keymap import (
    ACTIONS,
    DEFAULT_KEYMAP,
    Command,
    Dispatcher,
    build_keymap,
    help_rows,
    help_text,
    keys_for,
    normalize_key,
    parse_action,
)
from livehead.errors import LiveHeadError

# The documented default controls (issue 5), written out independently of DEFAULT_KEYMAP.
EXPECTED_DEFAULTS = {
    **{str(n): Command("select_avatar", n - 1) for n in range(1, 10)},
    "a": Command("prev_avatar"),
    "d": Command("next_avatar"),
    "l": Command("reload_avatars"),
    "x": Command("calibrate"),
    "0": Command("passthrough"),
    "p": Command("freeze"),
    "m": Command("mirror"),
    "w": Command("zoom_in"),
    "s": Command("zoom_out"),
    "z": Command("ghost_down"),
    "c": Command("ghost_up"),
    "e": Command("eyes_mode"),
    "t": Command("lips_mode"),
    "o": Command("landmarks"),
    "i": Command("stats"),
    "h": Command("help"),
    "q": Command("quit"),
    "esc": Command("quit"),
}


def recorder() -> tuple[list[Command], Dispatcher]:
    posted: list[Command] = []
    return posted, Dispatcher(build_keymap(), posted.append)


class TestNormalizeKey:
    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            (ord("x"), "x"), (ord("X"), "x"), (ord("1"), "1"), (27, "esc"), (13, "enter"), (32, "space"),
            (-1, None), (0, None), (65361, "left"), (2424832, "left"), (70000000, None),
            ("x", "x"), ("X", "x"), ("esc", "esc"), ("Key.esc", "esc"), ("Escape", "esc"), ("page_up", "page_up"),
            (" ", "space"), ("\x1b", "esc"), ("bogus", None), (None, None),
        ],
    )
    def test_known_answers(self, key: str | int | None, expected: str | None) -> None:
        assert normalize_key(key) == expected

    def test_waitkey_low_byte_is_not_guessed(self) -> None:
        # waitKeyEx Left on GTK is 0xFF51; its low byte is ord("Q"), which must not quit
        assert normalize_key(0xFF51) == "left"
        assert normalize_key(0x12345) is None

    def test_errors(self) -> None:
        with pytest.raises(TypeError):
            normalize_key(True)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            normalize_key(1.5)  # type: ignore[arg-type]


class TestParseAction:
    def test_known_answers(self) -> None:
        assert parse_action("calibrate") == Command("calibrate")
        assert parse_action(" select_avatar:3 ") == Command("select_avatar", 2)

    @pytest.mark.parametrize(
        ("spec", "match"),
        [
            ("calibrat", "Did you mean 'calibrate'"),
            ("select_avatar", "needs an avatar number"),
            ("select_avatar:0", "needs an avatar number"),
            ("quit:2", "takes no number"),
        ],
    )
    def test_errors(self, spec: str, match: str) -> None:
        with pytest.raises(LiveHeadError, match=match):
            parse_action(spec)


class TestBuildKeymap:
    def test_defaults(self) -> None:
        assert build_keymap() == DEFAULT_KEYMAP
        assert {k: parse_action(v) for k, v in build_keymap().items()} == EXPECTED_DEFAULTS

    def test_every_action_has_a_default_key(self) -> None:
        bound = {parse_action(v).action for v in DEFAULT_KEYMAP.values()}
        assert bound == set(ACTIONS)

    def test_overrides_add_replace_and_unbind(self) -> None:
        keymap = build_keymap({"K": "calibrate", "q": "none", "x": "freeze", "F1": "help"})
        assert keymap["k"] == "calibrate" and keymap["x"] == "freeze" and keymap["f1"] == "help"
        assert "q" not in keymap and keymap["esc"] == "quit"

    def test_pairs_from_config(self) -> None:
        assert build_keymap((("k", "calibrate"),))["k"] == "calibrate"

    def test_errors(self) -> None:
        with pytest.raises(LiveHeadError, match="Unknown key 'escap'.*'esc'"):
            build_keymap({"escap": "quit"})
        with pytest.raises(LiveHeadError, match="Unknown action"):
            build_keymap({"k": "jump"})


class TestDispatcher:
    @pytest.mark.parametrize(("key", "command"), list(EXPECTED_DEFAULTS.items()))
    def test_each_default_key_posts_its_action(self, key: str, command: Command) -> None:
        posted, dispatcher = recorder()
        assert dispatcher.handle_key(key) is True
        assert posted == [command]

    @pytest.mark.parametrize(("code", "command"), [(ord("2"), Command("select_avatar", 1)), (ord("X"), Command("calibrate")),
                                                   (27, Command("quit")), (ord("w"), Command("zoom_in"))])
    def test_cv2_codes(self, code: int, command: Command) -> None:
        posted, dispatcher = recorder()
        assert dispatcher.handle_key(code) and posted == [command]

    def test_remapped_key_works(self) -> None:
        posted: list[Command] = []
        dispatcher = Dispatcher(build_keymap({"k": "calibrate", "x": "none"}), posted.append)
        assert dispatcher.handle_key("k") and posted == [Command("calibrate")]
        assert dispatcher.handle_key("x") is False and posted == [Command("calibrate")]

    @pytest.mark.parametrize("key", ["b", "F5", -1, 255, "?", "Key.shift", 65361, None])
    def test_unknown_keys_ignored(self, key: str | int | None) -> None:
        posted, dispatcher = recorder()
        assert dispatcher.handle_key(key) is False and posted == []

    def test_invalid_table_fails_at_construction(self) -> None:
        with pytest.raises(LiveHeadError):
            Dispatcher({"k": "jump"}, print)


class TestHelp:
    def test_generated_from_keymap(self) -> None:
        rows = dict(help_rows(DEFAULT_KEYMAP))
        assert rows["1-9"] == "select avatar 1-9"
        assert rows["Q / Esc"] == "quit"
        assert "X" in rows and "calibrate" in rows["X"]
        # every bound action appears exactly once, in ACTIONS order
        descriptions = [text for _, text in help_rows(DEFAULT_KEYMAP)]
        assert len(descriptions) == len(ACTIONS)

    def test_follows_remaps(self) -> None:
        keymap = build_keymap({"k": "calibrate", "q": "none", "5": "none", "f2": "select_avatar:5"})
        rows = dict(help_rows(keymap))
        assert "X / K" in rows and rows["Esc"] == "quit" and "Q / Esc" not in rows
        assert rows["F2"] == "select avatar 5" and "1-9" not in rows and rows["4"] == "select avatar 4"
        assert keys_for(keymap, "calibrate") == ["X", "K"]

    def test_unbound_action_disappears(self) -> None:
        text = help_text(build_keymap({"h": "none"}))
        assert "this help" not in text

    def test_text_mentions_global_modifier(self) -> None:
        assert "Ctrl+Alt" in help_text(DEFAULT_KEYMAP, global_modifiers="ctrl+alt")


class TestApply:
    def test_smoke_pure(self) -> None:
        state = ControlState(num_avatars=3)
        new, effects = apply(state, Command("freeze"))
        assert new.frozen and not state.frozen and effects == ()

    def test_mirror_asks_the_pipeline_to_flip_the_output(self) -> None:
        new, effects = apply(ControlState(), Command("mirror"))
        assert new.mirror and effects == ("mirror",)

    @pytest.mark.parametrize(
        ("action", "field"),
        [("passthrough", "passthrough"), ("freeze", "frozen"), ("mirror", "mirror"),
         ("landmarks", "show_landmarks"), ("stats", "show_stats"), ("help", "show_help")],
    )
    def test_toggles(self, action: str, field: str) -> None:
        once, _ = apply(ControlState(), Command(action))
        twice, _ = apply(once, Command(action))
        assert getattr(once, field) is True and getattr(twice, field) is False

    def test_calibrate(self) -> None:
        state = ControlState()
        assert state.needs_calibration
        new, effects = apply(state, Command("calibrate"))
        assert new.calibrated and not new.needs_calibration and effects == ("calibrate",)
        assert apply(new, Command("calibrate"))[1] == ("calibrate",)  # recalibration always re-anchors

    def test_select_avatar(self) -> None:
        state = ControlState(num_avatars=3)
        new, effects = apply(state, Command("select_avatar", 1))
        assert new.avatar_index == 1 and effects == ("select_avatar",)
        assert apply(new, Command("select_avatar", 1)) == (new, ())  # already showing it
        assert apply(state, Command("select_avatar", 5)) == (state, ())  # avatar 6 of 3

    def test_prev_next_wrap(self) -> None:
        state = ControlState(num_avatars=3)
        prev, effects = apply(state, Command("prev_avatar"))
        assert prev.avatar_index == 2 and effects == ("select_avatar",)
        assert apply(prev, Command("next_avatar"))[0].avatar_index == 0
        single = ControlState(num_avatars=1)
        assert apply(single, Command("next_avatar")) == (single, ())

    def test_zoom_steps_and_clamps(self) -> None:
        state = ControlState()
        assert apply(state, Command("zoom_out")) == (state, ())  # already the whole frame
        for _ in range(3):
            state, effects = apply(state, Command("zoom_in"), zoom_step=0.1)
            assert effects == ("reset_smoothing",)
        assert state.zoom == 1.3
        for _ in range(100):
            state, _ = apply(state, Command("zoom_in"), zoom_step=0.5)
        assert state.zoom == 4.0

    def test_ghost_opacity(self) -> None:
        state = ControlState()
        state, effects = apply(state, Command("ghost_up"))
        assert state.ghost_opacity == 0.1 and effects == ()
        for _ in range(20):
            state, _ = apply(state, Command("ghost_up"))
        assert state.ghost_opacity == 1.0
        state, _ = apply(ControlState(), Command("ghost_down"))
        assert state.ghost_opacity == 0.0

    def test_reload_and_quit(self) -> None:
        state = ControlState()
        assert apply(state, Command("reload_avatars")) == (state, ("reload_avatars",))
        new, effects = apply(state, Command("quit"))
        assert not new.running and effects == ("quit",)

    def test_every_action_handled_and_effects_documented(self) -> None:
        state = ControlState(num_avatars=3)
        for name, action in ACTIONS.items():
            _, effects = apply(state, Command(name, 1 if action.takes_number else None))
            assert set(effects) <= set(EFFECTS)

    def test_unknown_action(self) -> None:
        with pytest.raises(LiveHeadError, match="calibrate"):
            apply(ControlState(), Command("calibrat"))

    def test_keys_through_dispatcher_into_state(self) -> None:
        posted, dispatcher = recorder()
        for key in ["2", "x", "w", "c", "c", "i", "M"]:
            dispatcher.handle_key(key)
        state = dataclasses.replace(ControlState(), num_avatars=3)
        effects: list[str] = []
        for command in posted:
            state, new_effects = apply(state, command)
            effects += new_effects
        assert (state.avatar_index, state.calibrated, state.zoom, state.ghost_opacity) == (1, True, 1.1, 0.2)
        assert state.show_stats and state.mirror
        assert effects == ["select_avatar", "calibrate", "reset_smoothing", "mirror"]


def key(char: str | None = None, *, vk: int | None = None, name: str | None = None) -> SimpleNamespace:
    """Duck-typed stand-in for a pynput Key / KeyCode."""
    return SimpleNamespace(char=char, vk=vk, name=name)


class TestGlobalHotkeys:
    @pytest.mark.parametrize(
        ("pynput_key", "expected"),
        [(key("x"), "x"), (key("X"), "x"), (key("\x18", vk=88), "x"), (key("\x18"), "x"),
         (key(None, vk=50), "2"), (key(name="esc"), "esc"), (key(name="shift"), None)],
    )
    def test_pynput_key_names(self, pynput_key: SimpleNamespace, expected: str | None) -> None:
        assert _pynput_key_name(pynput_key) == expected

    def test_needs_modifiers(self) -> None:
        posted, dispatcher = recorder()
        hotkeys = GlobalHotkeys(dispatcher, modifiers="ctrl+alt")
        hotkeys._on_press(key("2"))
        assert posted == []  # typing "2" in the meeting chat does nothing
        hotkeys._on_press(key(name="ctrl_l"))
        hotkeys._on_press(key(name="alt"))
        hotkeys._on_press(key("2"))
        assert posted == [Command("select_avatar", 1)]
        hotkeys._on_release(key(name="alt"))
        hotkeys._on_press(key("x"))
        assert posted == [Command("select_avatar", 1)]

    def test_bare_keys_when_no_modifiers(self) -> None:
        posted, dispatcher = recorder()
        GlobalHotkeys(dispatcher, modifiers="")._on_press(key("x"))
        assert posted == [Command("calibrate")]

    def test_bad_modifier(self) -> None:
        with pytest.raises(LiveHeadError, match="'ctl'"):
            GlobalHotkeys(recorder()[1], modifiers="ctl")

    def test_start_without_display_does_not_raise(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setattr("sys.platform", "linux")
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        hotkeys = GlobalHotkeys(recorder()[1])
        with caplog.at_level(logging.WARNING):
            assert hotkeys.start() is False
            assert hotkeys.start() is False
        assert not hotkeys.running and "no display" in (hotkeys.unavailable_reason or "")
        assert len(caplog.records) == 1  # logged once
        hotkeys.stop()
        hotkeys.stop()

    def test_start_without_pynput_explains_the_extra(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        import sys

        monkeypatch.setenv("DISPLAY", ":99")
        monkeypatch.setitem(sys.modules, "pynput", None)  # import fails as if not installed
        hotkeys = GlobalHotkeys(recorder()[1])
        with caplog.at_level(logging.WARNING):
            assert hotkeys.start() is False
        assert "livehead[hotkeys]" in caplog.text


def test_dispatcher_from_config_keymap() -> None:
    from livehead.config import ControlsConfig

    posted: list[Command] = []
    dispatcher = Dispatcher(build_keymap(ControlsConfig(keymap=(("k", "calibrate"),)).keymap), posted.append)
    assert dispatcher.handle_key("k") and dispatcher.handle_key("x")
    assert posted == [Command("calibrate"), Command("calibrate")]
