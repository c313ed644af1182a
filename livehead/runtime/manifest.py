"""``engines/manifest.json``: what each compiled artifact was built from and for which machine.

A TensorRT plan only runs on the TensorRT version and GPU it was built with ("By default,
TensorRT engines are compatible only with the version of TensorRT used to build them"; plans are
not portable across GPU architectures, and the GPU name alone is not enough: see
``../shared/docs/tensorrt.md`` 3.4). So every plan has an entry here keyed by artifact name, and
the runtime refuses a plan whose entry does not match the machine and checkpoint, with the
command that rebuilds it. ONNX-only builds (no TensorRT on the build machine) get entries too, so
the ONNX Runtime backend can reuse the exported graphs for the same checkpoint.

File format (``format`` 1)::

    {"format": 1,
     "entries": {"fomm_generator_fp16": {
        "engine": "fomm", "graph": "generator", "precision": "fp16", "image_size": 256,
        "checkpoint": "vox-cpk.pth.tar", "checkpoint_sha256": "…",
        "onnx": "fomm_generator_fp16.onnx", "onnx_sha256": "…",
        "trt_onnx": "fomm_generator_fp16.trt.onnx", "trt_onnx_sha256": "…",
        "plan": "fomm_generator_fp16.plan", "plan_sha256": "…",
        "tensorrt_version": "11.4.0.106", "gpu_name": "NVIDIA H100 80GB HBM3",
        "compute_capability": "9.0",
        "inputs": {"source_feature": [[1, 256, 64, 64], "float32"], …}, "outputs": {…},
        "build_command": "python build_engines.py --engine fomm --checkpoint … --precision fp16",
        "built_at": "2026-11-21T03:00:00+00:00"}}}

Artifact paths are relative to the manifest's folder.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livehead.errors import EngineMismatchError, LiveHeadError
from livehead.runtime.machine import MachineInfo, current_machine  # noqa: F401  (plans are tied to it)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


def random_weights_id(seed: int, image_size: int) -> str:
    """What stands in for the checkpoint sha256 of a ``--random-weights`` build: the weights are
    a deterministic function of the seed and the calibration size."""
    return f"random-weights-seed{seed}-size{image_size}"


def artifact_name(engine: str, graph: str, precision: str) -> str:
    """``fomm_generator_fp16``: the stem shared by the .onnx, .trt.onnx and .plan files."""
    return f"{engine}_{graph}_{precision}"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def build_command(engine: str, checkpoint: str | None, precision: str, config: str | None = None,
                  random_weights: bool = False, engines_dir: str | None = None, size: int | None = None,
                  seed: int = 0) -> str:
    """The exact command line that (re)builds an engine set; quoted for a POSIX shell."""
    parts = ["python", "build_engines.py", "--engine", engine]
    if random_weights or checkpoint is None:
        parts.append("--random-weights")
        if seed:
            parts += ["--seed", str(seed)]
    else:
        parts += ["--checkpoint", checkpoint]
    if config:
        parts += ["--config", config]
    if size:
        parts += ["--size", str(size)]
    parts += ["--precision", precision]
    if engines_dir and Path(engines_dir) != Path("engines"):
        parts += ["--out", str(engines_dir)]
    return " ".join(shlex.quote(p) for p in parts)


@dataclass
class ManifestEntry:
    """One built artefact in ``engines/manifest.json``: what it was built from (checkpoint, ONNX, command) and for (GPU, TensorRT version)."""
    engine: str
    graph: str
    precision: str
    image_size: int
    checkpoint: str | None
    checkpoint_sha256: str
    onnx: str
    onnx_sha256: str
    inputs: dict[str, str]  # name -> "float32[1,3,256,256]"
    outputs: dict[str, str]
    build_command: str
    trt_onnx: str | None = None  # the copy given to TensorRT (GridSample modes rewritten)
    trt_onnx_sha256: str | None = None
    plan: str | None = None
    plan_sha256: str | None = None
    tensorrt_version: str | None = None
    gpu_name: str | None = None
    compute_capability: str | None = None
    config: str | None = None
    compute_precision: str | None = None  # "fp16" (with fp32 islands) or "fp32": keypoint graphs stay fp32 in fp16 sets
    built_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def name(self) -> str:
        """The artefact's key: ``{engine}_{graph}_{precision}``."""
        return artifact_name(self.engine, self.graph, self.precision)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ManifestEntry":
        """An entry read from JSON; unknown keys (another LiveHead version) are refused with the rebuild command."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LiveHeadError(f"engines/manifest.json entry has unknown keys {unknown}; it was written by a "
                                f"different LiveHead version. Rebuild with: {data.get('build_command', 'python build_engines.py')}")
        return cls(**data)


@dataclass
class Manifest:
    """``engines/manifest.json``: every built artefact by name."""
    path: Path
    entries: dict[str, ManifestEntry] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The engines folder the manifest describes."""
        return self.path.parent

    def find(self, engine: str, graph: str, precision: str) -> ManifestEntry | None:
        """The entry for an engine's graph at a precision, or None when it was never built."""
        return self.entries.get(artifact_name(engine, graph, precision))

    def put(self, entry: ManifestEntry) -> None:
        """Add or replace an entry (call :meth:`save` to write it)."""
        self.entries[entry.name] = entry

    def save(self) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a manifest."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"format": MANIFEST_FORMAT,
                "entries": {k: dataclasses.asdict(v) for k, v in sorted(self.entries.items())}}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, self.path)


