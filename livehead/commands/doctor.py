"""``livehead doctor`` and ``livehead cameras``: check this machine, name the exact fix.

Exit code of ``doctor``: **0 when the main job can run** — ``livehead --avatar me.png``, i.e. a
camera → MediaPipe → mesh engine → virtual camera — and 1 otherwise. The main job needs:

- a supported Python (3.10–3.12) and the required packages importing (numpy, OpenCV with
  ``opencv-contrib-python`` as the only OpenCV distribution, mediapipe with its legacy
  ``solutions.face_mesh``, pyvirtualcam, platformdirs);
- the MediaPipe face models inside the installed mediapipe package;
- at least one camera that opens and delivers a frame;
- a virtual camera to send to (a v4l2loopback device we can write on Linux; OBS Virtual Camera
  on Windows/macOS).

Anything else — versions outside LiveHead's ranges, GPU/CUDA, TensorRT, built engines,
checkpoints, global hotkeys — is reported as a warning: it limits the neural engines or extras, not the main job.
Each FAIL and WARN line carries the command or step that fixes it. When the camera or virtual
camera is what fails, the summary also names what still works (``livehead demo``,
``--source clip.mp4 --no-vcam --output out.mp4``).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from livehead.errors import EngineMismatchError, LiveHeadError

__all__ = ["Check", "CameraInfo", "cameras_main", "list_cameras", "main", "run_checks"]

Status = Literal["ok", "warn", "fail", "info"]

V4L2LOOPBACK_FIX = 'sudo modprobe v4l2loopback devices=1 card_label="LiveHead Camera" exclusive_caps=1'
V4L2LOOPBACK_INSTALL = (
    "if modprobe says the module is not found, install it first: Debian/Ubuntu `sudo apt install "
    "v4l2loopback-dkms`, Fedora `sudo dnf install v4l2loopback`, Arch `sudo pacman -S v4l2loopback-dkms`"
)
MEDIAPIPE_PIN = "mediapipe==0.10.21"
OPENCV_DIST = "opencv-contrib-python"
OPENCV_OTHERS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python-headless")
MEDIAPIPE_MODELS = (
    "modules/face_landmark/face_landmark_with_attention.tflite",  # 478 points with irises (refine_landmarks)
    "modules/face_detection/face_detection_short_range.tflite",
)
SUPPORTED_PYTHON = ((3, 10), (3, 12))  # oldest and newest minor version LiveHead is tested on


@dataclass(frozen=True)
class Check:
    """One line of the report. ``fix`` is the exact command or step; empty when ``status`` is ok/info."""

    area: str
    name: str
    status: Status
    detail: str
    fix: str = ""


# ---------------------------------------------------------------------------------------------
# Python and packages


def _ranges() -> dict[str, str]:
    """``{distribution: version range}`` LiveHead declares, extras included (``{"numpy": "<2,>=1.26"}``).

    From the installed metadata, else pyproject.toml. Exact tested versions live in the source
    tree's requirements.lock, which an installed wheel does not carry.
    """
    from packaging.requirements import Requirement

    requirements: list[str] = []
    try:
        requirements = importlib.metadata.requires("livehead") or []
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent.parent / "pyproject.toml"
        if pyproject.is_file():
            from livehead.config.loading import tomllib

            project = tomllib.loads(pyproject.read_text()).get("project", {})
            requirements = list(project.get("dependencies", []))
            for extra in project.get("optional-dependencies", {}).values():
                requirements += list(extra)
    ranges: dict[str, str] = {}
    for text in requirements:
        req = Requirement(text)
        # keep base and extra requirements that apply to this Python (tomli only below 3.11)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", "neural", "test", "hotkeys", "eval")):
            ranges[_norm(req.name)] = str(req.specifier)
    return ranges


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> list[Check]:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    oldest, newest = SUPPORTED_PYTHON
    if oldest <= (v.major, v.minor) <= newest:
        return [Check("python", "Python", "ok", text)]
    want = ".".join(map(str, newest))
    return [
        Check(
            "python", "Python", "fail",
            f"{text}; LiveHead needs Python {'.'.join(map(str, oldest))}–{want} (mediapipe 0.10.21 has no wheels beyond)",
            f"create a Python {want} environment: python{want} -m venv .venv && .venv/bin/pip install livehead",
        )
    ]


# (import name, distribution, required for the main job, what it is for)
PACKAGES: tuple[tuple[str, str, bool, str], ...] = (
    ("numpy", "numpy", True, "arrays"),
    ("cv2", OPENCV_DIST, True, "camera, drawing, warping"),
    ("mediapipe", "mediapipe", True, "face tracking"),
    ("pyvirtualcam", "pyvirtualcam", True, "virtual camera output"),
    ("platformdirs", "platformdirs", True, "config and avatar folders"),
    ("torch", "torch", False, "neural engines fomm / fv2v"),
    ("onnxruntime", "onnxruntime", False, "--backend onnxruntime"),
    ("av", "av", False, "mp4 recording with --output"),
)


def check_packages() -> list[Check]:
    from packaging.version import InvalidVersion, Version
    from packaging.specifiers import SpecifierSet

    from livehead.extras import extra_providing, install_line

    ranges = _ranges()
    checks: list[Check] = []
    for module, dist, required, purpose in PACKAGES:
        wanted = ranges.get(_norm(dist), "")
        extra = extra_providing(module)
        install = install_line(extra) if extra else f'pip install "{dist}{wanted}"'
        installed = _version(dist)
        failed = "fail" if required else "warn"
        if installed is None and module != "cv2":
            checks.append(Check("packages", dist, failed, f"not installed (needed for {purpose})", install))
            continue
        try:
            imported = importlib.import_module(module)
            if module == "mediapipe":
                importlib.import_module("mediapipe.python.solutions.face_mesh")
        except Exception as exc:  # a broken wheel raises anything from ImportError to AttributeError
            fix = install
            if module == "mediapipe":
                fix = f'pip install --force-reinstall {MEDIAPIPE_PIN} "numpy<2" (mediapipe 0.10.21 needs numpy<2)'
            checks.append(
                Check("packages", dist, failed, f"installed {installed or '?'} but `import {module}` fails: "
                      f"{type(exc).__name__}: {exc}", fix)
            )
            continue
        version = installed or getattr(imported, "__version__", "?")
        try:
            in_range = not wanted or SpecifierSet(wanted).contains(Version(version), prereleases=True)
        except InvalidVersion:
            in_range = False
        if not in_range:
            checks.append(
                Check("packages", dist, "warn", f"{version} installed, LiveHead needs {dist}{wanted} ({purpose})", install)
            )
        else:
            checks.append(Check("packages", dist, "ok", f"{version} ({purpose})"))
    checks.append(_check_opencv_distributions(ranges))
    return checks


def _check_opencv_distributions(ranges: dict[str, str]) -> Check:
    installed = {_norm(d.metadata["Name"] or ""): d.version for d in importlib.metadata.distributions()}
    others = [name for name in OPENCV_OTHERS if name in installed]
    reinstall = f'pip install --force-reinstall "{OPENCV_DIST}{ranges.get(OPENCV_DIST, "")}"'
    if others:
        return Check(
            "packages", "OpenCV distributions", "fail",
            f"{', '.join(others)} installed next to {OPENCV_DIST}; they share the cv2/ folder and break each other",
            f"pip uninstall -y {' '.join(others)} {OPENCV_DIST} && {reinstall}",
        )
    if OPENCV_DIST not in installed:
        return Check("packages", "OpenCV distributions", "fail", f"{OPENCV_DIST} is not installed", reinstall)
    return Check("packages", "OpenCV distributions", "ok", f"only {OPENCV_DIST} installed")


def check_mediapipe_models() -> list[Check]:
    spec = importlib.util.find_spec("mediapipe")
    fix = f"pip install --force-reinstall {MEDIAPIPE_PIN} (the last release that ships the face models inside the wheel)"
    if spec is None or not spec.submodule_search_locations:
        return [Check("mediapipe", "face models", "fail", "mediapipe is not installed", fix)]
    root = Path(list(spec.submodule_search_locations)[0])
    missing = [rel for rel in MEDIAPIPE_MODELS if not (root / rel).is_file()]
    if missing:
        return [Check("mediapipe", "face models", "fail", f"missing in {root}: {', '.join(missing)}", fix)]
    return [Check("mediapipe", "face models", "ok", f"{', '.join(Path(m).name for m in MEDIAPIPE_MODELS)} in {root}")]


# ---------------------------------------------------------------------------------------------
# Cameras


@dataclass(frozen=True)
class CameraInfo:
    """A camera index as ``cv2.VideoCapture(index)`` sees it; ``width``/``height`` from a real frame."""

    index: int
    opened: bool
    width: int = 0
    height: int = 0
    name: str = ""
    note: str = ""

    @property
    def works(self) -> bool:
        return self.opened and self.width > 0


def _v4l2_name(index: int) -> str:
    try:
        return Path(f"/sys/class/video4linux/video{index}/name").read_text().strip()
    except OSError:
        return ""


def _is_loopback(index: int) -> bool:
    return (VIRTUAL_VIDEO_DIR / f"video{index}").exists()


def list_cameras(max_index: int = 10) -> list[CameraInfo]:
    """Probe camera indices ``0 .. max_index-1``; on Linux only existing ``/dev/videoN`` nodes.

    v4l2loopback devices are returned with ``opened=False`` and a note: they are virtual-camera
    outputs (maybe LiveHead's own), not cameras to drive from.
    """
    import cv2

    linux = sys.platform.startswith("linux")
    if linux:
        indices = sorted(
            int(m.group(1))
            for p in glob.glob("/dev/video*")
            if (m := re.fullmatch(r"/dev/video(\d+)", p)) and int(m.group(1)) < max_index
        )
    else:
        indices = list(range(max_index))
    cameras: list[CameraInfo] = []
    previous_level = cv2.getLogLevel()
    cv2.setLogLevel(2)  # LOG_LEVEL_ERROR: absent indices would print warnings on stderr
    try:
        for index in indices:
            name = _v4l2_name(index) if linux else ""
            if linux and _is_loopback(index):
                cameras.append(CameraInfo(index, False, name=name, note="v4l2loopback virtual camera (an output)"))
                continue
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2) if linux else cv2.VideoCapture(index)
            try:
                if not cap.isOpened():
                    if linux:
                        note = "cannot open" + ("" if os.access(f"/dev/video{index}", os.R_OK) else " (permission denied)")
                        cameras.append(CameraInfo(index, False, name=name, note=note))
                    continue
                ok, frame = cap.read()
                if ok and frame is not None:
                    cameras.append(CameraInfo(index, True, frame.shape[1], frame.shape[0], name))
                else:
                    cameras.append(CameraInfo(index, True, name=name, note="opens but delivers no frame (in use? metadata node?)"))
            finally:
                cap.release()
    finally:
        cv2.setLogLevel(previous_level)
    return cameras


CAMERA_FIX = (
    "connect a webcam and close other apps that hold it; on Linux check `ls /dev/video*` and that you are in "
    "the video group (`sudo usermod -a -G video $USER`, then log in again); to drive from a clip instead: "
    "livehead --source clip.mp4"
)


def check_cameras(cameras: list[CameraInfo] | None = None) -> list[Check]:
    try:
        cameras = list_cameras() if cameras is None else cameras
    except ImportError as exc:
        return [Check("camera", "cameras", "fail", f"cannot probe cameras: {exc}", f"pip install --force-reinstall {OPENCV_DIST}")]
    working = [c for c in cameras if c.works]
    if working:
        listing = ", ".join(f"{c.index}: {c.width}x{c.height}" + (f" {c.name}" if c.name else "") for c in working)
        return [Check("camera", "cameras", "ok", f"{len(working)} camera(s) deliver frames: {listing} (--camera N)")]
    tried = [c for c in cameras if not c.note.startswith("v4l2loopback")]
    detail = "no camera delivers frames"
    if tried:
        detail += ": " + "; ".join(f"index {c.index} {c.note}" for c in tried)
    elif sys.platform.startswith("linux"):
        detail += " (no /dev/video* camera devices)"
    return [Check("camera", "cameras", "fail", detail, CAMERA_FIX)]


# ---------------------------------------------------------------------------------------------
# Virtual camera


# sysfs locations, module constants so tests can point them at a fake tree
V4L2LOOPBACK_MODULE = Path("/sys/module/v4l2loopback")
VIRTUAL_VIDEO_DIR = Path("/sys/devices/virtual/video4linux")


def _loopback_devices() -> list[tuple[str, str]]:
    """``[(/dev/videoN, card label)]`` for v4l2loopback devices, in device-number order."""
    nodes = glob.glob(str(VIRTUAL_VIDEO_DIR / "video*"))
    nodes.sort(key=lambda p: int(re.sub(r"\D", "", Path(p).name) or 0))
    devices = []
    for node in nodes:
        try:
            label = (Path(node) / "name").read_text().strip()
        except OSError:
            label = "?"
        devices.append((f"/dev/{Path(node).name}", label))
    return devices


def check_virtual_camera_linux() -> list[Check]:
    module = V4L2LOOPBACK_MODULE
    if not module.exists():
        return [
            Check(
                "virtual camera", "v4l2loopback", "fail",
                "the v4l2loopback kernel module is not loaded, so there is no virtual camera for Zoom/Meet to select",
                f"{V4L2LOOPBACK_FIX}  ({V4L2LOOPBACK_INSTALL})",
            )
        ]
    devices = _loopback_devices()
    if not devices:
        return [
            Check(
                "virtual camera", "v4l2loopback", "fail", "the module is loaded but has no devices",
                f"sudo modprobe -r v4l2loopback && {V4L2LOOPBACK_FIX}",
            )
        ]
    try:
        exclusive = (module / "parameters/exclusive_caps").read_text().strip().split(",")
    except OSError:
        exclusive = []
    checks = []
    for i, (dev, label) in enumerate(devices):
        flag = exclusive[i] if i < len(exclusive) else "?"
        name = f"{dev} \"{label}\""
        if not os.access(dev, os.W_OK):
            checks.append(
                Check("virtual camera", name, "fail", f"{dev} is not writable by this user",
                      "sudo usermod -a -G video $USER, then log out and in again")
            )
        elif flag.upper() in ("N", "0"):
            checks.append(
                Check("virtual camera", name, "warn",
                      "exclusive_caps is off: Chrome, Zoom and Teams may not list this device",
                      f"sudo modprobe -r v4l2loopback && {V4L2LOOPBACK_FIX}")
            )
        else:
            checks.append(Check("virtual camera", name, "ok", f"v4l2loopback device, exclusive_caps={flag}"))
    return checks


def check_virtual_camera_obs() -> list[Check]:
    fix = (
        "install OBS Studio 30 or newer (https://obsproject.com), open it once and click Start Virtual Camera, "
        "then Stop; on macOS also allow the OBS system extension in System Settings > Privacy & Security"
    )
    try:
        import pyvirtualcam
    except ImportError as exc:
        return [Check("virtual camera", "OBS Virtual Camera", "fail", f"pyvirtualcam is not usable: {exc}", f'pip install "pyvirtualcam{_ranges().get("pyvirtualcam", "")}"')]
    try:
        with pyvirtualcam.Camera(width=640, height=480, fps=30) as cam:
            device = f"{cam.backend}: {cam.device}"
    except RuntimeError as exc:
        return [Check("virtual camera", "OBS Virtual Camera", "fail", str(exc), fix)]
    return [Check("virtual camera", "OBS Virtual Camera", "ok", f"opened {device}")]


def check_virtual_camera() -> list[Check]:
    if sys.platform.startswith("linux"):
        return check_virtual_camera_linux()
    if sys.platform in ("win32", "darwin"):
        return check_virtual_camera_obs()
    return [Check("virtual camera", "virtual camera", "fail", f"no virtual camera backend for {sys.platform}",
                  "use --no-vcam --output out.mp4 or the preview window")]


# ---------------------------------------------------------------------------------------------
# GPU, TensorRT, engines, checkpoints, hotkeys


def _gpu() -> dict[str, Any]:
    """What torch sees: ``{"cuda": bool, "name", "capability": "8.6", "cuda_version", "torch_cuda_build"}``."""
    info: dict[str, Any] = {"cuda": False}
    if importlib.util.find_spec("torch") is None:
        return info
    import torch

    info["torch_cuda_build"] = torch.version.cuda
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        info.update(cuda=True, name=torch.cuda.get_device_name(0), capability=f"{major}.{minor}")
    return info


def check_gpu(gpu: dict[str, Any]) -> list[Check]:
    checks = []
    if gpu.get("cuda"):
        checks.append(Check("gpu", "CUDA", "ok", f"{gpu['name']} (sm_{gpu['capability'].replace('.', '')}), CUDA {gpu['torch_cuda_build']}"))
    elif "torch_cuda_build" not in gpu:
        from livehead.extras import TORCH_CUDA_INDEX, install_line

        checks.append(Check("gpu", "CUDA", "warn", "torch is not installed (the neural extra): fomm/fv2v cannot run; "
                            "the mesh engine needs none of it",
                            f"{install_line('neural')}; for a GPU first the CUDA build of torch: "
                            f"pip install torch --index-url {TORCH_CUDA_INDEX} (pick your CUDA version, README: Install)"))
    elif gpu["torch_cuda_build"] is None:
        checks.append(Check(
            "gpu", "CUDA", "warn",
            "torch is a CPU-only build: fomm runs slowly and fv2v far below real time; the mesh engine needs no GPU",
            "on a machine with an NVIDIA GPU, install a CUDA build of torch from https://pytorch.org/get-started/locally/",
        ))
    else:
        checks.append(Check(
            "gpu", "CUDA", "warn",
            f"torch is built for CUDA {gpu['torch_cuda_build']} but sees no GPU; fomm/fv2v would run on the CPU",
            "check the NVIDIA driver with `nvidia-smi`; in a container pass the GPU through (docker run --gpus all)",
        ))
    if importlib.util.find_spec("onnxruntime") is not None:
        try:
            import onnxruntime

            providers = onnxruntime.get_available_providers()
            checks.append(Check("gpu", "onnxruntime providers", "info", ", ".join(providers)))
        except Exception as exc:  # reported by check_packages too; keep the doctor going
            checks.append(Check("gpu", "onnxruntime providers", "info", f"unavailable: {type(exc).__name__}: {exc}"))
    return checks


def _tensorrt_version() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return None
    try:
        import tensorrt

        return str(tensorrt.__version__)
    except Exception:  # PyPI's download stubs raise on import; treat as absent
        return None


def check_tensorrt(trt_version: str | None, gpu: dict[str, Any]) -> list[Check]:
    if trt_version:
        return [Check("gpu", "TensorRT", "ok", f"tensorrt {trt_version}")]
    fix = "only for --backend tensorrt: pip install tensorrt-cu12 (TensorRT 11; needs an NVIDIA GPU and driver)"
    why = "not installed" if gpu.get("cuda") else "not installed (and no CUDA GPU here)"
    return [Check("gpu", "TensorRT", "warn", why, fix)]


def _engine_dirs() -> list[Path]:
    dirs = [Path.cwd() / "engines", Path(__file__).resolve().parent.parent / "engines"]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def check_engines(gpu: dict[str, Any], trt_version: str | None) -> list[Check]:
    """Each artifact in ``engines/manifest.json`` and whether it may run on this machine.

    Matching is ``livehead.export.manifest``'s own check (TensorRT version, GPU name, compute
    capability, files present), so the doctor and the runtime never disagree. Plan files are not
    re-hashed here (they can be hundreds of MB); the runtime does that before loading.
    """
    rebuild = "python build_engines.py"
    directory = next((d for d in _engine_dirs() if (d / "manifest.json").is_file()), None)
    if directory is None:
        return [Check("engines", "TensorRT engines", "info", f"none built (only needed for --backend tensorrt: {rebuild})")]
    try:
        from livehead.runtime import manifest as mf
    except ImportError as exc:
        return [Check("engines", str(directory / "manifest.json"), "info", f"present; cannot read it here ({exc})")]
    try:
        manifest = mf.read_manifest(directory)
    except (LiveHeadError, OSError, ValueError, TypeError, AttributeError, KeyError) as exc:  # a hand-edited file
        return [Check("engines", str(directory / "manifest.json"), "warn", f"unreadable: {exc}",
                      f"delete {directory / 'manifest.json'} and run {rebuild}")]
    if not manifest.entries:
        return [Check("engines", str(manifest.path), "info", "the manifest lists no engines")]
    machine = mf.MachineInfo(gpu_name=gpu.get("name"), compute_capability=gpu.get("capability"),
                             tensorrt_version=trt_version)
    checks = []
    for name, entry in manifest.entries.items():
        try:
            if entry.plan is None:
                mf.check_onnx_entry(entry, checkpoint_sha256=None, engines_dir=directory)
                detail = f"ONNX export for --backend onnxruntime ({entry.precision}, from {entry.checkpoint or 'random weights'})"
            else:
                mf.check_plan_entry(entry, machine, checkpoint_sha256=None, engines_dir=directory, verify_file_hash=False)
                detail = f"TensorRT plan for {entry.gpu_name} (sm_{(entry.compute_capability or '?').replace('.', '')}), TensorRT {entry.tensorrt_version}"
        except EngineMismatchError as exc:
            checks.append(Check("engines", name, "warn", str(exc), f"{entry.build_command} (on this machine)"))
            continue
        checks.append(Check("engines", name, "ok", detail))
    return checks


def check_checkpoints() -> list[Check]:
    """One line per catalog checkpoint (``livehead.models.catalog``), saying where a missing one goes."""
    try:
        catalog = importlib.import_module("livehead.models.catalog")
    except ImportError as exc:
        return [Check("checkpoints", "checkpoints", "info", f"only for fomm/fv2v, which need the neural extra ({exc})")]
    status = getattr(catalog, "catalog_status", None)
    folder = getattr(catalog, "checkpoints_dir", None)
    if not callable(status) or not callable(folder):
        return [Check("checkpoints", "checkpoints", "info", "see `livehead models` for supported checkpoints")]
    try:
        entries = list(status())
        directory = folder()
    except Exception as exc:  # another module's code: report it, never crash the doctor
        return [Check("checkpoints", "checkpoints", "warn", f"catalog failed: {type(exc).__name__}: {exc}", "livehead models")]
    checks = []
    for entry in entries:
        name = f"{getattr(entry, 'name', entry)} ({getattr(entry, 'engine', '?')})"
        path = getattr(entry, "path", None)
        if path is not None:
            checks.append(Check("checkpoints", name, "ok", str(path)))
        else:
            checks.append(Check(
                "checkpoints", name, "warn",
                f"not found (only needed for --engine {getattr(entry, 'engine', '?')}; mesh needs no weights)",
                f"download {getattr(entry, 'file_name', 'the file')} (see `livehead models`) into {directory}, "
                f"or pass --checkpoint PATH",
            ))
    return checks or [Check("checkpoints", "checkpoints", "info", "the catalog lists no checkpoints")]


def check_hotkeys() -> list[Check]:
    fix = "pip install 'livehead[hotkeys]' (keys still work in the preview window without it)"
    if importlib.util.find_spec("pynput") is None:
        return [Check("controls", "global hotkeys", "warn", "pynput is not installed", fix)]
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        return [Check("controls", "global hotkeys", "warn", "pynput needs an X display (DISPLAY is not set)",
                      "run LiveHead inside your desktop session; keys still work in the preview window")]
    return [Check("controls", "global hotkeys", "ok", "pynput available")]


# ---------------------------------------------------------------------------------------------
# Report


def run_checks(*, cameras: bool = True) -> list[Check]:
    """Every check, in report order. Nothing here raises for a missing part; it becomes a Check."""
    checks = check_python() + check_packages() + check_mediapipe_models()
    if cameras:
        checks += check_cameras()
    checks += check_virtual_camera()
    gpu = _gpu()
    trt = _tensorrt_version()
    checks += check_gpu(gpu) + check_tensorrt(trt, gpu) + check_engines(gpu, trt) + check_checkpoints() + check_hotkeys()
    return checks


_MARK = {"ok": "[ ok ]", "warn": "[warn]", "fail": "[FAIL]", "info": "[info]"}
_COLOUR = {"ok": "32", "warn": "33", "fail": "31;1", "info": "36"}


def format_report(checks: Iterable[Check], *, colour: bool = False) -> str:
    checks = list(checks)
    lines = [f"LiveHead doctor: {platform.system()} {platform.release()}, Python {platform.python_version()}", ""]
    area = None
    for c in checks:
        if c.area != area:
            if area is not None:
                lines.append("")
            lines.append(c.area.upper())
            area = c.area
        mark = _MARK[c.status]
        if colour:
            mark = f"\033[{_COLOUR[c.status]}m{mark}\033[0m"
        lines.append(f"  {mark} {c.name}: {c.detail}")
        if c.fix:
            lines.append(f"         fix: {c.fix}")
    failed = [c for c in checks if c.status == "fail"]
    warned = [c for c in checks if c.status == "warn"]
    lines.append("")
    if failed:
        lines.append(
            f"NOT READY: {len(failed)} problem(s) stop `livehead --avatar me.png` (camera -> mesh engine -> virtual "
            f"camera): {', '.join(f'{c.area} ({c.name})' for c in failed)}. Fix the [FAIL] lines above."
        )
        if all(c.area in ("camera", "virtual camera") for c in failed):
            lines.append(
                "Still possible meanwhile: `livehead demo`, or `livehead --avatar me.png --source clip.mp4 --no-vcam "
                "--output out.mp4`."
            )
    else:
        lines.append("READY: `livehead --avatar me.png`, then pick \"LiveHead Camera\" in your meeting app.")
    if warned:
        lines.append(f"{len(warned)} warning(s): optional parts (neural engines, GPU, extras); see [warn] lines.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``livehead doctor [--json] [--no-cameras]``: exit 0 when the main job can run, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="livehead doctor",
        description="Check this machine for LiveHead and print the exact fix for each missing part. "
        "Exit code 0 when `livehead --avatar me.png` (camera -> mesh engine -> virtual camera) can run.",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--no-cameras", action="store_true", help="skip opening cameras (they count as missing)")
    parser.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    checks = run_checks(cameras=not args.no_cameras)
    if args.no_cameras:
        checks.insert(0, Check("camera", "cameras", "fail", "not checked (--no-cameras)", "run `livehead doctor` without --no-cameras"))
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=2))
    else:
        print(format_report(checks, colour=sys.stdout.isatty()))
    return 1 if any(c.status == "fail" for c in checks) else 0


def cameras_main(argv: list[str]) -> int:
    """``livehead cameras [--max N]``: list camera indices that open, with their resolution."""
    parser = argparse.ArgumentParser(prog="livehead cameras", description="List cameras that open, with their resolution.")
    parser.add_argument("--max", type=int, default=10, metavar="N", help="probe indices 0..N-1 (default 10)")
    parser.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cameras = list_cameras(args.max)
    working = [c for c in cameras if c.works]
    for c in cameras:
        if c.works:
            print(f"camera {c.index}: {c.width}x{c.height}" + (f"  {c.name}" if c.name else "") + f"   (--camera {c.index})")
        else:
            print(f"  /dev/video{c.index}" if sys.platform.startswith("linux") else f"  index {c.index}", end="")
            print(f": {c.note}" + (f" ({c.name})" if c.name else ""))
    if not working:
        print(f"No camera found (probed indices 0-{args.max - 1}). Fix: {CAMERA_FIX}.")
        return 1
    return 0
