"""Configuration file: loading, strict validation, and where each value came from.

Precedence, lowest first: the dataclass defaults in :mod:`livehead.config.schema`, the TOML file, the
command line. The file is ``config.toml`` in the user's config directory
(``platformdirs.user_config_dir("livehead")``, or ``$LIVEHEAD_CONFIG_DIR``), or the one given with
``--config FILE`` (which must exist). Its ``[section]`` tables match the dataclasses; the avatar
keys sit at the top::

    avatars = "~/Pictures/avatars"     # relative paths are relative to this file

    [output]
    size = [1280, 720]                 # or "1280x720"
    fps = 25

    [engine]
    engine = "mesh"
    device = "cpu"

    [controls]
    keymap = { k = "calibrate", q = "none" }   # add K, unbind Q (Esc still quits)

Every field is settable, so every CLI option that maps to a field is too. Types are checked
strictly (``fps = "fast"`` or ``mirror = 1`` are errors; an int is accepted where a float is
expected); an unknown key or a wrong type raises :class:`LiveHeadError` naming the key, the
file and the closest valid key. ``livehead config`` prints the effective values with their
sources.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library in 3.11
    import tomli as tomllib

from livehead.config import LiveHeadConfig, with_overrides
from livehead.config.paths import default_config_path
from livehead.config.validation import problem, value_message
from livehead.errors import InputError, LiveHeadError

__all__ = [
    "PATH_KEYS",
    "SOURCE_CLI",
    "check_option",
    "SOURCE_DEFAULT",
    "field_types",
    "get_value",
    "load_config",
    "parse_value",
    "sections",
    "toml_value",
    "unknown_key_error",
]

SOURCE_DEFAULT = "default"
SOURCE_CLI = "command line"

# Fields holding file paths: from a config file, `~` is expanded and relative paths are taken
# relative to that file, so the config works whichever directory livehead is started from.
PATH_KEYS = frozenset({"avatar", "avatars", "capture.source", "engine.checkpoint", "output.record"})


# ---------------------------------------------------------------------------------------------
# Schema: dotted key -> type, read from the dataclasses so new fields need no change here


def field_types() -> dict[str, Any]:
    """Every settable key, dotted (``"output.fps"``) or top-level (``"avatar"``), mapped to its type."""
    hints = typing.get_type_hints(LiveHeadConfig)
    result: dict[str, Any] = {}
    for f in dataclasses.fields(LiveHeadConfig):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            section_hints = typing.get_type_hints(tp)
            for sub in dataclasses.fields(tp):
                result[f"{f.name}.{sub.name}"] = section_hints[sub.name]
        else:
            result[f.name] = tp
    return result


def sections(types_: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{"section": [names]}`` of dotted keys (``"engine.crop_size"`` → ``"engine": ["crop_size"]``)."""
    sections: dict[str, list[str]] = {}
    for key in types_:
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, []).append(name)
    return sections


def _default_values() -> dict[str, Any]:
    config = LiveHeadConfig()
    return {key: get_value(config, key) for key in field_types()}


