"""Loading FOMM / face-vid2vid / LivePortrait checkpoints safely and strictly.

Layouts:

* FOMM / face-vid2vid ``.pth.tar`` (written by the upstream ``Logger.save_cpk``): a dict with one
  state dict per network, ``generator`` and ``kp_detector`` (+ ``he_estimator`` for face-vid2vid),
  and training leftovers (``discriminator``, ``optimizer_*``, ``epoch``) that inference ignores.
* LivePortrait: a folder of five files (:data:`LIVEPORTRAIT_FILES`, the official
  ``pretrained_weights/liveportrait`` layout): four bare state dicts and
  ``stitching_retargeting_module.pth``, a dict ``{retarget_shoulder, retarget_mouth, retarget_eye}``
  whose keys may carry DataParallel ``module.`` prefixes (stripped, as the official loader does).
  Or one file ``{module_name: state_dict}`` with the same five entries (the golden fixture's layout).

Safety: files are always read with ``torch.load(..., weights_only=True)``, which unpickles only
tensors and plain containers; a file whose pickle would call arbitrary code is refused *before*
anything runs. Every entry is checked key by key and shape by shape against the architecture,
and a mismatch is reported in full (missing / unexpected / wrong shape) with the fix.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from livehead.errors import CheckpointError
from livehead.models.catalog import LIVEPORTRAIT_DOWNLOAD, LIVEPORTRAIT_FILES
from livehead.models.configs import PUBLIC_CONFIGS, Engine, ModelConfig, ModelSet, build_models, get_public_config

__all__ = [
    "CheckpointFile",
    "LoadedCheckpoint",
    "check_state_dict",
    "detect_engine",
    "load_checkpoint",
    "read_checkpoint",
    "sha256_file",
]

log = logging.getLogger(__name__)

_NETWORK_ENTRIES = ("generator", "kp_detector", "he_estimator")
_ENGINE_NAMES = {"fomm": "FOMM (first-order-model)", "fv2v": "face-vid2vid", "liveportrait": "LivePortrait"}
_ENGINE_FILES = {
    "fomm": "vox-cpk.pth.tar or vox-adv-cpk.pth.tar",
    "fv2v": "00000189-checkpoint.pth.tar",
    "liveportrait": "the liveportrait/ weights folder holding base_models/ and retargeting_models/",
}
_MAX_LISTED = 8  # keys listed per problem kind before "... and N more"


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (checkpoints are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint read from disk, not yet matched to an architecture."""

    path: Path
    sha256: str
    size: int  # bytes
    entries: dict[str, dict[str, Tensor]]  # network state dicts present (generator, kp_detector …; LivePortrait's 5)
    ignored: tuple[str, ...]  # other top-level keys (discriminator, optimizers, epoch …), unused
    engine: Engine | None  # guessed from the key names, None if unrecognised


@dataclass
class LoadedCheckpoint:
    """Networks built for ``config`` with the checkpoint's weights, in eval mode, on the CPU."""

    models: ModelSet
    config: ModelConfig
    path: Path
    sha256: str
    ignored_entries: tuple[str, ...]  # top-level keys not used for inference
    injected_keys: tuple[str, ...]  # "entry/key" num_batches_tracked buffers absent from an old file, set to 0


def detect_engine(entries: Mapping[str, Mapping[str, Tensor]]) -> Engine | None:
    """Which model family the state dicts belong to, from distinctive key names.

    FOMM's KPDetector hourglass has ``predictor.encoder.*``; face-vid2vid's has
    ``predictor.down_blocks.down0.*`` and the file carries an ``he_estimator``; LivePortrait's
    entries are named after its networks (``motion_extractor`` …).
    """
    if set(entries) & set(LIVEPORTRAIT_FILES):
        return "liveportrait"
    kp = entries.get("kp_detector", {})
    if "he_estimator" in entries or any(k.startswith("predictor.down_blocks.down") for k in kp):
        return "fv2v"
    if any(k.startswith("predictor.encoder.") for k in kp):
        return "fomm"
    generator = entries.get("generator", {})
    if any(k.startswith("decoder.G_middle_") or k.startswith("resblocks_3d.") for k in generator):
        return "fv2v"
    if any(k.startswith("bottleneck.r") for k in generator):
        return "fomm"
    return None


