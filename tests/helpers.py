"""The test doubles, one copy each: a scripted camera, a recording virtual camera backend, a flaky
animator, small clip/image utilities, and the CLI in a subprocess (``Streaming``,
``assert_clean_exit``). (How a test drives a stage is in ``harness.py``.)

Nothing here touches a real device: ``ScriptedCamera`` implements the ``capture.Source`` protocol
and ``RecordingBackend`` the ``pyvirtualcam.Backend`` contract (keyword-only constructor, ``send``
gets a 1D C-contiguous uint8 array, ``close`` runs exactly once).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pytest

from livehead.animators.base import AvatarState, Driving

REPO = Path(__file__).resolve().parents[1]  # the repository root: the CLI runs from here

__all__ = [
    "REPO",
    "Streaming",
    "assert_clean_exit",
    "png_header_only",
    "FlakyAnimator",
    "RecordingBackend",
    "RenderRecord",
    "ScriptedCamera",
    "Step",
    "center_crop_resize",
    "drain",
    "place_checkpoint",
    "read_clip",
    "runqueue_wait_s",
]


# ---------------------------------------------------------------------------------------------
# The CLI's answers


def assert_clean_exit(result, code: int, *phrases: str) -> None:
    """``result`` (a CompletedProcess) exited with ``code``; its output names every phrase
    (case-insensitive); no Python traceback."""
    output = result.stdout + result.stderr
    assert "Traceback (most recent call last)" not in output, output[-3000:]
    assert result.returncode == code, f"exit {result.returncode}, expected {code}:\n{output[-3000:]}"
    for phrase in phrases:
        assert phrase.lower() in output.lower(), f"{phrase!r} missing from:\n{output[-3000:]}"


class Streaming:
    """A CLI subprocess whose stderr is collected line by line on a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines: list[str] = []
        self._new = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, phrase: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._new:
            while phrase not in self.text:
                if self.proc.poll() is not None:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._new.wait(min(remaining, 0.2))
        if phrase not in self.text:
            self.kill()
            pytest.fail(f"{phrase!r} never appeared (exit {self.proc.returncode}):\n{self.text[-3000:]}")

    def signal_and_time(self, signum: int, timeout: float = 10.0) -> tuple[int, float]:
        """Send ``signum``; returns (exit code, seconds until the process had exited)."""
        t0 = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running {timeout:.0f} s after signal {signum}:\n{self.text[-3000:]}")
        elapsed = time.monotonic() - t0
        self._reader.join(5)
        return code, elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# ---------------------------------------------------------------------------------------------
# Media


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit grayscale PNG of ``width``×``height`` that is all zeros: a few kB on disk.

    Written chunk by chunk so making it costs no more memory than one row. Decoded it would take
    width×height bytes in Pillow (mode "1" keeps a byte per pixel) and 3× that as RGB.
    """
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def read_clip(path: str | Path, *, limit: int | None = None) -> list[np.ndarray]:
    """Decode a video file to a list of (H, W, 3) uint8 RGB frames (at most ``limit``)."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while limit is None or len(frames) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise RuntimeError(f"could not decode any frame from {path}")
    return frames


def drain(source) -> list[np.ndarray]:
    """Every frame a ``capture.Source`` gives until its first None (the end of an unlooped file)."""
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def place_checkpoint(data_dir: Path, name: str, content: bytes = b"not loaded") -> Path:
    """Write ``content`` as checkpoint ``name`` in the data folder's ``checkpoints/``; returns its path."""
    folder = data_dir / "checkpoints"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def center_crop_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """What a camera does when it switches mode: crop the sensor to the new aspect, then scale.

    ``size`` is (w, h).
    """
    h, w = image.shape[:2]
    tw, th = size
    if tw * h > th * w:  # wider target: keep full width, crop rows
        ch, cw = round(w * th / tw), w
    else:
        ch, cw = h, round(h * tw / th)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = image[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if tw < cw else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(crop, (tw, th), interpolation=interp))