def get_value(config: LiveHeadConfig, key: str) -> Any:
    """The value of a dotted ``key`` (``"output.size"``) in ``config``."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


# ---------------------------------------------------------------------------------------------
# Type checking and conversion


class _TypeMismatch(Exception):
    """Internal: the value does not fit; ``expected`` describes what would."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            if typing.get_origin(args[0]) is tuple:
                return 'a table of key = "action" strings, e.g. { k = "calibrate" }'
            return f"a list of {_describe(args[0])}"
        if all(a is int for a in args) and len(args) == 2:
            return 'a list of two integers, e.g. [1280, 720], or "1280x720"'
        return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any) -> Any:
    """Check ``value`` (as TOML or argparse gives it) against ``tp``; return the typed value."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _TypeMismatch(_describe(tp))
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _TypeMismatch(_describe(tp))
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _TypeMismatch(_describe(tp))
    if tp is str:
        if isinstance(value, str):
            return value
        raise _TypeMismatch(_describe(tp))
    if origin is Literal:
        if any(value == choice and type(value) is type(choice) for choice in args):
            return value
        raise _TypeMismatch(_describe(tp))
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except _TypeMismatch:
                continue
        raise _TypeMismatch(_describe(tp))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis and typing.get_origin(args[0]) is tuple:
            # keymap-like: a TOML table, stored as (key, value) pairs so frozen configs stay hashable
            if isinstance(value, Mapping):
                value = list(value.items())
            if not isinstance(value, (list, tuple)):
                raise _TypeMismatch(_describe(tp))
            pairs = []
            for item in value:
                if not (isinstance(item, (list, tuple)) and len(item) == 2):
                    raise _TypeMismatch(_describe(tp))
                pairs.append(_coerce(tuple(item), args[0]))
            return tuple(pairs)
        if isinstance(value, str) and all(a is int for a in args) and len(args) == 2:
            match = re.fullmatch(r"\s*(\d+)\s*[xX×,]\s*(\d+)\s*", value)
            if not match:
                raise _TypeMismatch(_describe(tp))
            return (int(match.group(1)), int(match.group(2)))
        if not isinstance(value, (list, tuple)):
            raise _TypeMismatch(_describe(tp))
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(value) != len(args):
            raise _TypeMismatch(_describe(tp))
        return tuple(_coerce(v, a) for v, a in zip(value, args))
    if dataclasses.is_dataclass(tp):
        raise _TypeMismatch("a [table]")
    raise TypeError(f"livehead.config cannot check values of type {tp!r}; teach _coerce about it")


def _example(key: str, tp: Any, default: Any) -> str:
    name = key.rsplit(".", 1)[-1]
    if default is not None:
        return f"{name} = {toml_value(default)}"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in typing.get_args(tp) if a is not type(None))
        sample = {str: '"..."', int: "0", float: "1.0", bool: "true"}.get(inner, "...")
        return f"{name} = {sample}"
    return f"{name} = ..."


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def parse_value(text: str, tp: Any) -> Any:
    """Parse a command-line string (``--set output.size=1280x720``) into type ``tp``.

    ``none`` gives ``None`` for optional keys; booleans accept true/false, yes/no, on/off, 1/0;
    lists and tables are read as TOML values (``[1280, 720]``, ``{ k = "calibrate" }``).
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    stripped = text.strip()
    if origin in (typing.Union, types.UnionType):
        if stripped.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return parse_value(text, inner[0])
    if tp is str or (origin is Literal and all(isinstance(a, str) for a in args)):
        return stripped if not (stripped.startswith('"') and stripped.endswith('"')) else stripped[1:-1]
    if tp is bool and stripped.lower() in _BOOL_WORDS:
        return _BOOL_WORDS[stripped.lower()]
    if tp is int and re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)
    if tp is float:
        try:
            return float(stripped)
        except ValueError:
            return stripped
    if origin is tuple and re.fullmatch(r"\s*\d+\s*[xX×]\s*\d+\s*", stripped):
        return stripped
    try:
        return tomllib.loads(f"v = {stripped}")["v"]
    except tomllib.TOMLDecodeError:
        return stripped


# ---------------------------------------------------------------------------------------------
# Loading


def _closest_key(word: str, candidates: list[str]) -> str | None:
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


def _where(origin: str, flag: str | None = None) -> str:
    if origin != SOURCE_CLI:
        return f"in {origin}"
    return f"on the command line ({flag})" if flag else "on the command line"


def unknown_key_error(key: str, origin: str, types_: Mapping[str, Any]) -> LiveHeadError:
    """The error for a key LiveHead does not know, naming where it came from and the closest known key."""
    by_section = sections(types_)
    section, _, name = key.rpartition(".")
    hint = ""
    if section in by_section:
        close = _closest_key(name, by_section[section])
        if close:
            hint = f" Did you mean {section}.{close}?"
        elsewhere = [s for s, names in by_section.items() if name in names and s != section]
        if elsewhere:
            hint = f" {name!r} belongs in [{elsewhere[0]}], not [{section}]."
        valid = ", ".join(by_section[section])
        tail = f" Valid keys in [{section}]: {valid}."
    else:
        candidates = [k for k in types_ if "." not in k] + list(by_section) + list(types_)
        close = _closest_key(key, candidates)
        owners = [s for s, names in by_section.items() if key in names]
        if owners:
            hint = f" {key!r} belongs in a section: [{owners[0]}] {key} = ... ({owners[0]}.{key})."
        elif close:
            hint = f" Did you mean {close}?"
        tail = " Valid top-level keys: " + ", ".join([k for k in types_ if "." not in k] + [f"[{s}]" for s in by_section]) + "."
    return LiveHeadError(f"Unknown config key {key!r} {_where(origin)}.{hint}{tail}")


def _check(key: str, value: Any, origin: str, types_: Mapping[str, Any], defaults: Mapping[str, Any],
           flag: str | None = None) -> Any:
    if key not in types_:
        raise unknown_key_error(key, origin, types_)
    tp = types_[key]
    try:
        checked = _coerce(value, tp)
    except _TypeMismatch as exc:
        shown = toml_value(value) if not isinstance(value, str) else json.dumps(value)
        raise LiveHeadError(
            f"Config key {key!r} {_where(origin, flag)} has the wrong type: got {shown} "
            f"({type(value).__name__}), expected {exc.expected}. Example: {_example(key, tp, defaults.get(key))}"
        ) from None
    trouble = problem(key, checked)
    if trouble:
        raise LiveHeadError(value_message(f"Config key {key!r} {_where(origin, flag)}", trouble,
                                          _example(key, tp, defaults.get(key))))
    if key == "controls.keymap":
        from livehead.ui.keymap import build_keymap

        try:
            build_keymap(checked)
        except LiveHeadError as exc:
            raise LiveHeadError(f"Config key 'controls.keymap' {_where(origin)}: {exc}") from None
    if key == "controls.global_modifiers":
        from livehead.ui.keymap import parse_modifiers

        try:
            parse_modifiers(checked)
        except LiveHeadError as exc:
            raise LiveHeadError(f"{exc} ({_where(origin)})") from None
    return checked


