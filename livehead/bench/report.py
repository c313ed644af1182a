"""The result of ``livehead bench``: its JSON fields, the terminal table, and comparing two results.

A result is one dict whose top-level keys are ``JSON_FIELDS`` in that order (``finish`` puts them
so); ``--json`` writes it as strict JSON, ``--compare`` reads two back and prints ratios.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from livehead.errors import InputError

__all__ = ["JSON_FIELDS", "SCHEMA", "compare", "finish", "load_result", "print_result", "write_json"]

SCHEMA = "livehead.bench/1"

# Every top-level field of the --json file and what it means (README "Measurement" lists them too).
JSON_FIELDS: dict[str, str] = {
    "schema": f"format version, '{SCHEMA}'",
    "mode": "'pipeline' (capture → tracking → render → null sink) or 'network' (Animator.render alone)",
    "created": "local time the run ended, ISO 8601",
    "machine": "platform, python, cpu model, cpu_count, load_avg_start / load_avg_end (1-min), gpu name or null; "
               "compute_capability, torch, cuda, tensorrt when the run imported torch, else null",
    "engine": "what actually ran: engine, backend, device, precision (Animator.describe())",
    "requested": "engine, backend, device, precision, realtime (clip paced at its frame rate), camera_fps "
                 "(--camera-fps or null) as asked",
    "source": "driving input: kind ('clip' or 'scripted'), name, size [w, h]",
    "avatar": "avatar photo: name, working size [w, h]",
    "output_size": "[w, h] of the output frames",
    "frames": "frames measured (after warm-up)",
    "warmup": "frames run first and left out of every number",
    "stages_ms": "per stage {median, p95, mean, n} in ms: capture, tracking, smoothing, transfer, animate, "
                 "compose, sink (network mode: animate only)",
    "fps": "frames rendered per second of wall time, end to end",
    "latency_ms": "{median, p95, mean, n}: capture of a frame → its output handed to the sink (pipeline mode)",
    "dropped_frames": "frames captured but never rendered (latest-frame-wins skips them; unthrottled capture "
                      "reads faster than the pipeline renders, so this is expected to be large)",
    "engine_faults": "frames where the engine raised (the last good frame was repeated)",
    "duration_s": "wall time of the measured part",
    "memory": "rss_mb (resident now), peak_rss_mb (process peak), gpu_allocated_mb / gpu_peak_mb / "
              "gpu_reserved_mb (PyTorch CUDA allocator; null without CUDA)",
}


def finish(measured: dict[str, Any], **context: Any) -> dict[str, Any]:
    """A complete result: ``measured`` (from ``runs``) and ``context`` (requested, source, avatar,
    output_size, memory, machine) with ``schema`` and ``created``, keys in ``JSON_FIELDS`` order.

    A key that is not a documented field is an error: add it to ``JSON_FIELDS`` first.
    """
    result = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **measured, **context}
    unknown = [k for k in result if k not in JSON_FIELDS]
    if unknown:
        raise ValueError(f"bench result fields {unknown} are not in JSON_FIELDS; document them there first.")
    return {k: result[k] for k in JSON_FIELDS if k in result}


def write_json(result: dict[str, Any], path: str | Path) -> None:
    """Strict JSON (NaN as null, as ``livehead eval`` writes it)."""
    from livehead.eval.report import json_ready

    Path(path).write_text(json.dumps(json_ready(result), indent=1, allow_nan=False), encoding="utf-8")


def _f(value: Any, spec: str = "{:.2f}") -> str:
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return spec.format(value)


def print_result(result: dict[str, Any], console) -> None:
    """What ran, the per-stage table, fps, memory and the machine, on a rich ``console``."""
    from rich.table import Table

    eng = result["engine"]
    src_size = f" {tuple(result['source']['size'])}" if result["source"]["size"] else ""
    console.print(
        f"Engine {eng.get('engine')} · backend {eng.get('backend')} · device {eng.get('device')} · "
        f"precision {eng.get('precision')}\nSource {result['source']['name']}{src_size} · "
        f"avatar {result['avatar']['name']} {tuple(result['avatar']['size'])} · "
        f"output {tuple(result['output_size'])} · "
        f"{result['frames']} frames after {result['warmup']} warm-up · mode {result['mode']}"
    )
    table = Table(title_justify="left")
    for col, justify in (("stage", "left"), ("median ms", "right"), ("p95 ms", "right"), ("n", "right")):
        table.add_column(col, justify=justify)
    for stage, s in result["stages_ms"].items():
        table.add_row(stage, _f(s["median"]), _f(s["p95"]), str(s["n"]))
    lat = result["latency_ms"]
    table.add_row("[bold]capture → sink latency[/bold]", _f(lat["median"]), _f(lat["p95"]), str(lat["n"]))
    console.print(table)
    mem = result["memory"]
    gpu = "" if mem["gpu_peak_mb"] is None else (
        f" · GPU {_f(mem['gpu_allocated_mb'], '{:.0f}')} MiB allocated, {_f(mem['gpu_peak_mb'], '{:.0f}')} MiB peak, "
        f"{_f(mem['gpu_reserved_mb'], '{:.0f}')} MiB reserved")
    m = result["machine"]
    console.print(
        f"[bold]{_f(result['fps'], '{:.1f}')} fps[/bold] end to end · {result['dropped_frames']} frames dropped · "
        f"{result['engine_faults']} engine faults · RSS {_f(mem['rss_mb'], '{:.0f}')} MiB "
        f"(peak {_f(mem['peak_rss_mb'], '{:.0f}')}){gpu}\n"
        f"{m['cpu']} × {m['cpu_count']} · load {_f(m['load_avg_start'])} → {_f(m['load_avg_end'])}"
        + (f" · GPU {m['gpu']}" if m["gpu"] else "")
    )


def load_result(path: str) -> dict[str, Any]:
    """A result written by ``livehead bench --json``; InputError (naming the fix) for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Benchmark file not found: {path}. Write one with livehead bench --json {path}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON ({exc}). Give files written by livehead bench --json.") from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("livehead.bench/"):
        raise InputError(f"{path} is not a livehead bench result (no schema '{SCHEMA}'). "
                         "Give files written by livehead bench --json.")
    return data


