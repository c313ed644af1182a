"""``livehead eval``: measure animation quality on real clips and photos; write JSON + HTML.

Examples::

    livehead eval                                   # every clip and photo in ../shared/media
    livehead eval --clips talk.mp4 --photos me.png --engines mesh --frames 100 --out eval-me
"""

from __future__ import annotations

import argparse
import logging
import math
from typing import Any

from livehead.errors import EXIT_CODES, InputError, RunFailure

log = logging.getLogger(__name__)

__all__ = ["check_engines", "main"]

STILL = "still"  # the baseline, always run


def check_engines(text: str) -> tuple[str, ...]:
    """``--engines`` as names, every one registered (a typo is refused before a long run, not reported after it)."""
    from livehead.animators.registry import engine_names
    from livehead.eval.types import DEFAULT_ENGINES

    if text.strip().lower() == "all":
        return DEFAULT_ENGINES
    names = tuple(dict.fromkeys(e.strip() for e in text.split(",") if e.strip() and e.strip() != STILL))
    known = engine_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"--engines: unknown engine {', '.join(map(repr, unknown))}. Choose from "
                         f"{', '.join(known)} or 'all' (the still baseline always runs).")
    if not names and text.strip() != STILL:
        raise InputError(f"--engines {text!r} names no engine. Choose from {', '.join(known)} or 'all'.")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The ``livehead eval`` options (media, engines, frames, output folder)."""
    from livehead.eval.types import DEFAULT_ENGINES

    p = argparse.ArgumentParser(
        prog="livehead eval",
        description="Measure animation quality (L1, PSNR, SSIM, AKD, mouth AKD, pose error, expression "
                    "correlation, identity, stability) of every engine and a still-photo baseline.",
        epilog="Default media: ../shared/media when present. Writes eval.json and report.html into --out.\n\n"
               + EXIT_CODES,
    )
    p.add_argument("--clips", nargs="+", metavar="PATH", help="driving clips or folders of clips")
    p.add_argument("--photos", nargs="+", metavar="PATH", help="avatar photos or folders (cross-identity)")
    p.add_argument("--engines", default="all",
                   help=f"comma-separated engines, or 'all' ({','.join(DEFAULT_ENGINES)}); "
                        "the still baseline always runs; engines that cannot run are reported")
    p.add_argument("--frames", type=int, metavar="N", help="frames per clip (default: whole clips)")
    p.add_argument("--out", default="livehead-eval", metavar="DIR", help="output folder (default livehead-eval)")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="output size (default 1280x720); avatars fit inside it")
    p.add_argument("--no-cross", action="store_true", help="skip cross-identity (photos × clips)")
    p.add_argument("--no-stability", action="store_true", help="skip the runs with smoothing off")
    p.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    p.add_argument("--identity-samples", type=int, default=8, metavar="N",
                   help="frames per sequence given a face embedding (default 8)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


class _RichProgress:
    """``livehead.eval.types.Progress`` drawn with rich."""

    def __init__(self, progress) -> None:
        self._progress = progress
        self._task = None

    def start(self, total_frames: int) -> None:
        self._task = self._progress.add_task("evaluating", total=max(total_frames, 1))

    def advance(self, frames: int, note: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=frames, description=note[:40])


def _fmt(value: Any, spec: str) -> str:
    if not isinstance(value, (int, float)) or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    return spec.format(value)


def _scaled(value: Any, key: str, scale: dict[str, float]) -> Any:
    return value * scale.get(key, 1.0) if isinstance(value, (int, float)) else value


def print_summary(data: dict[str, Any], console) -> None:
    """The three summary tables (means over clips / pairs) on the terminal."""
    from rich.table import Table

    from livehead.eval.report import CROSS_COLUMNS, METRICS, SCALE, SELF_COLUMNS, STABILITY_COLUMNS

    reconstruction = ("l1", "psnr", "ssim", "akd", "mouth_akd", "identity_distance")
    motion = tuple(k for k in SELF_COLUMNS if k not in reconstruction)
    sections = [
        ("Self-reenactment: reconstruction (mean over clips)", data["self_reenactment"]["summary"], reconstruction),
        ("Self-reenactment: motion (mean over clips)", data["self_reenactment"]["summary"], motion),
        ("Cross-identity (mean over photo × clip pairs)", data["cross_identity"]["summary"], CROSS_COLUMNS),
        ("Stability in still segments (mean over clips)", data["stability"]["summary"], STABILITY_COLUMNS),
    ]
    for title, rows, keys in sections:
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("method", justify="left", no_wrap=True)
        for k in keys:
            arrow = {"low": " ↓", "high": " ↑"}.get(METRICS[k][2] or "", "")
            table.add_column(METRICS[k][0] + arrow, justify="right")
        for name, row in rows.items():
            table.add_row(name, *[_fmt(_scaled(row.get(k), k, SCALE), METRICS[k][1]) for k in keys])
        console.print(table)


def main(argv: list[str]) -> int:
    """``livehead eval``: score every engine and the still-photo baseline on the media, write eval.json and report.html. Returns the exit code."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from livehead.config.loading import check_option
    from livehead.config.validation import Range, check_flag
    from livehead.eval.media import CLIP_SUFFIXES, MEDIA_RELATIVE, PHOTO_SUFFIXES, collect_media, default_media_dir
    from livehead.eval.report import write_report
    from livehead.eval.runner import run_eval
    from livehead.eval.types import EvalSettings
    from livehead.sinks import check_output_dir

    ns = build_parser().parse_args(argv)
    # Everything a long evaluation needs is checked first: its results must not be lost at the end.
    engines = check_engines(ns.engines)
    size = check_option("output.size", ns.size, "--size")
    if ns.frames is not None:
        check_flag("--frames", ns.frames, Range(2, 1_000_000, unit="frames"))
    check_flag("--identity-samples", ns.identity_samples, Range(1, 1000, unit="frames"))
    check_output_dir(ns.out, "--out")
    if not ns.verbose:
        # Every run recalibrates on its first frame; one INFO line per run drowns the progress bar.
        logging.getLogger("livehead.pipeline.processor").setLevel(logging.WARNING)
    media = default_media_dir()
    if ns.clips:
        clips = collect_media(ns.clips, CLIP_SUFFIXES, "Clip")
    elif media is not None:
        clips = collect_media([media], CLIP_SUFFIXES, "Clip")
    else:
        raise InputError(f"No clips given and {MEDIA_RELATIVE} was not found. Use --clips talk.mp4 "
                         "(a video of a face talking; folders work too).")
    if not clips:
        raise InputError(f"No video files ({', '.join(CLIP_SUFFIXES)}) among {ns.clips or [media]}.")
    if ns.photos:
        photos = collect_media(ns.photos, PHOTO_SUFFIXES, "Photo")
    else:
        photos = collect_media([media], PHOTO_SUFFIXES, "Photo") if media is not None else []
    settings = EvalSettings(
        engines=engines, frames=ns.frames, size=size, cross_identity=not ns.no_cross,
        stability=not ns.no_stability, identity=not ns.no_identity, identity_samples=ns.identity_samples,
    )
    console = Console()
    console.print(f"Evaluating {len(clips)} clip(s) × {len(photos) if settings.cross_identity else 0} photo(s); "
                  f"engines: still (baseline), {', '.join(engines)}.")
    if settings.cross_identity and not photos:
        console.print("No photos: cross-identity is skipped (give --photos me.png).")
    columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        result = run_eval(clips, photos, settings, progress=_RichProgress(bar))
    for name, info in result.data["engines"].items():
        if not info["available"]:
            console.print(f"[yellow]Engine {name} unavailable:[/yellow] {info['reason']}")
    ident = result.data["identity_metric"]
    if not ident["available"]:
        console.print(f"[yellow]Identity metric unavailable:[/yellow] {ident['reason']}")
    print_summary(result.data, console)  # before writing: if the disk fills up now, these numbers still reach the user
    try:
        paths = write_report(result, ns.out)
    except OSError as exc:
        raise RunFailure(f"Could not write the report to {ns.out}: {exc.strerror or exc}. The tables above are the "
                         "results; free some space or choose another --out to keep the full report.") from None
    console.print(f"Numbers: {paths['json']}\nReport:  {paths['html']}")
    return 0
