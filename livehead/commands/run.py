"""``livehead [options]``: stream an animated avatar to the virtual camera.

This module turns options into a config, builds the stages and hands them to ``Pipeline``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from livehead.config import LiveHeadConfig
from livehead.config.schema import EYE_MODES, LIP_MODES
from livehead.errors import EXIT_CODES, EXIT_INTERRUPTED, EXIT_OK, InputError, RunFailure

log = logging.getLogger(__name__)

__all__ = ["build_parser", "cli_overrides", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The streaming options of ``livehead`` / ``livehead run`` (every flag maps onto a config key)."""
    p = argparse.ArgumentParser(
        prog="livehead",
        description=(
            "Animate a portrait photo with your face and send it to a virtual camera. "
            'Then pick "LiveHead Camera" in Zoom, Meet, Teams or OBS.'
        ),
        epilog=(
            "examples:\n"
            "  livehead --avatar me.png                      webcam 0 → virtual camera + preview\n"
            "  livehead --avatar me.png --source talk.mp4 --no-vcam --output out.mp4\n"
            "  livehead demo                                 no camera needed\n"
            "other commands: livehead demo | bench | eval | models | doctor | cameras | config\n\n"
            "A recording keeps the source's timing: a clip's own timestamps, or the camera's clock. A clip\n"
            "recorded with no preview or virtual camera open is rendered frame by frame (every frame, in\n"
            "order); it is written to NAME.incomplete.mp4 and renamed when it closed and read back.\n\n"
            + EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("input")
    g.add_argument("--avatar", metavar="FILE", help="portrait photo to animate (PNG/JPEG)")
    g.add_argument("--avatars", metavar="DIR", help="folder of avatar photos (keys 1-9 switch)")
    g.add_argument("--camera", type=int, metavar="N", help="webcam index (default 0)")
    g.add_argument("--source", metavar="CLIP", help="drive from a video file instead of a webcam")
    g.add_argument("--loop", action="store_true", default=None, help="restart the video file at its end")
    pace = g.add_mutually_exclusive_group()
    pace.add_argument("--every-frame", dest="realtime", action="store_const", const=False,
                      help="video file: render every frame in order, as fast as it goes (the default without "
                           "preview and virtual camera)")
    pace.add_argument("--realtime", dest="realtime", action="store_const", const=True,
                      help="video file: play in real time, dropping frames when rendering falls behind (the "
                           "default with a preview or virtual camera)")
    g = p.add_argument_group("output")
    g.add_argument("--output", metavar="FILE.mp4", help="also record the output: .mp4, .mkv, .mov or .m4v")
    g.add_argument("--overwrite", action="store_true", default=None, help="replace an existing --output file")
    g.add_argument("--no-vcam", action="store_true", default=None, help="do not open a virtual camera")
    g.add_argument("--no-preview", action="store_true", default=None, help="do not open a preview window")
    g.add_argument("--fps", type=float, help="virtual camera frame rate (default 30); a recording keeps the "
                                                "source's timing")
    g.add_argument("--size", metavar="WxH", help="output size (default 1280x720)")
    g.add_argument("--mirror", action="store_true", default=None, help="flip the output left-right")
    g.add_argument("--overlay-on-output", action="store_true", default=None, help="draw overlays on the virtual camera too")
    g = p.add_argument_group("engine")
    g.add_argument("--engine", help="mesh (default, no weights) | fomm | fv2v | liveportrait")
    g.add_argument("--backend", choices=["auto", "torch", "inductor", "onnxruntime", "tensorrt"], help="network runtime (neural engines)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where neural engines run")
    g.add_argument("--precision", choices=["fp32", "fp16"], help="neural engine precision on CUDA")
    g.add_argument("--checkpoint", metavar="PATH",
                   help="checkpoint for fomm / fv2v, weights folder for liveportrait (see livehead models)")
    g.add_argument("--pose", help="fv2v / liveportrait head pose: follow | frontal | yaw,pitch,roll (degrees)")
    g.add_argument("--eyes", choices=EYE_MODES,
                   help="liveportrait eyes: follow the driver's expression (default) | retarget to its eye opening | open")
    g.add_argument("--lips", choices=LIP_MODES,
                   help="liveportrait lips: follow the driver's expression (default) | retarget to its lip opening | closed")
    g.add_argument("--expression-strength", type=float, help="scale of the transferred expression (default 1)")
    g.add_argument("--pose-strength", type=float, help="scale of the transferred head rotation (default 1; 0 keeps the avatar's pose)")
    g.add_argument("--relative", dest="motion_mode", action="store_const", const="relative", help="motion relative to calibration (default)")
    g.add_argument("--absolute", dest="motion_mode", action="store_const", const="absolute", help="copy the driver's head rotation")
    g.add_argument("--no-smoothing", action="store_true", default=None, help="turn the One Euro filter off")
    p.add_argument("--config", metavar="FILE", help="TOML config file (default: your config directory)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


_DEST_TO_KEY = {
    "avatar": "avatar",
    "avatars": "avatars",
    "camera": "capture.camera",
    "source": "capture.source",
    "loop": "capture.loop",
    "realtime": "capture.realtime",
    "output": "output.record",
    "overwrite": "output.overwrite",
    "fps": "output.fps",
    "size": "output.size",
    "mirror": "output.mirror",
    "overlay_on_output": "output.overlay_on_output",
    "engine": "engine.engine",
    "backend": "engine.backend",
    "device": "engine.device",
    "precision": "engine.precision",
    "checkpoint": "engine.checkpoint",
    "pose": "engine.pose",
    "eyes": "engine.eyes",
    "lips": "engine.lips",
    "expression_strength": "motion.expression_strength",
    "pose_strength": "motion.pose_strength",
    "motion_mode": "motion.mode",
}


# dotted key → the option that sets it, so a refused value names what the user typed
FLAGS = {key: "--" + dest.replace("_", "-") for dest, key in _DEST_TO_KEY.items() if dest not in ("motion_mode", "realtime")}


def _overrides_from(ns: argparse.Namespace) -> dict[str, Any]:
    out = {key: getattr(ns, dest) for dest, key in _DEST_TO_KEY.items() if getattr(ns, dest, None) is not None}
    if ns.no_vcam:
        out["output.vcam"] = False
    if ns.no_preview:
        out["output.preview"] = False
    if ns.no_smoothing:
        out["smoothing.enabled"] = False
    return out


def cli_overrides(argv: list[str]) -> dict[str, Any]:
    """Dotted-key overrides for the run options in ``argv`` (used by ``livehead config`` too)."""
    return _overrides_from(build_parser().parse_args(argv))


def _stop_signals() -> list[signal.Signals]:
    """Ctrl-C, SIGTERM and SIGHUP (the terminal closed, SSH dropped): each stops the stream cleanly."""
    return [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


def _install_signal_handlers(stop) -> None:
    """A stop signal ends the stream cleanly (the recording is finished); a second Ctrl-C forces the exit."""
    if threading.current_thread() is not threading.main_thread():
        return
    hits = {"n": 0}

    def handler(signum, _frame):
        hits["n"] += 1
        if hits["n"] > 1 and signum == signal.SIGINT:
            os._exit(EXIT_INTERRUPTED)
        log.info("Stopping (%s)…", signal.Signals(signum).name)
        stop()

    for signum in _stop_signals():
        signal.signal(signum, handler)


def _start_global_hotkeys(config: LiveHeadConfig, pipeline):
    """Keys that work while the meeting app has focus (optional pynput); None when unavailable."""
    if not config.controls.global_hotkeys:
        return None
    from livehead.ui.hotkeys import GlobalHotkeys

    hotkeys = GlobalHotkeys(pipeline.dispatcher, modifiers=config.controls.global_modifiers)
    return hotkeys if hotkeys.start() else None


def _sigterm_unwinds_startup() -> None:
    """Until the stream's own handlers are in, SIGTERM and SIGHUP unwind like Ctrl-C: whatever
    start-up has opened is closed by the ``finally`` blocks and the CLI exits 0, instead of dying
    mid-write."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum, _frame):
        raise KeyboardInterrupt

    for signum in _stop_signals()[1:]:
        signal.signal(signum, interrupt)


def _report_threads() -> None:
    """After shutdown only the main thread may remain; name any that did not stop."""
    left = [t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive()]
    if left:
        log.warning("Threads still running at exit: %s.", ", ".join(left))
    else:
        log.debug("All threads stopped.")


def main(argv: list[str]) -> int:
    """``livehead run``: stream camera or clip → engine → virtual camera / preview / recording until stopped. Returns the exit code."""
    ns = build_parser().parse_args(argv)
    _sigterm_unwinds_startup()
    try:
        return _stream(ns)
    except KeyboardInterrupt:  # a stop signal during start-up: the finally blocks closed what was open
        log.info("Stopped during start-up.")
        return EXIT_OK


def _stream(ns: argparse.Namespace) -> int:
    from livehead.config.loading import load_config
    from livehead.config.paths import avatars_dir, user_data_dir
    from livehead.sinks.output_path import check_recording_path

    # Options, config values and the output path are checked before anything slow is imported or opened.
    config, _sources = load_config(_overrides_from(ns), ns.config, flags=FLAGS)
    if config.output.record:
        check_recording_path(config.output.record, overwrite=config.output.overwrite,
                             inputs=(("--source", config.capture.source), ("--avatar", config.avatar),
                                     ("--config", ns.config)))

    from livehead.animators import animator_from_config
    from livehead.avatars.library import AvatarLibrary
    from livehead.avatars.photo import load_avatar
    from livehead.pipeline import Pipeline
    from livehead.sinks import RecorderSink, open_sinks
    from livehead.stages.capture import open_source

    if not config.avatar and not config.avatars:
        if not any(avatars_dir().iterdir()):
            raise InputError(
                f"No avatar given. Use --avatar me.png (a portrait photo), put photos in {avatars_dir()}, "
                "or try `livehead demo`."
            )

    animator = animator_from_config(config)
    cap = config.capture
    source = open_source(camera=cap.camera, source=cap.source, loop=cap.loop, width=cap.width,
                         height=cap.height, fps=cap.fps)
    folder = config.avatars
    if folder is None and not config.avatar:
        folder = str(avatars_dir())
    pipeline = None
    sinks = []
    library = None
    try:
        library = AvatarLibrary(
            animator=animator,
            working_size=config.output.size,
            files=[config.avatar] if config.avatar else [],
            folder=folder,
            cache_dir=user_data_dir() / "cache",
        )
        # The first avatar is prepared before streaming starts; the rest follow in the background.
        log.info("Preparing the avatar %s…", config.avatar or folder)
        if config.avatar:
            first = load_avatar(config.avatar, working_size=config.output.size)
            states = [animator.prepare(first)]
            library.entries[0].state = states[0]
        else:
            library.prepare_now()
            states = library.ready()
            if not states:
                raise InputError(
                    f"No usable avatar in {folder}. Put a portrait photo (PNG or JPEG) there, or use --avatar FILE."
                )
        library.start()
        sinks = open_sinks(config.output, on_key=lambda key: pipeline and pipeline.handle_key(key))
        pipeline = Pipeline(config, source=source, animator=animator, states=states, library=library, sinks=sinks)
        _install_signal_handlers(pipeline.stop)
        info = animator.describe()
        print(f"LiveHead: engine {info.get('engine')}, backend {info.get('backend')}, device {info.get('device')}, "
              f"precision {info.get('precision')}.", flush=True)
        hotkeys = _start_global_hotkeys(config, pipeline)
        try:
            summary = pipeline.run()
        except Exception as exc:
            if exc is not pipeline.tracking.error:
                raise
            raise RunFailure(f"The face tracker failed repeatedly ({exc}); the stream stopped. Run `livehead doctor`, "
                             "and report it if it happens again.") from None
        finally:
            if hotkeys is not None:
                hotkeys.stop()
    finally:
        if library is not None:
            library.close()
        if pipeline is not None:
            pipeline.close()
        else:
            for sink in sinks:
                sink.close()
            source.close()
    _report_threads()
    log.info("Streamed %d frames at %.1f fps (%d dropped).", summary["frames_out"], summary["fps"], summary["dropped_frames"])
    recorder = next((s for s in sinks if isinstance(s, RecorderSink)), None)
    _report_failures(pipeline.failed_sinks, recorder)
    if recorder is not None:
        print(f"Recording written to {recorder.path.resolve()} ({recorder.frames} frames, {recorder.duration:.2f} s).")
    return EXIT_OK


def _report_failures(failed: list[tuple[str, str]], recorder) -> None:
    """A failed recording or sink makes the run fail (exit 1), with where the partial recording is."""
    problems = [f"Sink {name} failed during the stream: {reason}." for name, reason in failed
                if recorder is None or name != recorder.name]
    if recorder is not None and not recorder.written:
        kept = (f" What was written plays up to where it stopped: {recorder.partial}."
                if recorder.partial.exists() else " Nothing was saved.")
        problems.insert(0, f"Recording failed: {recorder.error}.{kept}")
    if problems:
        raise RunFailure(" ".join(problems))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