def runqueue_wait_s() -> float:
    """Seconds this process's Python threads have spent runnable but waiting for a CPU, summed
    (Linux schedstat). Time the OS gave to other programs, not to this one; 0.0 where the kernel
    does not report it.

    All Python threads count, not only the caller: a thread preempted while it holds the GIL
    stalls the others, which then sleep on the GIL rather than wait on a runqueue.
    """
    total = 0.0
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/schedstat") as f:
                total += int(f.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError, TypeError):
            continue
    return total


def stolen_s() -> np.ndarray:
    """Seconds each CPU of this virtual machine has been taken away by the hypervisor ("steal" in
    /proc/stat), one entry per CPU; empty where the kernel does not report it.

    The guest kernel believes a thread ran through it, so it is not in ``runqueue_wait_s``; on the
    shared CI machines it comes in bursts (a 2-core VM here had 0.6 % of its time stolen).
    """
    try:
        with open("/proc/stat") as f:
            rows = [line.split() for line in f if line.startswith("cpu") and not line.startswith("cpu ")]
        return np.array([int(row[8]) for row in rows], float) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return np.zeros(0)


# ---------------------------------------------------------------------------------------------
# A camera that plays a script


@dataclass(frozen=True)
class Step:
    """One phase of a ``ScriptedCamera`` script.

    kind:
        ``frames``: deliver ``frames`` frames at the source's rate (resized to ``size`` if given);
        ``none``: every read returns None (camera unplugged / driver gives nothing) for ``seconds``;
        ``raise``: every read raises OSError for ``seconds``;
        ``hang``: one read blocks for ``seconds`` (OpenCV's V4L2 read waits up to 10 s for a
        camera that stopped sending), then frames flow again;
        ``bad``: for ``seconds``, reads return malformed frames at the source's rate, cycling
        through empty (0×0×3), grayscale (H×W), RGBA (H×W×4) and float32 arrays.
    """

    kind: Literal["frames", "none", "raise", "hang", "bad"]
    frames: int = 0
    seconds: float = 0.0
    size: tuple[int, int] | None = None  # (w, h)


def _malformed(frame: np.ndarray, n: int) -> np.ndarray:
    kinds = (
        np.zeros((0, 0, 3), np.uint8),
        np.ascontiguousarray(frame[:, :, 0]),
        np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)]),
        frame.astype(np.float32) / 255.0,
    )
    return kinds[n % len(kinds)]


