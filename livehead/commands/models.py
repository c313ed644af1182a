"""``livehead models``: the checkpoints the neural engines can use, where they go, which are present."""

from __future__ import annotations

import argparse
import json

from livehead.config.paths import DATA_DIR_ENV
from livehead.errors import CheckpointError
from livehead.models.catalog import CATALOG, catalog_status, checkpoints_dir, liveportrait_download_command

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livehead models",
        description="List the checkpoints the fomm, fv2v and liveportrait engines can use, where LiveHead looks "
                    "for them, and which are present.",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--verify", action="store_true",
                        help="load every present checkpoint strictly and print its sha256 (slow: reads each file)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    return parser


def main(argv: list[str]) -> int:
    """``livehead models``: print the catalog. Returns 0, or 1 when ``--verify`` found a bad file."""
    args = _parser().parse_args(argv)
    directory = checkpoints_dir()
    statuses = catalog_status(directory)
    verified: dict[str, str] = {}
    failures: dict[str, str] = {}
    if args.verify:
        from livehead.models.checkpoint import load_checkpoint

        for status in statuses:
            if status.path is None:
                continue
            try:
                verified[status.name] = load_checkpoint(status.path, status.name).sha256
            except CheckpointError as err:
                failures[status.name] = str(err)
    entries = {e.name: e for e in CATALOG}
    if args.json:
        rows = [
            {
                "name": s.name, "engine": s.engine, "file_names": list(entries[s.name].file_names),
                "description": entries[s.name].description, "download": entries[s.name].download,
                "present": s.present, "path": str(s.path) if s.path else None,
                **({"parts": list(entries[s.name].parts), "missing": list(s.missing)} if entries[s.name].parts else {}),
                **({"sha256": verified[s.name]} if s.name in verified else {}),
                **({"error": failures[s.name]} if s.name in failures else {}),
            }
            for s in statuses
        ]
        report = {"checkpoints_dir": str(directory), "data_dir_env": DATA_DIR_ENV, "checkpoints": rows}
        print(json.dumps(report, indent=2))
        return 1 if failures else 0
    width = max(len(s.name) for s in statuses)
    file_width = max(len(s.file_name) for s in statuses)
    print("Checkpoints for the neural engines (the mesh engine needs none):\n")
    ew = max(len("ENGINE"), *(len(s.engine) for s in statuses))
    print(f"  {'NAME':<{width}}  {'ENGINE':<{ew}}  {'FILE':<{file_width}}  STATUS")
    for s in statuses:
        state = f"found: {s.path}" if s.path else "missing"
        if s.name in verified:
            state = f"ok, sha256 {verified[s.name]}"
        elif s.name in failures:
            state = "BROKEN (see below)"
        print(f"  {s.name:<{width}}  {s.engine:<{ew}}  {s.file_name:<{file_width}}  {state}")
        print(f"  {'':<{width}}  {'':<{ew}}  {entries[s.name].description}")
        if entries[s.name].parts:
            print(f"  {'':<{width}}  {'':<{ew}}  files (in {directory / entries[s.name].file_names[0]}):")
            for part in entries[s.name].parts:
                mark = "missing" if any(m.endswith(part) for m in s.missing) else "ok"
                print(f"  {'':<{width}}  {'':<{ew}}    {part:<52} {mark}")
    print(f"\nCheckpoints folder: {directory}")
    print(f"  (set {DATA_DIR_ENV} to move the data folder, or pass --checkpoint PATH to use a file elsewhere)")
    print("\nDownloads (LiveHead never downloads weights itself):")
    for download in dict.fromkeys(e.download for e in CATALOG):
        print(f"  {download}")
    print(f"  LivePortrait into the right folder: {liveportrait_download_command(directory)}")
    print("\nThe architectures are built in; no YAML is needed for these files.")
    for name, message in failures.items():
        print(f"\n{name}: {message}")
    return 1 if failures else 0
