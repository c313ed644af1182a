"""Where LiveHead keeps its files: the config file, the data folder (avatars, caches, checkpoints).

``$LIVEHEAD_CONFIG_DIR`` / ``$LIVEHEAD_DATA_DIR`` override the platform's user folders
(``platformdirs``), so tests and portable installs can point them anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from livehead.errors import InputError

__all__ = ["APP_NAME", "CONFIG_DIR_ENV", "DATA_DIR_ENV", "avatars_dir", "config_dir", "default_config_path",
           "user_data_dir"]

APP_NAME = "livehead"
CONFIG_DIR_ENV = "LIVEHEAD_CONFIG_DIR"
DATA_DIR_ENV = "LIVEHEAD_DATA_DIR"
CONFIG_FILE_NAME = "config.toml"


def config_dir() -> Path:
    """Directory of the default config file: ``$LIVEHEAD_CONFIG_DIR`` or the platform's user config dir."""
    env = os.environ.get(CONFIG_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def default_config_path() -> Path:
    """``config_dir() / "config.toml"`` (it may not exist)."""
    return config_dir() / CONFIG_FILE_NAME


def user_data_dir() -> Path:
    """LiveHead's data directory: ``$LIVEHEAD_DATA_DIR`` or the platform's user data dir (not created)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def avatars_dir(*, create: bool = True) -> Path:
    """Default avatars folder, ``user_data_dir() / "avatars"``; created on first use unless ``create=False``."""
    path = user_data_dir() / "avatars"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"Cannot create the avatars folder {path}: {exc.strerror}. "
                f"Pass --avatars DIR or set {DATA_DIR_ENV} to a writable directory."
            ) from exc
    return path