class ScriptedCamera:
    """A camera-like ``Source`` that plays ``frames`` at ``rate`` fps, following ``script``.

    Reads are paced like a real camera (a read blocks until the next frame is due). Once the
    script has ended, ``then`` decides what the camera does for ever:
    ``"loop"`` keeps delivering ``frames`` in a cycle (it resumed for good);
    ``"hold"`` plays on to the last of ``frames`` and then repeats it, the same pixels every read
    (a perfectly still driver; ``holding`` is set when that starts);
    ``"none"`` returns None (it stopped after the script).
    Setting ``cut`` unplugs it at any time: every read then returns None.

    ``events`` records (monotonic time, step index) when each step starts, so a test can line the
    output stream up with the faults; ``delivered`` holds the monotonic time of each frame handed out.
    """

    is_file = False
    fps = None

    def __init__(
        self,
        frames: list[np.ndarray],
        *,
        script: list[Step] = (),
        rate: float = 25.0,
        then: Literal["loop", "hold", "none"] = "loop",
        name: str = "scripted test camera",
    ) -> None:
        if then not in ("loop", "hold", "none"):
            raise ValueError(f"then must be loop, hold or none, got {then!r}")
        self.name = name
        self._frames = frames
        self._script = list(script)
        self._then = then
        self._interval = 1.0 / rate
        self._lock = threading.Lock()
        self._step = -1
        self._step_frames = 0
        self._step_started = 0.0
        self._next_due: float | None = None
        self._cursor = 0
        self._size: tuple[int, int] | None = None
        self.holding = threading.Event()
        self.cut = threading.Event()
        self.events: list[tuple[float, int]] = []
        self.delivered: list[float] = []
        self.reopens = 0
        self.closed = False
        self._advance(time.monotonic())

    @property
    def step(self) -> int:
        """Index of the current script step (``len(script)`` once the script has ended)."""
        return self._step

    def _advance(self, now: float) -> None:
        self._step += 1
        self._step_frames = 0
        self._step_started = now
        self.events.append((now, self._step))
        if self._step < len(self._script) and self._script[self._step].size is not None:
            self._size = self._script[self._step].size

    def _current(self, now: float) -> Step | None:
        """The script step in force, or None once the script has ended."""
        while self._step < len(self._script):
            step = self._script[self._step]
            done = (step.kind == "frames" and self._step_frames >= step.frames) or (
                step.kind != "frames" and now - self._step_started >= step.seconds
            )
            if not done:
                return step
            self._advance(now)
        return None

    def _next_frame(self, scripted: bool) -> np.ndarray:
        if not scripted and self._then == "hold" and self._cursor >= len(self._frames) - 1:
            self.holding.set()
            return self._frames[-1]
        frame = self._frames[self._cursor % len(self._frames)]
        self._cursor += 1
        return frame

    def read(self) -> np.ndarray | None:
        with self._lock:
            now = time.monotonic()
            step = self._current(now)
            kind = step.kind if step is not None else ("none" if self._then == "none" else "frames")
            if self.cut.is_set():
                kind = "none"
            if kind == "none":
                self._next_due = None
                time.sleep(0.005)  # a failed V4L2 read returns after a short select() timeout
                return None
            if kind == "raise":
                self._next_due = None
                raise OSError(f"{self.name}: device disconnected (injected fault)")
            if kind == "hang":
                self._next_due = None
                hang_until = self._step_started + step.seconds
                due = now
            else:
                hang_until = None
                due = now if self._next_due is None else self._next_due
        if hang_until is not None:
            time.sleep(max(0.0, hang_until - now))
            return self.read()
        if due > now:
            time.sleep(due - now)
        with self._lock:
            now = time.monotonic()
            self._next_due = max(due + self._interval, now)
            frame = self._next_frame(scripted=step is not None)
            self._step_frames += 1
            if self._size is not None and (frame.shape[1], frame.shape[0]) != self._size:
                frame = center_crop_resize(frame, self._size)
            self.delivered.append(now)
            if kind == "bad":
                return _malformed(frame, self._step_frames)
            return frame.copy()

    def reopen(self) -> None:
        self.reopens += 1

    def close(self) -> None:
        self.closed = True


# ---------------------------------------------------------------------------------------------
# A virtual camera that records what it is sent


