"""Command line: ``livehead [run options]`` streams; ``livehead SUBCOMMAND`` does everything else.

Subcommands live in their own modules and expose ``main(argv) -> int``; this file only routes,
so ``livehead --help`` stays readable and importing LiveHead never parses argv.
"""

from __future__ import annotations

import importlib
import logging
import sys

from livehead.errors import EXIT_CODES, EXIT_INTERRUPTED, LiveHeadError
from livehead.extras import extra_providing, missing_extra_error

# name -> (module, function, one-line help); the run command is the default when none is given.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("livehead.commands.run", "main", "stream an animated avatar to the virtual camera (default)"),
    "demo": ("livehead.commands.demo", "main", "animate a bundled portrait with scripted motion, no camera needed"),
    "bench": ("livehead.commands.bench", "main", "measure per-stage speed and latency"),
    "eval": ("livehead.commands.eval", "main", "measure animation quality on clips and photos"),
    "models": ("livehead.commands.models", "main", "list supported checkpoints and where to put them"),
    "doctor": ("livehead.commands.doctor", "main", "check this machine and say how to fix what is missing"),
    "cameras": ("livehead.commands.cameras", "main", "list cameras that open, with their resolution"),
    "config": ("livehead.commands.config", "main", "print the effective configuration and where each value came from"),
}


def usage() -> str:
    """The top-level help: how to run, every subcommand with its one-line purpose, the exit codes."""
    width = max(len(n) for n in SUBCOMMANDS)
    lines = [
        "usage: livehead [--avatar FILE] [--camera N | --source CLIP] [options]",
        "       livehead SUBCOMMAND [options]",
        "",
        "Animate a portrait photo with your face and send it to a virtual camera",
        "(select \"LiveHead Camera\" in Zoom, Meet, Teams or OBS).",
        "",
        "subcommands:",
    ]
    lines += [f"  {name:<{width}}  {text}" for name, (_, _, text) in SUBCOMMANDS.items()]
    lines += ["", "Run `livehead run --help` for all streaming options, `livehead SUBCOMMAND --help` for the others.",
              "", EXIT_CODES]
    return "\n".join(lines)


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr; warnings that libraries raise (Pillow, torch, numpy) are shown under ``-v`` only:
    LiveHead says what matters in its own words, and their lines would bury it."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    """``livehead [SUBCOMMAND] ...``: dispatch to the subcommand (default ``run``); a LiveHead error or a missing extra prints one line naming the fix. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        print(usage())
        return 0
    if argv and argv[0] in SUBCOMMANDS:
        name, rest = argv[0], argv[1:]
    else:
        name, rest = "run", argv
    module, func, _ = SUBCOMMANDS[name]
    setup_logging(verbose="-v" in rest or "--verbose" in rest)
    try:
        return int(getattr(importlib.import_module(module), func)(rest) or 0)
    except LiveHeadError as exc:
        print(f"livehead: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        # A light install (no `neural` extra) reaching code that needs torch/onnx: name the pip line.
        extra = extra_providing(exc.name)
        if extra is None:
            raise
        error = missing_extra_error(extra, f"`livehead {name}`" + (" " + " ".join(rest) if rest else ""), [str(exc.name)])
        print(f"livehead: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:  # the stream handles its own stop signals; elsewhere Ctrl-C leaves work unfinished
        print("livehead: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