# what a plain state-dict pickle may import; anything else is a callable unpickling would run
_WEIGHT_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode")
_SCAN_BYTES = 64 << 20  # a legacy torch file's pickle comes first; its tensor data after it need not be read


def _foreign_globals(path: Path) -> list[str]:
    """The callables ``path``'s pickle would import that plain weights never need, read with
    pickletools (nothing is executed). Used when torch's safe loader stops on an opcode it does
    not know before it reached the global that would show the file's intent."""
    import io
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                data = archive.read(names[0]) if names else b""
        else:
            with open(path, "rb") as f:
                data = f.read(_SCAN_BYTES)
    except (OSError, zipfile.BadZipFile):
        return []
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str):
                strings.append(arg)
    except (ValueError, EOFError, UnicodeDecodeError):  # a damaged stream: what was read so far counts
        pass
    return list(dict.fromkeys(g for g in found if not g.startswith(_WEIGHT_GLOBALS)))


def _torch_load(path: Path) -> object:
    """``torch.load`` with ``weights_only=True``; every failure becomes a :class:`CheckpointError`."""
    redownload = "Download it again (run `livehead models` for the expected file names)."
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as err:
        raise CheckpointError(f"Cannot read checkpoint {path}: {err.strerror}. Check the file's permissions.") from None
    if head.lstrip()[:1] == b"<":
        raise CheckpointError(
            f"Checkpoint {path} is an HTML/XML page, not a PyTorch file: the download probably returned an error "
            f"page (e.g. a Google Drive quota notice). {redownload}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err) + " " + str(err.__context__ or "")
        found = re.search(r"GLOBAL ([\w.]+)", text)
        unsafe = [found.group(1)] if found and re.search(r"unsupported global|not an allowed global|is blocked",
                                                          text, re.IGNORECASE) else _foreign_globals(path)
        if unsafe:
            raise CheckpointError(
                f"Checkpoint {path} was refused: it would run code when loaded ({', '.join(unsafe[:3])}; plain "
                "weights never need that). LiveHead loads checkpoints with torch.load(weights_only=True) and never "
                "executes them. Use the official file from the model's authors."
            ) from None
        # torch's own message suggests weights_only=False, which we never do: report only the cause.
        cause = _first_line(str(err.__context__ or "")) or "unreadable pickle data"
        raise CheckpointError(
            f"Checkpoint {path} is not a PyTorch checkpoint (unpickling failed: {cause}). "
            f"Check the path; if it is the right file, it is damaged. {redownload}"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError) as err:  # junk bytes fail anywhere
        raise CheckpointError(
            f"Checkpoint {path} is truncated or corrupted ({_first_line(str(err)) or type(err).__name__}); "
            f"size {path.stat().st_size:,} bytes. {redownload}"
        ) from None


def _first_line(text: str) -> str:
    """First sentence of an exception text (torch appends long advice we do not want to repeat)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0].split(". ")[0].rstrip(".")[:200] if lines else ""


def read_checkpoint(path: str | Path) -> CheckpointFile:
    """Read a ``.pth.tar`` safely and split it into network state dicts.

    Raises:
        CheckpointError: missing, empty, truncated, unsafe (code-executing pickle) or not a
            FOMM/face-vid2vid checkpoint. The message names the file and the fix.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"Checkpoint {path} does not exist. Pass --checkpoint PATH or put the file in the checkpoints folder "
            "(`livehead models` shows where and which names are recognised)."
        )
    if path.is_dir() and liveportrait_folder(path) is not None:
        return read_liveportrait_folder(path)
    if not path.is_file():
        raise CheckpointError(
            f"Checkpoint {path} is not a file. Pass the .pth.tar file itself with --checkpoint (a folder is accepted "
            "only for LivePortrait: the one holding base_models/ and retargeting_models/)."
        )
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"Checkpoint {path} is empty (0 bytes): the download or copy failed. Download it again.")
    data = _torch_load(path)
    digest = sha256_file(path)
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"Checkpoint {path} holds a {type(data).__name__}, not a dict of state dicts; it is not a FOMM or "
            f"face-vid2vid checkpoint. Expected a file like {_ENGINE_FILES['fomm']} or {_ENGINE_FILES['fv2v']}."
        )
    if set(data) & set(LIVEPORTRAIT_FILES):
        entries = {name: _liveportrait_entry(path, name, data[name]) for name in LIVEPORTRAIT_FILES if name in data}
        ignored = tuple(str(k) for k in data if k not in entries)
        return CheckpointFile(path, digest, size, entries, ignored, "liveportrait")
    entries = {k: v for k, v in data.items() if k in _NETWORK_ENTRIES and isinstance(v, Mapping)}
    if not entries:
        keys = list(data)[:_MAX_LISTED]
        bare = bool(data) and all(isinstance(v, Tensor) for v in data.values())
        if bare:
            raise CheckpointError(
                f"Checkpoint {path} is a bare state dict of a single network, as LivePortrait ships its five "
                "networks. For --engine liveportrait pass the folder that holds base_models/ and retargeting_models/ "
                "(`livehead models` shows the expected files); FOMM and face-vid2vid use one file "
                f"({_ENGINE_FILES['fomm']} or {_ENGINE_FILES['fv2v']})."
            )
        raise CheckpointError(
            f"Checkpoint {path} is not a FOMM/face-vid2vid/LivePortrait checkpoint: it has top-level keys {keys}, "
            f"but no 'generator' / 'kp_detector' entries. Expected a file like {_ENGINE_FILES['fomm']} or "
            f"{_ENGINE_FILES['fv2v']}, or {_ENGINE_FILES['liveportrait']}."
        )
    for name, sd in entries.items():
        bad = [k for k, v in sd.items() if not isinstance(v, Tensor)]
        if bad:
            raise CheckpointError(f"Checkpoint {path}, entry {name!r}: values of {bad[:_MAX_LISTED]} are not tensors; "
                                  "the file is not a plain state dict. Re-export or download it again.")
    ignored = tuple(str(k) for k in data if k not in entries)
    return CheckpointFile(path, digest, size, {k: dict(v) for k, v in entries.items()}, ignored, detect_engine(entries))


