"""Config file loading: precedence, strict types, error messages, provenance, `livehead config`."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehead.config import LiveHeadConfig
from livehead.errors import LiveHeadError
from livehead.commands.config import main as config_main
from livehead.config.loading import field_types, load_config, parse_value
from livehead.config.paths import avatars_dir, default_config_path, user_data_dir


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read the developer's own config file or write into their data dir."""
    monkeypatch.setenv("LIVEHEAD_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class TestDirectories:
    def test_env_overrides(self, isolated_dirs: Path) -> None:
        assert default_config_path() == isolated_dirs / "cfg" / "config.toml"
        assert user_data_dir() == isolated_dirs / "data"

    def test_avatars_dir_created_on_first_use(self, isolated_dirs: Path) -> None:
        path = avatars_dir(create=False)
        assert path == isolated_dirs / "data" / "avatars" and not path.exists()
        assert avatars_dir().is_dir()

    def test_platform_default_names_livehead(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("LIVEHEAD_CONFIG_DIR")
        assert "livehead" in str(default_config_path()).lower()


class TestLoadConfig:
    def test_smoke_defaults(self) -> None:
        config, sources = load_config({})
        assert config == LiveHeadConfig()
        assert set(sources) == set(field_types())
        assert set(sources.values()) == {"default"}

    def test_every_field_is_settable(self) -> None:
        # every dataclass field (hence every CLI option mapped to one) has a key
        keys = field_types()
        assert {"avatar", "avatars", "output.fps", "output.size", "capture.camera", "engine.device",
                "controls.keymap", "controls.zoom_step", "output.overlay_on_output"} <= set(keys)

    def test_precedence_default_file_cli(self, isolated_dirs: Path) -> None:
        path = write(default_config_path(), "[output]\nfps = 25\nmirror = true\n[capture]\ncamera = 2\n")
        config, sources = load_config({"output.fps": 15.0})
        assert config.output.fps == 15.0 and sources["output.fps"] == "command line"
        assert config.output.mirror is True and sources["output.mirror"] == f"file {path.resolve()}"
        assert config.capture.camera == 2
        assert config.output.vcam is True and sources["output.vcam"] == "default"

    def test_explicit_config_file_wins_over_default_file(self, tmp_path: Path) -> None:
        write(default_config_path(), "[output]\nfps = 25\n")
        other = write(tmp_path / "other.toml", "[output]\nfps = 12\n")
        config, sources = load_config({}, str(other))
        assert config.output.fps == 12.0 and sources["output.fps"] == f"file {other.resolve()}"

    def test_none_cli_values_are_not_given(self) -> None:
        write(default_config_path(), 'avatar = "/pics/me.png"\n')
        config, sources = load_config({"avatar": None})
        assert config.avatar == "/pics/me.png" and sources["avatar"].startswith("file ")

    def test_types_converted(self) -> None:
        write(
            default_config_path(),
            '[output]\nsize = "1920x1080"\nfps = 25\nbackground = [10, 20, 30]\n'
            '[engine]\ndevice = "cpu"\n[controls]\nkeymap = { k = "calibrate", q = "none" }\n',
        )
        config, _ = load_config({})
        assert config.output.size == (1920, 1080)
        assert isinstance(config.output.fps, float) and config.output.fps == 25.0
        assert config.output.background == (10, 20, 30)
        assert config.engine.device == "cpu"
        assert config.controls.keymap == (("k", "calibrate"), ("q", "none"))
        hash(config)  # frozen configs stay hashable (keymap stored as pairs)

    def test_size_as_list(self) -> None:
        write(default_config_path(), "[output]\nsize = [640, 480]\n")
        assert load_config({})[0].output.size == (640, 480)

    def test_cli_strings_parsed(self) -> None:
        config, _ = load_config({"output.size": "800x600", "output.mirror": "yes", "capture.camera": "1"})
        assert config.output.size == (800, 600) and config.output.mirror is True and config.capture.camera == 1

    def test_relative_paths_resolve_against_the_file(self, tmp_path: Path) -> None:
        path = write(tmp_path / "conf" / "c.toml", 'avatars = "pics"\n[capture]\nsource = "~/clip.mp4"\n')
        config, _ = load_config({}, str(path))
        assert config.avatars == str(path.resolve().parent / "pics")
        assert config.capture.source == str(Path("~/clip.mp4").expanduser())

    def test_cli_paths_untouched(self) -> None:
        assert load_config({"avatar": "me.png"})[0].avatar == "me.png"


class TestLoadConfigErrors:
    def error(self, text: str, overrides: dict | None = None) -> str:
        path = write(default_config_path(), text)
        with pytest.raises(LiveHeadError) as info:
            load_config(overrides or {})
        message = str(info.value)
        if not overrides:
            assert str(path.resolve()) in message, message
        return message

    def test_unknown_key_suggests_closest(self) -> None:
        message = self.error("[output]\nfsp = 25\n")
        assert "output.fsp" in message and "Did you mean output.fps?" in message

    def test_unknown_section_suggests_closest(self) -> None:
        message = self.error("[ouptut]\nfps = 25\n")
        assert "'ouptut'" in message and "Did you mean output?" in message

    def test_key_in_wrong_place_names_its_section(self) -> None:
        message = self.error("mirror = true\n")
        assert "[output]" in message
        message = self.error("[capture]\nmirror = true\n")
        assert "capture.mirror" in message and "[output]" in message

    @pytest.mark.parametrize(
        ("text", "key", "expected"),
        [
            ('[output]\nfps = "fast"\n', "output.fps", "a number"),
            ("[output]\nmirror = 1\n", "output.mirror", "true or false"),
            ("[capture]\ncamera = 1.5\n", "capture.camera", "an integer"),
            ("[capture]\ncamera = true\n", "capture.camera", "an integer"),
            ('[engine]\ndevice = "gpu"\n', "engine.device", '"cuda"'),
            ("[output]\nsize = [1280]\n", "output.size", "1280x720"),
            ('[output]\nsize = "big"\n', "output.size", "1280x720"),
            ("avatar = 3\n", "avatar", "a string"),
            ("output = 3\n", "output", "[output] table"),
        ],
    )
    def test_wrong_type_names_key_file_and_expected(self, text: str, key: str, expected: str) -> None:
        message = self.error(text)
        assert repr(key) in message and expected in message, message

    def test_bad_keymap_action(self) -> None:
        message = self.error('[controls]\nkeymap = { k = "calibrat" }\n')
        assert "controls.keymap" in message and "'calibrate'" in message

    def test_bad_keymap_key(self) -> None:
        message = self.error('[controls]\nkeymap = { escap = "quit" }\n')
        assert "'escap'" in message and "esc" in message

    def test_bad_modifier(self) -> None:
        assert "'ctl'" in self.error('[controls]\nglobal_modifiers = "ctl+alt"\n')

    def test_invalid_toml_names_file(self) -> None:
        assert "not valid TOML" in self.error("[output\nfps = 25\n")

    def test_missing_explicit_file(self, tmp_path: Path) -> None:
        with pytest.raises(LiveHeadError, match="does not exist"):
            load_config({}, str(tmp_path / "nope.toml"))

    def test_cli_unknown_key(self) -> None:
        with pytest.raises(LiveHeadError, match="on the command line. Did you mean output.fps"):
            load_config({"output.fsp": 3})

    def test_cli_wrong_type(self) -> None:
        with pytest.raises(LiveHeadError, match="'engine.precision' on the command line"):
            load_config({"engine.precision": "fp8"})


class TestParseValue:
    @pytest.mark.parametrize(
        ("text", "tp", "expected"),
        [
            ("25", float, 25.0),
            ("3", int, 3),
            ("off", bool, False),
            ("none", str | None, None),
            ("clip.mp4", str | None, "clip.mp4"),
            ("[1, 2]", tuple[int, int], [1, 2]),
            ('{ k = "quit" }', tuple[tuple[str, str], ...], {"k": "quit"}),
        ],
    )
    def test_known_answers(self, text: str, tp: object, expected: object) -> None:
        assert parse_value(text, tp) == expected


class TestConfigMain:
    def test_prints_values_and_sources(self, capsys: pytest.CaptureFixture[str]) -> None:
        path = write(default_config_path(), "[output]\nfps = 25\n")
        assert config_main(["--set", "engine.device=cpu"]) == 0
        out = capsys.readouterr().out
        lines = {line.split("#")[0].strip(): line for line in out.splitlines() if "=" in line}
        assert lines["fps = 25.0"].endswith(f"# file {path.resolve()}")
        assert lines['device = "cpu"'].endswith("# command line")
        assert lines["camera = 0"].endswith("# default")
        assert "X  " in out and "calibrate" in out  # effective keys listed from the keymap

    def test_output_is_valid_toml_and_round_trips(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        config_main(["--set", "output.size=640x480", "--set", 'controls.keymap={ k = "calibrate" }'])
        saved = write(tmp_path / "saved.toml", capsys.readouterr().out)
        config, _ = load_config({}, str(saved))
        assert config.output.size == (640, 480) and config.controls.keymap == (("k", "calibrate"),)

    def test_set_errors(self) -> None:
        with pytest.raises(LiveHeadError, match="KEY=VALUE"):
            config_main(["--set", "output.fps"])
        with pytest.raises(LiveHeadError, match="Did you mean output.fps"):
            config_main(["--set", "output.fsp=3"])

    def test_via_cli_exit_code_and_message(self, capsys: pytest.CaptureFixture[str]) -> None:
        from livehead.cli import main

        write(default_config_path(), "[output]\nfsp = 25\n")
        assert main(["config"]) == 2
        err = capsys.readouterr().err
        assert "Did you mean output.fps?" in err and "Traceback" not in err