def compare(path_a: str, path_b: str, console) -> dict[str, float]:
    """Print b / a for every stage's median and p95, fps, latency and memory; return the ratios
    by row name (``"animate median ms"``, ``"fps"``, ``"peak_rss_mb MiB"`` …; NaN where either is missing)."""
    from rich.table import Table

    a, b = load_result(path_a), load_result(path_b)

    def ratio(x: Any, y: Any) -> float:
        ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (x, y))
        return y / x if ok and x != 0 else math.nan

    def label(r: dict[str, Any]) -> str:
        e = r["engine"]
        return f"{e.get('engine')}/{e.get('backend')}/{e.get('device')}/{e.get('precision')}"

    console.print(f"a = {path_a} ({label(a)}, {a['mode']})\nb = {path_b} ({label(b)}, {b['mode']})\n"
                  "ratio = b / a: for ms and MiB below 1 means b is faster / smaller; "
                  "for fps above 1 means b is faster.")
    table = Table()
    for col, justify in (("measure", "left"), ("a", "right"), ("b", "right"), ("b / a", "right")):
        table.add_column(col, justify=justify)
    ratios: dict[str, float] = {}
    stages = list(a["stages_ms"]) + [s for s in b["stages_ms"] if s not in a["stages_ms"]]
    rows = []
    for stage in stages:
        for q in ("median", "p95"):
            x = a["stages_ms"].get(stage, {}).get(q)
            y = b["stages_ms"].get(stage, {}).get(q)
            rows.append((f"{stage} {q} ms", x, y))
    rows += [("latency median ms", a["latency_ms"].get("median"), b["latency_ms"].get("median")),
             ("latency p95 ms", a["latency_ms"].get("p95"), b["latency_ms"].get("p95")),
             ("fps", a.get("fps"), b.get("fps"))]
    rows += [(f"{k} MiB", a["memory"].get(k), b["memory"].get(k)) for k in ("peak_rss_mb", "gpu_peak_mb")]
    for name, x, y in rows:
        r = ratio(x, y)
        ratios[name] = r
        table.add_row(name, _f(x), _f(y), _f(r, "{:.3f}"))
    console.print(table)
    return ratios
