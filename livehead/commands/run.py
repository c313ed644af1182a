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
from livehead.errors import InputError, LiveHeadError

log = logging.getLogger(__name__)

__all__ = ["build_parser", "cli_overrides", "main", "make_sinks"]


def build_parser() -> argparse.ArgumentParser:
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
            "other commands: livehead demo | bench | eval | models | doctor | cameras | config"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("input")
    g.add_argument("--avatar", metavar="FILE", help="portrait photo to animate (PNG/JPEG)")
    g.add_argument("--avatars", metavar="DIR", help="folder of avatar photos (keys 1-9 switch)")
    g.add_argument("--camera", type=int, metavar="N", help="webcam index (default 0)")
    g.add_argument("--source", metavar="CLIP", help="drive from a video file instead of a webcam")
    g.add_argument("--loop", action="store_true", default=None, help="restart the video file at its end")
    g = p.add_argument_group("output")
    g.add_argument("--output", metavar="FILE.mp4", help="also record the output to an mp4 file")
    g.add_argument("--no-vcam", action="store_true", default=None, help="do not open a virtual camera")
    g.add_argument("--no-preview", action="store_true", default=None, help="do not open a preview window")
    g.add_argument("--fps", type=float, help="output frame rate (default 30)")
    g.add_argument("--size", metavar="WxH", help="output size (default 1280x720)")
    g.add_argument("--mirror", action="store_true", default=None, help="flip the output left-right")
    g.add_argument("--overlay-on-output", action="store_true", default=None, help="draw overlays on the virtual camera too")
    g = p.add_argument_group("engine")
    g.add_argument("--engine", help="mesh (default, no weights) | fomm | fv2v")
    g.add_argument("--backend", choices=["auto", "torch", "onnxruntime", "tensorrt"], help="network runtime (neural engines)")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where neural engines run")
    g.add_argument("--precision", choices=["fp32", "fp16"], help="neural engine precision on CUDA")
    g.add_argument("--checkpoint", metavar="FILE", help="checkpoint for fomm / fv2v (see livehead models)")
    g.add_argument("--pose", help="fv2v head pose: follow | frontal | yaw,pitch,roll (degrees)")
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
    "output": "output.record",
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
    "expression_strength": "motion.expression_strength",
    "pose_strength": "motion.pose_strength",
    "motion_mode": "motion.mode",
}


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


def make_sinks(config: LiveHeadConfig, *, on_key=None) -> list:
    """Open the configured sinks. A missing virtual camera or display is reported with its fix."""
    from livehead.sinks import PreviewSink, RecorderSink, SinkUnavailable, VirtualCameraSink

    out = config.output
    w, h = out.size
    sinks: list = []
    problems: list[str] = []
    try:
        if out.record:
            sinks.append(RecorderSink(path=out.record, width=w, height=h, fps=out.fps))
        if out.vcam:
            try:
                sinks.append(VirtualCameraSink(width=w, height=h, fps=out.fps, device=out.vcam_device))
            except SinkUnavailable as exc:
                problems.append(str(exc))
                log.warning("%s", exc)
        if out.preview:
            try:
                sinks.append(PreviewSink(on_key=on_key))
            except SinkUnavailable as exc:
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


def _install_signal_handlers(stop) -> None:
    """SIGTERM/SIGINT stop the stream cleanly; a second SIGINT forces the exit."""
    if threading.current_thread() is not threading.main_thread():
        return
    hits = {"n": 0}

    def handler(signum, _frame):
        hits["n"] += 1
        if hits["n"] > 1 and signum == signal.SIGINT:
            os._exit(130)
        log.info("Stopping (signal %d)…", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _start_global_hotkeys(config: LiveHeadConfig, pipeline):
    """Keys that work while the meeting app has focus (optional pynput); None when unavailable."""
    if not config.controls.global_hotkeys:
        return None
    from livehead.ui.controls import GlobalHotkeys

    hotkeys = GlobalHotkeys(pipeline.dispatcher, modifiers=config.controls.global_modifiers)
    return hotkeys if hotkeys.start() else None


def _sigterm_unwinds_startup() -> None:
    """Until the stream's own handlers are in, SIGTERM unwinds like Ctrl-C: whatever start-up has
    opened is closed by the ``finally`` blocks and the CLI exits 0, instead of dying mid-write."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _report_threads() -> None:
    """After shutdown only the main thread may remain; name any that did not stop."""
    left = [t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive()]
    if left:
        log.warning("Threads still running at exit: %s.", ", ".join(left))
    else:
        log.debug("All threads stopped.")


def main(argv: list[str]) -> int:
    from livehead.animators import animator_from_config
    from livehead.avatars.photo import load_avatar
    from livehead.stages.capture import open_source
    from livehead.avatars.library import AvatarLibrary
    from livehead.pipeline import Pipeline
    from livehead.config.loading import load_config, user_data_dir

    ns = build_parser().parse_args(argv)
    _sigterm_unwinds_startup()
    config, _sources = load_config(_overrides_from(ns), ns.config)
    if not config.avatar and not config.avatars:
        from livehead.config.loading import avatars_dir

        if not any(avatars_dir().iterdir()):
            raise InputError(
                f"No avatar given. Use --avatar me.png (a portrait photo), put photos in {avatars_dir()}, "
                "or try `livehead demo`."
            )

    animator = animator_from_config(config)
    info = animator.describe()
    print(f"LiveHead: engine {info.get('engine')}, backend {info.get('backend')}, device {info.get('device')}, "
          f"precision {info.get('precision')}.")
    folder = config.avatars
    if folder is None and not config.avatar:
        from livehead.config.loading import avatars_dir

        folder = str(avatars_dir())
    library = AvatarLibrary(
        animator=animator,
        working_size=config.output.size,
        files=[config.avatar] if config.avatar else [],
        folder=folder,
        cache_dir=user_data_dir() / "cache",
    )
    # The first avatar is prepared before streaming starts; the rest follow in the background.
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
    cap = config.capture
    source = open_source(camera=cap.camera, source=cap.source, loop=cap.loop, width=cap.width,
                         height=cap.height, fps=cap.fps)
    library.start()

    pipeline = None
    try:
        sinks = make_sinks(config, on_key=lambda key: pipeline and pipeline.handle_key(key))
        pipeline = Pipeline(config, source=source, animator=animator, states=states, library=library, sinks=sinks)
        _install_signal_handlers(pipeline.stop)
        hotkeys = _start_global_hotkeys(config, pipeline)
        try:
            summary = pipeline.run()
        finally:
            if hotkeys is not None:
                hotkeys.stop()
    finally:
        library.close()
        if pipeline is not None:
            pipeline.close()
        else:
            source.close()
    _report_threads()
    log.info("Streamed %d frames at %.1f fps (%d dropped).", summary["frames_out"], summary["fps"], summary["dropped_frames"])
    if config.output.record:
        print(f"Recording written to {os.path.abspath(config.output.record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
