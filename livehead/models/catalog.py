"""Known checkpoints: which files the neural engines use, where LiveHead looks, which are present.

``livehead models`` prints this catalog (:func:`main`). A checkpoint is found either with
``--checkpoint PATH`` or by its usual file name in the checkpoints folder,
``<data dir>/checkpoints`` where the data dir is ``$LIVEHEAD_DATA_DIR`` or
``platformdirs.user_data_dir("livehead")``. LiveHead never downloads weights itself: the authors
publish them behind Google Drive / MediaFire / HuggingFace pages.

LivePortrait is five files, not one: its entry is the folder ``<checkpoints>/liveportrait`` laid out
as the official ``pretrained_weights/liveportrait`` (:data:`LIVEPORTRAIT_FILES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from livehead.checks import Check
from livehead.config.paths import DATA_DIR_ENV, user_data_dir
from livehead.errors import CheckpointError, InputError

if TYPE_CHECKING:  # the catalog is plain data: no torch, so the light install's doctor reads it too
    from livehead.models.configs import Engine, ModelConfig

__all__ = [
    "CATALOG",
    "LIVEPORTRAIT_DOWNLOAD",
    "LIVEPORTRAIT_FILES",
    "CatalogEntry",
    "CheckpointStatus",
    "catalog_status",
    "checkpoints_dir",
    "find_checkpoint",
    "doctor_checks",
    "found_checkpoints",
    "resolve_checkpoint",
]

# LivePortrait entry -> its official file, relative to the weights folder (pretrained_weights/liveportrait;
# the HuggingFace repo KwaiVGI/LivePortrait has the same layout under liveportrait/).
LIVEPORTRAIT_DOWNLOAD = (
    "LivePortrait README, 'Download pretrained weights': https://huggingface.co/KwaiVGI/LivePortrait "
    "(the liveportrait/ folder: base_models/ and retargeting_models/)"
)
LIVEPORTRAIT_FILES: dict[str, str] = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting_module": "retargeting_models/stitching_retargeting_module.pth",
}
_FOMM_DOWNLOAD = (
    "first-order-model README, 'Pre-trained checkpoint': "
    "https://drive.google.com/open?id=1PyQJmkdCsAkOYwUyaj_l-l0as-iLDgeH or https://yadi.sk/d/lEw8uRm140L_eQ"
)
_FV2V_DOWNLOAD = (
    "One-Shot_Free-View_Neural_Talking_Head_Synthesis README, 'Vox-256-New': "
    "https://www.mediafire.com/folder/fcvtkn21j57bb/TalkingHead_Update"
)


def liveportrait_download_command(directory: Path) -> str:
    """The command that puts LivePortrait's weights where :func:`find_checkpoint` looks."""
    return (f"huggingface-cli download KwaiVGI/LivePortrait --include 'liveportrait/base_models/*' "
            f"'liveportrait/retargeting_models/*' --local-dir {directory}")


@dataclass(frozen=True)
class CatalogEntry:
    """One supported public checkpoint."""

    name: str  # catalog name, also the public config name
    engine: Engine  # engine that runs it (--engine)
    file_names: tuple[str, ...]  # file names recognised in the checkpoints folder, preferred first
    description: str
    download: str  # where the authors publish it
    parts: tuple[str, ...] = ()  # when set, file_names[0] is a folder that must hold all these files

    @property
    def config(self) -> ModelConfig:
        """The built-in architecture for this checkpoint (no YAML needed; builds need the neural extra)."""
        from livehead.models.configs import get_public_config

        return get_public_config(self.name)


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="fomm-vox-adv-256",
        engine="fomm",
        file_names=("vox-adv-cpk.pth.tar",),
        description="FOMM VoxCeleb 256x256, adversarially fine-tuned (the one Avatarify uses)",
        download=_FOMM_DOWNLOAD,
    ),
    CatalogEntry(
        name="fomm-vox-256",
        engine="fomm",
        file_names=("vox-cpk.pth.tar",),
        description="FOMM VoxCeleb 256x256",
        download=_FOMM_DOWNLOAD,
    ),
    CatalogEntry(
        name="fv2v-vox-256",
        engine="fv2v",
        file_names=("00000189-checkpoint.pth.tar",),
        description="face-vid2vid (zhanglonghao1992) Vox-256-New, SPADE generator (config vox-256-spade.yaml)",
        download=_FV2V_DOWNLOAD,
    ),
    CatalogEntry(
        name="liveportrait",
        engine="liveportrait",
        file_names=("liveportrait",),
        description="LivePortrait (KwaiVGI, humans): appearance, motion, warping, SPADE generator, stitching",
        download=LIVEPORTRAIT_DOWNLOAD,
        parts=tuple(LIVEPORTRAIT_FILES.values()),
    ),
)


@dataclass(frozen=True)
class CheckpointStatus:
    """A catalog entry and where (if anywhere) its file was found."""

    name: str
    engine: Engine
    file_name: str  # the preferred file name (LivePortrait: its folder)
    path: Path | None  # the file found, None if missing
    missing: tuple[str, ...] = ()  # a folder entry's files that are absent (full paths)

    @property
    def present(self) -> bool:
        return self.path is not None


