"""One validation layer for every number and size (issue 12): the same value is refused with the same
words from a config file, the ``livehead`` options and a subcommand's own flag; every default passes.
"""

from __future__ import annotations

import math

import pytest

from livehead.config import LiveHeadConfig
from livehead.config.loading import check_option, field_types, get_value, load_config
from livehead.config.validation import MAX_OUTPUT_SIZE, MIN_OUTPUT_SIZE, RULES, Range, Size, check_flag, problem
from livehead.errors import LiveHeadError


class TestRules:
    def test_every_rule_names_a_real_key_and_every_default_passes(self):
        keys = field_types()
        defaults = LiveHeadConfig()
        for key in RULES:
            assert key in keys, f"rule for unknown key {key}"
            assert problem(key, get_value(defaults, key)) is None, f"the default of {key} breaks its own rule"

    def test_every_number_has_a_rule(self):
        numeric = [k for k, tp in field_types().items() if tp in (int, float) or "tuple[int, int]" in str(tp)]
        assert set(numeric) - set(RULES) == set(), "a number anyone can set has no range"

    @pytest.mark.parametrize("value, allowed", [(0.0, False), (-30.0, False), (1e-3, True), (240.0, True),
                                                (240.5, False), (math.nan, False), (math.inf, False)])
    def test_fps_range(self, value, allowed):
        assert (problem("output.fps", value) is None) == allowed

    @pytest.mark.parametrize("size, allowed", [(MIN_OUTPUT_SIZE, True), (MAX_OUTPUT_SIZE, True), ((1280, 720), True),
                                               ((8, 8), False), ((100_000, 100_000), False), ((641, 480), False),
                                               ((640, 481), False), ((7682, 4320), False), ((-1280, 0), False)])
    def test_output_size(self, size, allowed):
        assert (problem("output.size", size) is None) == allowed

    def test_range_text_says_both_ends_and_what_came_in(self):
        assert Range(0, 240, low_open=True, unit="fps").problem(-3) == "must be more than 0 and at most 240 fps; got -3"
        assert Size().problem((8, 8)).endswith("got 8x8")


class TestSameWordsEverywhere:
    def refusal(self, call) -> str:
        with pytest.raises(LiveHeadError) as info:
            call()
        assert info.value.exit_code == 2
        return str(info.value)

    def test_file_command_line_and_subcommand_flag(self, tmp_path):
        path = tmp_path / "c.toml"
        path.write_text("[output]\nfps = -30\n")
        from_file = self.refusal(lambda: load_config({}, path))
        from_cli = self.refusal(lambda: load_config({"output.fps": -30.0}, flags={"output.fps": "--fps"}))
        from_flag = self.refusal(lambda: check_option("output.fps", "-30", "--fps"))
        rule = "must be more than 0 and at most 240 frames per second; got -30"
        for text in (from_file, from_cli, from_flag):
            assert rule in text and "'output.fps'" in text
        assert str(path) in from_file and "(--fps)" in from_cli and "(--fps)" in from_flag

    def test_sizes_as_text_and_as_lists(self, tmp_path):
        path = tmp_path / "c.toml"
        path.write_text("[output]\nsize = [100000, 100000]\n")
        for text in (self.refusal(lambda: load_config({}, path)),
                     self.refusal(lambda: load_config({"output.size": "100000x100000"}))):
            assert "must be between 16x16 and 7680x4320, width and height even; got 100000x100000" in text

    def test_a_good_value_comes_back_typed(self):
        assert check_option("output.size", "640x360", "--size") == (640, 360)
        assert check_option("output.fps", "25", "--fps") == 25.0

    def test_flags_without_a_config_key(self):
        assert check_flag("--frames", 5, Range(1, 10)) == 5
        with pytest.raises(LiveHeadError, match="--frames must be at least 1 and at most 10; got 0"):
            check_flag("--frames", 0, Range(1, 10))


class TestTomlErrors:
    @pytest.mark.parametrize("text, line", [("[output\nfps = 25\n", 1), ("[output]\nfps = 25 30\nmirror = true\n", 2),
                                            ("[output]\nsize = [1280, 720\nfps = 3\n", 2),
                                            ("[output]\nsize = [1280, 720\n\n\nfps = 3\n", 2)])
    def test_the_line_to_fix_is_named(self, text, line, tmp_path):
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(LiveHeadError) as info:
            load_config({}, path)
        shown = text.splitlines()[line - 1]
        assert f"line {line} ({shown!r})" in str(info.value)