def liveportrait_folder(path: str | Path) -> Path | None:
    """The LivePortrait weights folder at or under ``path``: ``path`` itself, ``path/liveportrait``
    or ``path/pretrained_weights/liveportrait`` (the first holding ``base_models/`` or
    ``retargeting_models/``), else None."""
    path = Path(path).expanduser()
    for candidate in (path, path / "liveportrait", path / "pretrained_weights" / "liveportrait"):
        if (candidate / "base_models").is_dir() or (candidate / "retargeting_models").is_dir():
            return candidate
    return None


def _strip_module_prefix(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    # The official loader removes every 'module.' substring (DataParallel residue), not only a prefix.
    return {k.replace("module.", ""): v for k, v in state_dict.items()}


def _liveportrait_entry(path: Path, name: str, value: object) -> dict[str, Tensor]:
    """One LivePortrait entry as a flat state dict of our module (the stitching file's three
    sub-dicts become ``stitching.*``, ``lip.*``, ``eye.*``)."""
    from livehead.models.liveportrait.stitching_retargeting import FILE_ENTRIES

    if not isinstance(value, Mapping):
        raise CheckpointError(f"Checkpoint {path}, entry {name!r} holds a {type(value).__name__}, not a state dict. "
                              "Download the LivePortrait weights again (`livehead models` shows the files).")
    if name != "stitching_retargeting_module":
        flat = dict(value)
    else:
        absent = [k for k in FILE_ENTRIES if not isinstance(value.get(k), Mapping)]
        if absent:
            raise CheckpointError(
                f"Checkpoint {path}: the stitching/retargeting entry lacks {', '.join(absent)} (it has "
                f"{sorted(map(str, value))}); it should hold retarget_shoulder, retarget_mouth and retarget_eye. "
                "Download stitching_retargeting_module.pth again."
            )
        flat = {f"{child}.{k}": v for sub, child in FILE_ENTRIES.items()
                for k, v in _strip_module_prefix(value[sub]).items()}
    bad = [k for k, v in flat.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"Checkpoint {path}, entry {name!r}: values of {bad[:_MAX_LISTED]} are not tensors; "
                              "the file is not a plain state dict. Download it again.")
    return flat


def read_liveportrait_folder(path: str | Path) -> CheckpointFile:
    """Read LivePortrait's five official files from a weights folder (see :func:`liveportrait_folder`).

    The sha256 is that of the five files' sha256 values, so a cache or a compiled engine built
    from one download is refused for another.

    Raises:
        CheckpointError: files missing (each listed with its expected path), unsafe, truncated or
            not state dicts.
    """
    folder = liveportrait_folder(path)
    if folder is None:
        raise CheckpointError(f"{path} holds no LivePortrait weights (no base_models/ or retargeting_models/ folder). "
                              f"Download: {LIVEPORTRAIT_DOWNLOAD}.")
    files = {name: folder / rel for name, rel in LIVEPORTRAIT_FILES.items()}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise CheckpointError(
            f"LivePortrait weights in {folder} are incomplete; missing:" + _listing(missing)
            + f"\nDownload: {LIVEPORTRAIT_DOWNLOAD}."
        )
    entries: dict[str, dict[str, Tensor]] = {}
    digests = []
    for name, file in files.items():
        if file.stat().st_size == 0:
            raise CheckpointError(f"Checkpoint {file} is empty (0 bytes): the download or copy failed. "
                                  "Download it again.")
        entries[name] = _liveportrait_entry(file, name, _torch_load(file))
        digests.append(f"{LIVEPORTRAIT_FILES[name]}:{sha256_file(file)}\n")
    digest = hashlib.sha256("".join(digests).encode()).hexdigest()
    size = sum(f.stat().st_size for f in files.values())
    return CheckpointFile(folder, digest, size, entries, (), "liveportrait")


def _listing(items: list[str]) -> str:
    lines = [f"\n    {item}" for item in items[:_MAX_LISTED]]
    if len(items) > _MAX_LISTED:
        lines.append(f"\n    ... and {len(items) - _MAX_LISTED} more")
    return "".join(lines)


def check_state_dict(
    module: nn.Module, state_dict: Mapping[str, Tensor], *, entry: str, path: Path | str, config: ModelConfig
) -> tuple[dict[str, Tensor], list[str]]:
    """Compare a state dict with ``module`` key by key and shape by shape.

    Absent ``*.num_batches_tracked`` buffers (old checkpoints) are injected as 0; they are
    unused in eval mode.

    Returns:
        The state dict to load (with injected buffers) and the injected keys.

    Raises:
        CheckpointError: listing every missing, unexpected and mismatched key, and the fix.
    """
    expected = module.state_dict()
    sd = dict(state_dict)
    injected = [
        k
        for k in expected
        if k.endswith(".num_batches_tracked")
        and k not in sd
        and k.removesuffix("num_batches_tracked") + "running_mean" in sd
    ]
    for k in injected:
        sd[k] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    mismatched = [
        f"{k} (file {list(sd[k].shape)} vs model {list(expected[k].shape)})"
        for k in expected
        if k in sd and sd[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or mismatched):
        return sd, injected
    lines = [
        f"Checkpoint {path}, entry {entry!r} does not match the {config.name} architecture ({config.source}):"
    ]
    if missing:
        lines.append(f"  missing from the file ({len(missing)}):{_listing(missing)}")
    if unexpected:
        lines.append(f"  unexpected in the file ({len(unexpected)}):{_listing(unexpected)}")
    if mismatched:
        lines.append(f"  wrong shape ({len(mismatched)}):{_listing(mismatched)}")
    hints = []
    if unexpected and all(k.startswith("module.") for k in unexpected):
        hints.append("The keys carry a DataParallel 'module.' prefix; re-save the state dicts without it.")
    if any(k.endswith(".weight_orig") for k in missing) and any(k.endswith(".weight") for k in unexpected):
        hints.append("The spectral norm was folded into plain weights; use the original training checkpoint.")
    if mismatched and not (missing or unexpected):
        hints.append(
            "Same layers, different sizes: the checkpoint was trained with another config. Pass the YAML that came "
            "with it (--config FILE)."
        )
    else:
        hints.append(
            "Pass the YAML config the checkpoint was trained with (--config FILE), or a checkpoint made for "
            f"{config.name}."
        )
    raise CheckpointError("\n".join(lines + ["Fix: " + " ".join(hints)]))


def _resolve_config(config: ModelConfig | str | None, engine: Engine | None, path: Path) -> ModelConfig:
    if isinstance(config, ModelConfig):
        return config
    if isinstance(config, str):
        return get_public_config(config)
    if engine is None:
        raise CheckpointError(
            f"Checkpoint {path}: cannot tell whether it is FOMM, face-vid2vid or LivePortrait from its keys; "
            "pass --engine and --config."
        )
    return next(c for c in PUBLIC_CONFIGS.values() if c.engine == engine)


def load_checkpoint(path: str | Path, config: ModelConfig | str | None = None) -> LoadedCheckpoint:
    """Build the networks for ``config`` and load ``path`` into them strictly.

    Args:
        path: a ``.pth.tar`` in the original layout, or for LivePortrait its weights folder or a
            combined ``{module_name: state_dict}`` file.
        config: a :class:`ModelConfig` (e.g. from :func:`~livehead.models.configs.load_model_config`),
            a public config name (``"fomm-vox-256"``, ``"fomm-vox-adv-256"``, ``"fv2v-vox-256"``,
            ``"liveportrait"``), or None to use the public config of the engine detected from the file.

    Returns:
        :class:`LoadedCheckpoint` with the networks in eval mode on the CPU and the file's sha256.

    Raises:
        CheckpointError: unreadable/unsafe file, wrong model family (e.g. a FOMM file for fv2v), or
            keys/shapes that do not match; the message names the file, the problem and the fix.
    """
    ckpt = read_checkpoint(path)
    cfg = _resolve_config(config, ckpt.engine, ckpt.path)
    if ckpt.engine is not None and ckpt.engine != cfg.engine:
        raise CheckpointError(
            f"Checkpoint {ckpt.path} is a {_ENGINE_NAMES[ckpt.engine]} checkpoint, but the {cfg.engine} engine "
            f"({cfg.name}) was requested. Use --engine {ckpt.engine}, or give a {_ENGINE_NAMES[cfg.engine]} "
            f"checkpoint ({_ENGINE_FILES[cfg.engine]})."
        )
    needed = cfg.entries
    absent = [e for e in needed if e not in ckpt.entries]
    if absent:
        what = ", ".join(repr(e) for e in absent) + (" entry" if len(absent) == 1 else " entries")
        raise CheckpointError(
            f"Checkpoint {ckpt.path} lacks the {what} "
            f"needed by {cfg.engine} (it has {sorted(ckpt.entries)}). Give a complete {_ENGINE_NAMES[cfg.engine]} "
            f"checkpoint ({_ENGINE_FILES[cfg.engine]})."
        )
    models = build_models(cfg)
    injected: list[str] = []
    for entry, module in models.items():
        # A LivePortrait folder: name the file of the entry, not the folder.
        where = ckpt.path / LIVEPORTRAIT_FILES[entry] if ckpt.path.is_dir() else ckpt.path
        sd, added = check_state_dict(module, ckpt.entries[entry], entry=entry, path=where, config=cfg)
        module.load_state_dict(sd, strict=True)
        injected += [f"{entry}/{k}" for k in added]
    if injected:
        log.info("%s: %d num_batches_tracked buffers absent, set to 0 (old checkpoint)", ckpt.path, len(injected))
    ignored = ckpt.ignored + tuple(e for e in ckpt.entries if e not in needed)
    log.info("loaded %s checkpoint %s (sha256 %s, config %s)", cfg.engine, ckpt.path, ckpt.sha256[:16], cfg.name)
    return LoadedCheckpoint(models.eval(), cfg, ckpt.path, ckpt.sha256, ignored, tuple(injected))