class RecordingBackend:
    """A ``pyvirtualcam`` backend that keeps the arrival time, the sender's CPU starvation
    (``runqueue_wait_s`` plus the hypervisor's ``stolen_s``) and a thumbnail of every frame.

    Use it through the ``vcam_backend`` fixture (conftest), which registers a fresh
    ``RecordingBackend.subclass()`` so each test gets its own ``instances`` list. ``thumbs`` keep
    every ``thumb_step``-th pixel each way; set ``thumb_step = 1`` on the class (before the camera
    opens) to keep whole (h, w, 3) frames.
    """

    instances: list["RecordingBackend"] = []
    thumb_step = 8  # every 8th pixel each way: enough to tell frames apart, little memory

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "/dev/null-livehead-test"
        self.times: list[float] = []
        self.waits: list[float] = []  # time the machine kept this process from running, cumulative at each frame
        self._stolen, self._steal_total = stolen_s(), 0.0
        self.thumbs: list[np.ndarray] = []
        self.close_calls = 0
        type(self).instances.append(self)

    @classmethod
    def subclass(cls) -> type["RecordingBackend"]:
        return type("RecordingBackendForTest", (cls,), {"instances": []})

    def send(self, frame: np.ndarray) -> None:
        if self.close_calls:
            raise RuntimeError("send() after close()")
        assert frame.ndim == 1 and frame.dtype == np.uint8 and frame.flags.c_contiguous
        image = frame.reshape(self.height, self.width, 3)
        self.times.append(time.monotonic())
        # Steal is per CPU and the sender may run on any of them: the most any one CPU lost
        # since the previous frame is counted (a lower bound where threads moved between CPUs).
        stolen = stolen_s()
        if stolen.size and stolen.size == self._stolen.size:
            self._steal_total += float((stolen - self._stolen).max())
        self._stolen = stolen
        self.waits.append(runqueue_wait_s() + self._steal_total)
        self.thumbs.append(image[:: self.thumb_step, :: self.thumb_step].copy())

    def close(self) -> None:
        self.close_calls += 1

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


# ---------------------------------------------------------------------------------------------
# An engine that fails on purpose


FaultKind = Literal["raise", "nan", "float", "shape", "oom"]


@dataclass(frozen=True)
class RenderRecord:
    """One ``render`` call as the engine saw it."""

    wall_time: float  # time.monotonic() at the call
    timestamp: float  # driving.timestamp (the processor's clock)
    live: bool  # a driver frame came with it (False while the face or camera is lost)
    frame_size: tuple[int, int] | None  # (w, h) of the driver frame, when live
    target: np.ndarray  # (478, 3) target landmarks, avatar pixels
    ok: bool  # the call returned a good frame


@dataclass
class FlakyAnimator:
    """Wraps a real animator; renders listed by call number fail in the way named.

    ``faults`` maps the 0-based render call number to a fault kind:
    ``raise`` (RuntimeError), ``oom`` (torch.cuda.OutOfMemoryError, as a GPU engine raises it),
    ``nan`` (float32 frame full of NaN, as a diverged network gives), ``float`` (float32 in [0, 1],
    a network output someone forgot to convert) and ``shape`` (uint8, wrong size).
    ``fail_from`` makes every call from that number on raise (a dead engine).
    """

    inner: object
    faults: dict[int, FaultKind] = field(default_factory=dict)
    fail_from: int | None = None
    name: str = "flaky"
    calls: int = 0
    good_calls: list[int] = field(default_factory=list)
    records: list[RenderRecord] = field(default_factory=list)

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "backend": "test", "device": "cpu", "precision": "fp32"}

    def prepare(self, avatar) -> AvatarState:
        return self.inner.prepare(avatar)

    def render(self, state: AvatarState, driving: Driving) -> np.ndarray:
        n = self.calls
        self.calls += 1
        kind = self.faults.get(n)
        if self.fail_from is not None and n >= self.fail_from:
            kind = "raise"
        live = driving.frame is not None
        self.records.append(RenderRecord(
            wall_time=time.monotonic(), timestamp=driving.timestamp, live=live,
            frame_size=(driving.frame.shape[1], driving.frame.shape[0]) if live else None,
            target=np.array(driving.target_landmarks, dtype=np.float32), ok=kind is None,
        ))
        if kind is None:
            self.good_calls.append(n)
            return self.inner.render(state, driving)
        h, w = state.avatar.image.shape[:2]
        if kind == "raise":
            raise RuntimeError(f"injected engine fault on render {n}")
        if kind == "oom":
            import torch

            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (injected on render {n})")
        if kind == "nan":
            return np.full((h, w, 3), np.nan, np.float32)
        if kind == "float":
            return np.full((h, w, 3), 0.5, np.float32)
        if kind == "shape":
            return np.zeros((h // 2, w, 3), np.uint8)
        raise AssertionError(kind)
