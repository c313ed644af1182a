"""Where output frames go: virtual camera, preview window, recorder, null — and the registry that opens them.

Each registered :class:`SinkSpec` says when the config asks for it, how to open it, and whether
the stream may go on without it (a missing virtual camera or display is reported with its fix and
the others keep running; a recording that cannot be written is an error).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from livehead.errors import LiveHeadError
from livehead.sinks.base import Sink, SinkUnavailable
from livehead.sinks.null import NullSink
from livehead.sinks.output_path import check_output_dir, check_output_file, check_recording_path
from livehead.sinks.preview import PreviewSink
from livehead.sinks.recorder import RecorderSink
from livehead.sinks.vcam import VCAM_LABEL, VirtualCameraSink, virtual_camera_fix

log = logging.getLogger(__name__)

__all__ = [
    "NullSink", "PreviewSink", "RecorderSink", "SINKS", "Sink", "SinkSpec", "SinkUnavailable", "VCAM_LABEL",
    "VirtualCameraSink", "check_output_dir", "check_output_file", "check_recording_path", "open_sinks",
    "register_sink", "virtual_camera_fix",
]

KeyHandler = Callable[[int], Any]


@dataclass(frozen=True)
class SinkSpec:
    """A sink the config can ask for.

    ``wanted(output)`` reads the ``[output]`` config section; ``open(output, on_key)`` builds the
    sink (keys pressed in a window go to ``on_key``); ``optional`` sinks that raise
    :class:`SinkUnavailable` are skipped with a warning, others stop the start-up.
    """

    name: str
    wanted: Callable[[Any], bool]
    open: Callable[[Any, KeyHandler | None], Sink]
    optional: bool = True


def _record(out, on_key):
    return RecorderSink(path=out.record, width=out.size[0], height=out.size[1], fps=out.fps,
                        overlays=out.overlay_on_output, overwrite=out.overwrite)


def _vcam(out, on_key):
    return VirtualCameraSink(width=out.size[0], height=out.size[1], fps=out.fps, device=out.vcam_device,
                             overlays=out.overlay_on_output)


def _preview(out, on_key):
    return PreviewSink(on_key=on_key)


# In opening order: the recording first, so a bad output path stops before any device opens.
SINKS: dict[str, SinkSpec] = {
    "record": SinkSpec("record", lambda out: bool(out.record), _record, optional=False),
    "vcam": SinkSpec("vcam", lambda out: out.vcam, _vcam),
    "preview": SinkSpec("preview", lambda out: out.preview, _preview),
}


def register_sink(spec: SinkSpec) -> None:
    """Make another sink available to :func:`open_sinks` (after the built-in ones)."""
    SINKS[spec.name] = spec


def open_sinks(output, *, on_key: KeyHandler | None = None) -> list[Sink]:
    """Open every sink the ``[output]`` config section asks for.

    Raises :class:`LiveHeadError` naming every reason when none could be opened, or when a
    non-optional sink fails; whatever was opened is closed again before raising.
    """
    sinks: list[Sink] = []
    problems: list[str] = []
    try:
        for spec in SINKS.values():
            if not spec.wanted(output):
                continue
            try:
                sinks.append(spec.open(output, on_key))
            except SinkUnavailable as exc:
                if not spec.optional:
                    raise
                problems.append(str(exc))
                log.warning("%s", exc)
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    if not sinks:
        raise LiveHeadError(
            "Nowhere to send the video: " + " ".join(problems) + " Or record with --output out.mp4.", exit_code=1
        )
    return sinks