def read_manifest(engines_dir: str | os.PathLike) -> Manifest:
    """Load ``<engines_dir>/manifest.json``; a missing file is an empty manifest."""
    path = Path(engines_dir) / MANIFEST_NAME
    if not path.exists():
        return Manifest(path=path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LiveHeadError(f"{path} is not valid JSON ({exc}). Delete it and rebuild with python build_engines.py.") from exc
    if data.get("format") != MANIFEST_FORMAT:
        raise LiveHeadError(f"{path} has format {data.get('format')!r}, this LiveHead reads format {MANIFEST_FORMAT}. "
                            "Delete it and rebuild with python build_engines.py.")
    entries = {k: ManifestEntry.from_dict(v) for k, v in data.get("entries", {}).items()}
    return Manifest(path=path, entries=entries)


def check_plan_entry(entry: ManifestEntry, machine: MachineInfo, *, checkpoint_sha256: str | None,
                     engines_dir: str | os.PathLike, verify_file_hash: bool = True) -> Path:
    """Return the plan path if ``entry`` may run here; else raise :class:`EngineMismatchError`.

    Compared: TensorRT version (exact: plans are not forward compatible unless built
    version-compatible, which we do not do because it is slower), GPU name, compute capability,
    checkpoint sha256 (when the caller knows it) and the plan file's own sha256.
    Every mismatch is listed, followed by the command that rebuilds the plan.
    """
    folder = Path(engines_dir)
    label = f"{folder / (entry.plan or entry.name + '.plan')}"
    if entry.plan is None:
        raise EngineMismatchError(
            f"{label}: the manifest has only the ONNX export for {entry.name} (built without TensorRT). "
            f"Build the plan on this GPU machine with: {entry.build_command}")
    problems = []
    if machine.tensorrt_version is None:
        problems.append("TensorRT is not installed here")
    elif entry.tensorrt_version != machine.tensorrt_version:
        problems.append(f"built with TensorRT {entry.tensorrt_version}, this machine has {machine.tensorrt_version}")
    if machine.gpu_name is None:
        problems.append("no CUDA GPU is visible here")
    else:
        if entry.gpu_name != machine.gpu_name:
            problems.append(f"built on GPU {entry.gpu_name!r}, this machine has {machine.gpu_name!r}")
        if entry.compute_capability != machine.compute_capability:
            problems.append(f"built for compute capability sm_{(entry.compute_capability or '?').replace('.', '')}, "
                            f"this GPU is sm_{(machine.compute_capability or '?').replace('.', '')}")
    if checkpoint_sha256 is not None and entry.checkpoint_sha256 != checkpoint_sha256:
        problems.append(f"built from checkpoint sha256 {entry.checkpoint_sha256[:12]}… ({entry.checkpoint}), "
                        f"the checkpoint in use has sha256 {checkpoint_sha256[:12]}…")
    plan_path = folder / entry.plan
    if not plan_path.exists():
        problems.append(f"the plan file {plan_path} is missing")
    elif verify_file_hash and entry.plan_sha256 and sha256_file(plan_path) != entry.plan_sha256:
        problems.append(f"{plan_path} does not match the sha256 in the manifest (changed or truncated)")
    if problems:
        raise EngineMismatchError(
            f"{label} cannot be used on this machine: " + "; ".join(problems) + ". "
            f"Rebuild it here with: {entry.build_command}")
    return plan_path


def check_onnx_entry(entry: ManifestEntry, *, checkpoint_sha256: str | None,
                     engines_dir: str | os.PathLike) -> Path:
    """Return the fp32/fp16 ONNX path of ``entry`` if it matches the checkpoint and its hash."""
    path = Path(engines_dir) / entry.onnx
    problems = []
    if checkpoint_sha256 is not None and entry.checkpoint_sha256 != checkpoint_sha256:
        problems.append(f"exported from checkpoint sha256 {entry.checkpoint_sha256[:12]}…, "
                        f"the checkpoint in use has sha256 {checkpoint_sha256[:12]}…")
    if not path.exists():
        problems.append(f"{path} is missing")
    elif sha256_file(path) != entry.onnx_sha256:
        problems.append(f"{path} does not match the sha256 in the manifest")
    if problems:
        raise EngineMismatchError(f"{path} cannot be used: " + "; ".join(problems)
                                  + f". Re-export with: {entry.build_command}")
    return path