def _flatten_file(data: Mapping[str, Any], origin: str, types_: Mapping[str, Any]) -> dict[str, Any]:
    by_section = sections(types_)
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if name in by_section:
            if not isinstance(value, dict):
                raise LiveHeadError(
                    f"Config key {name!r} {_where(origin)} must be a [{name}] table, got {toml_value(value)}. "
                    f"Write it as:\n[{name}]\n{by_section[name][0]} = ..."
                )
            for sub, sub_value in value.items():
                flat[f"{name}.{sub}"] = sub_value
        else:
            flat[name] = value
    return flat


def _resolve_path(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path))


def _toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> LiveHeadError:
    """Name the line to fix. tomllib reports where it noticed the problem: for an unclosed
    bracket or a missing value that is the start of the *next* line, so then the line before is meant."""
    found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "syntax error"
    if not found:
        return LiveHeadError(f"Config file {path} is not valid TOML: {reason}.")
    lines = text.splitlines()
    number, column = int(found.group(1)), int(found.group(2))
    if column == 1 and number > 1:
        number -= 1
        while number > 1 and not lines[number - 1].strip():
            number -= 1
    shown = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    return LiveHeadError(f"Config file {path} is not valid TOML: line {number} ({shown!r}): {reason}. Fix that line.")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise LiveHeadError(f"Config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, text, exc) from None
    except OSError as exc:
        raise InputError(f"Cannot read config file {path}: {exc.strerror}.") from None


def load_config(
    cli_overrides: Mapping[str, Any],
    config_file: str | os.PathLike[str] | None = None,
    *,
    flags: Mapping[str, str] | None = None,
) -> tuple[LiveHeadConfig, dict[str, str]]:
    """Build the effective config and record where each value came from.

    ``cli_overrides`` maps dotted keys (``"output.fps"``, ``"avatar"``) to values the user gave on
    the command line; ``None`` values are skipped (argparse's "not given"). Strings are parsed
    for non-string keys, so ``{"output.size": "1280x720"}`` works. ``config_file`` must exist
    when given; otherwise the default file is read if present.

    Returns ``(config, sources)`` where ``sources[key]`` is ``"default"``, ``"file /path"`` or
    ``"command line"`` for every key in :func:`field_types`. ``flags`` maps a dotted key to the
    option that set it (``"output.fps": "--fps"``) so a refused value names what the user typed.
    """
    types_ = field_types()
    defaults = _default_values()
    sources = {key: SOURCE_DEFAULT for key in types_}
    values: dict[str, Any] = {}

    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise InputError(
                f"Config file {path} does not exist. Check the --config path, or drop --config to use "
                f"{default_config_path()}."
            )
    else:
        path = default_config_path()
    if path.is_file():
        path = path.resolve()
        origin = f"file {path}"
        for key, value in _flatten_file(_read_file(path), origin, types_).items():
            checked = _check(key, value, origin, types_, defaults)
            if key in PATH_KEYS and isinstance(checked, str):
                checked = _resolve_path(checked, path.parent)
            values[key] = checked
            sources[key] = origin

    for key, value in cli_overrides.items():
        if value is None:
            continue
        if key in types_ and isinstance(value, str) and types_[key] is not str:
            value = parse_value(value, types_[key])
        values[key] = _check(key, value, SOURCE_CLI, types_, defaults, flag=(flags or {}).get(key))
        sources[key] = SOURCE_CLI

    return with_overrides(LiveHeadConfig(), values), sources


def check_option(key: str, value: Any, flag: str) -> Any:
    """A subcommand's own flag that sets what config ``key`` sets (``livehead demo --fps``): parsed,
    type-checked and range-checked exactly as ``livehead --fps`` is; returns the typed value."""
    types_ = field_types()
    if isinstance(value, str) and types_[key] is not str:
        value = parse_value(value, types_[key])
    return _check(key, value, SOURCE_CLI, types_, _default_values(), flag=flag)



# ---------------------------------------------------------------------------------------------
# TOML rendering (error messages here, `livehead config` output)


def toml_value(value: Any) -> str:
    """``value`` as TOML text (strings quoted, pairs as inline tables), for messages and ``livehead config``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return toml_table(value.items())
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return toml_table(value)
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def toml_table(items: Any) -> str:
    """``(key, value)`` pairs as a TOML inline table ``{ k = v, ... }``."""
    parts = []
    for k, v in items:
        key = k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)
        parts.append(f"{key} = {toml_value(v)}")
    return "{ " + ", ".join(parts) + " }" if parts else "{}"
