"""``livehead config``: the effective configuration as TOML, each value with where it came from."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from livehead.config import LiveHeadConfig
from livehead.config.loading import (
    SOURCE_CLI,
    SOURCE_DEFAULT,
    field_types,
    get_value,
    load_config,
    parse_value,
    sections,
    toml_value,
    unknown_key_error,
)
from livehead.config.paths import default_config_path
from livehead.errors import LiveHeadError

__all__ = ["format_config", "main"]


def format_config(config: LiveHeadConfig, sources: Mapping[str, str], *, config_path: Path, found: bool) -> str:
    """The effective config as TOML (pasteable into config.toml), each line commented with its source."""
    from livehead.ui.keymap import build_keymap, help_text

    types_ = field_types()
    lines = [
        "# LiveHead effective configuration",
        f"# config file: {config_path}" + ("" if found else " (not found; create it to change the defaults)"),
        "",
    ]

    def emit(key: str) -> str:
        name = key.rsplit(".", 1)[-1]
        value = get_value(config, key)
        source = sources.get(key, SOURCE_DEFAULT)
        if value is None:
            text = f"# {name} = (not set)"
        elif isinstance(value, tuple) and not value and typing.get_origin(types_[key]) is tuple:
            text = f"{name} = {{}}" if "keymap" in key else f"{name} = []"
        else:
            text = f"{name} = {toml_value(value)}"
        return f"{text:<36}  # {source}"

    width_keys = [k for k in types_ if "." not in k]
    lines += [emit(k) for k in width_keys]
    for section, names in sections(types_).items():
        lines += ["", f"[{section}]"]
        lines += [emit(f"{section}.{n}") for n in names]
    keymap = build_keymap(config.controls.keymap)
    lines += ["", "# Effective keys (defaults + [controls] keymap):"]
    lines += ["#   " + row for row in help_text(keymap, global_modifiers=config.controls.global_modifiers).splitlines()]
    return "\n".join(lines)


def _parse_set(items: list[str], types_: Mapping[str, Any]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise LiveHeadError(f"--set needs KEY=VALUE, e.g. --set output.fps=25; got {item!r}.")
        if key not in types_:
            raise unknown_key_error(key, SOURCE_CLI, types_)
        overrides[key] = parse_value(text, types_[key])
    return overrides


def _run_overrides(rest: list[str]) -> dict[str, Any]:
    """Map leftover run options (``--avatar me.png --fps 25``) to dotted keys the way ``livehead`` does,
    so ``livehead config`` shows exactly what ``livehead`` with the same options would use."""
    from livehead.commands.run import cli_overrides

    return cli_overrides(rest)


def main(argv: list[str]) -> int:
    """``livehead config [--config FILE] [--set KEY=VALUE ...] [run options]``."""
    parser = argparse.ArgumentParser(
        prog="livehead config",
        description="Print the effective configuration and where each value came from "
        "(default < config file < command line). The output is valid TOML: save it as your config file.",
    )
    parser.add_argument("--config", metavar="FILE", help=f"config file to read instead of {default_config_path()}")
    parser.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], help="override a key, e.g. --set output.fps=25"
    )
    parser.add_argument("--path", action="store_true", help="print only the default config file path")
    parser.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.path:
        print(default_config_path())
        return 0
    types_ = field_types()
    overrides = _run_overrides(rest) if rest else {}
    overrides.update(_parse_set(args.set, types_))
    from livehead.commands.run import FLAGS

    config, sources = load_config(overrides, args.config, flags=FLAGS)
    path = Path(args.config).expanduser().resolve() if args.config else default_config_path()
    print(format_config(config, sources, config_path=path, found=path.is_file()))
    return 0