def checkpoints_dir() -> Path:
    """``<data dir>/checkpoints`` (not created)."""
    return user_data_dir() / "checkpoints"


def missing_parts(entry: CatalogEntry, directory: Path | None = None) -> list[Path]:
    """A folder entry's files absent from ``directory`` (default the checkpoints folder), as full paths."""
    directory = checkpoints_dir() if directory is None else Path(directory)
    return [directory / entry.file_names[0] / part for part in entry.parts
            if not (directory / entry.file_names[0] / part).is_file()]


def find_checkpoint(entry: CatalogEntry, directory: Path | None = None) -> Path | None:
    """The first of ``entry.file_names`` that exists as a file in ``directory`` (default the
    checkpoints folder), else None. A folder entry (LivePortrait) counts only with all its parts."""
    directory = checkpoints_dir() if directory is None else Path(directory)
    if entry.parts:
        return None if missing_parts(entry, directory) else directory / entry.file_names[0]
    for file_name in entry.file_names:
        path = directory / file_name
        if path.is_file():
            return path
    return None


def catalog_status(directory: Path | None = None) -> list[CheckpointStatus]:
    """Every catalog entry with the file found for it (or None)."""
    return [CheckpointStatus(e.name, e.engine, e.file_names[0] + ("/" if e.parts else ""),
                             find_checkpoint(e, directory),
                             tuple(str(p) for p in missing_parts(e, directory)) if e.parts else ())
            for e in CATALOG]


def found_checkpoints(directory: Path | None = None) -> dict[str, Path]:
    """Catalog name -> path of every checkpoint present (used by ``livehead doctor``)."""
    return {s.name: s.path for s in catalog_status(directory) if s.path is not None}


def _entry_for_file(path: Path, engine: str) -> CatalogEntry | None:
    return next((e for e in CATALOG if e.engine == engine and path.name in e.file_names), None)


def resolve_checkpoint(
    engine: str, checkpoint: str | Path | None = None, *, directory: Path | None = None
) -> tuple[Path, ModelConfig]:
    """Which file and architecture an engine should load.

    Args:
        engine: "fomm", "fv2v" or "liveportrait".
        checkpoint: an explicit path (``--checkpoint``; a folder or a combined file for
            LivePortrait); None searches the checkpoints folder for the engine's catalog files, in
            catalog order.
        directory: the folder to search instead of :func:`checkpoints_dir` (tests).

    Returns:
        The file and its built-in config: the catalog entry's when the file name is known,
        else the engine's standard vox-256 architecture (give a YAML through
        :func:`~livehead.models.configs.load_model_config` for anything else).

    Raises:
        CheckpointError: the path does not exist, or no checkpoint was found; the message lists
            the file names, the folder and where to download them.
    """
    entries = [e for e in CATALOG if e.engine == engine]
    if not entries:
        engines = sorted({e.engine for e in CATALOG})
        raise InputError(f"Engine {engine!r} uses no checkpoint from the catalog; known: {', '.join(engines)}.")
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if engine == "liveportrait" and path.exists():
            return path, entries[0].config
        if not path.is_file():
            raise CheckpointError(
                f"Checkpoint {path} (--checkpoint) does not exist or is not a file. Check the path; "
                "`livehead models` lists the supported files."
            )
        entry = _entry_for_file(path, engine)
        default = next(e for e in entries if e.name.endswith("vox-256"))
        return path, (entry or default).config
    directory = checkpoints_dir() if directory is None else Path(directory)
    for entry in entries:
        path = find_checkpoint(entry, directory)
        if path is not None:
            return path, entry.config
    if entries[0].parts:
        missing = missing_parts(entries[0], directory)
        raise CheckpointError(
            f"No complete {engine} weights in {directory / entries[0].file_names[0]}; missing:"
            + "".join(f"\n    {p}" for p in missing)
            + f"\nDownload: {entries[0].download}, e.g.\n    {liveportrait_download_command(directory)}\n"
            f"(or pass --checkpoint with the folder that holds base_models/ and retargeting_models/). "
            "Run `livehead models` for details."
        )
    names = " or ".join(n for e in entries for n in e.file_names)
    raise CheckpointError(
        f"No {engine} checkpoint found: put {names} in {directory} (or set {DATA_DIR_ENV} to move the folder), "
        f"or pass --checkpoint PATH. Download: {entries[0].download}. Run `livehead models` for details."
    )


def doctor_checks() -> list[Check]:
    """One line per catalog checkpoint, saying where a missing one goes (all optional: mesh needs none)."""
    directory = checkpoints_dir()
    checks = []
    for entry in catalog_status():
        name = f"{entry.name} ({entry.engine})"
        if entry.path is not None:
            checks.append(Check("checkpoints", name, "ok", str(entry.path)))
        else:
            checks.append(Check(
                "checkpoints", name, "warn",
                f"not found (only needed for --engine {entry.engine}; mesh needs no weights)",
                f"download {entry.file_name} (see `livehead models`) into {directory}, or pass --checkpoint PATH",
            ))
    return checks or [Check("checkpoints", "checkpoints", "info", "the catalog lists no checkpoints")]
