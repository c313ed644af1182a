"""Per-stage timing records and their summaries (median, p95), kept apart from the frame logic."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunStats", "summarise"]

STAGES = ("capture", "tracking", "smoothing", "transfer", "animate", "compose", "sink")


def summarise(values: list[float] | np.ndarray) -> dict[str, float]:
    """{'median', 'p95', 'mean', 'n'} of a list of milliseconds (NaN when empty)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"median": float("nan"), "p95": float("nan"), "mean": float("nan"), "n": 0}
    return {"median": float(np.median(arr)), "p95": float(np.percentile(arr, 95)), "mean": float(arr.mean()),
            "n": int(arr.size)}


@dataclass
class RunStats:
    """Thread-safe rolling record of a run. Keeps the last ``window`` samples per series."""

    window: int = 20_000
    stages: dict[str, collections.deque] = field(default_factory=dict)
    latency_ms: collections.deque = field(default_factory=collections.deque)
    frames_out: int = 0
    frames_rendered: int = 0
    repeats: int = 0
    engine_faults: int = 0
    started: float = 0.0
    finished: float = 0.0
    send_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=31))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, ms: float) -> None:
        """Record one ``stage`` duration in milliseconds (thread-safe; the last ``window`` are kept)."""
        with self._lock:
            q = self.stages.setdefault(stage, collections.deque(maxlen=self.window))
            q.append(ms)

    def add_latency(self, ms: float) -> None:
        """Record one capture → sink latency in milliseconds."""
        with self._lock:
            if self.latency_ms.maxlen != self.window:
                self.latency_ms = collections.deque(self.latency_ms, maxlen=self.window)
            self.latency_ms.append(ms)

    def output_fps(self) -> float:
        """Frames sent per second over the last ~30 frames (0 until two were sent)."""
        with self._lock:
            times = list(self.send_times)
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def recent_ms(self, last: int = 30) -> dict[str, float]:
        """Median of the last ``last`` samples per stage (for the stats overlay)."""
        with self._lock:
            return {k: float(np.median(list(v)[-last:])) for k, v in self.stages.items() if v}

    def summary(self) -> dict:
        """Medians, p95 and counts of every stage, latency, fps and drops, as the JSON ``livehead bench`` writes."""
        with self._lock:
            stages = {k: summarise(list(v)) for k, v in self.stages.items()}
            latency = summarise(list(self.latency_ms))
        duration = max(self.finished - self.started, 1e-9)
        return {
            "stages_ms": stages,
            "latency_ms": latency,
            "frames_out": self.frames_out,
            "frames_rendered": self.frames_rendered,
            "repeats": self.repeats,
            "engine_faults": self.engine_faults,
            "duration_s": duration,
            "fps": self.frames_rendered / duration,
        }
