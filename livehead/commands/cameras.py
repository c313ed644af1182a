"""``livehead cameras``: the camera indices that open, with their resolution."""

from __future__ import annotations

import argparse
import sys

from livehead.stages.cameras import CAMERA_FIX, list_cameras

__all__ = ["main"]


def main(argv: list[str]) -> int:
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
