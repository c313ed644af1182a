"""Every user mistake gets one clear line and the exit code of the rule, never a traceback, and nothing
on disk is overwritten (issue 12). The exit-code rule is ``livehead.errors.EXIT_CODES``: 2 when an
option, config value or input file is wrong and nothing ran, 1 when something failed while running.

Each case is one row of :data:`CASES`: a command line, the exit code, phrases the output must say
and phrases it must not. Words in braces expand (see :func:`expand`); a row may name a ``setup``
that prepares files in ``{tmp}``. After each run, every file a setup made must be byte-for-byte
unchanged and ``{tmp}/o.mp4`` (the usual ``--output``) must not exist unless the setup made it.
Runtime failures (a disk filling mid-recording, kills) are in ``test_recording.py``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from _media import media, needs_extra
from helpers import assert_clean_exit, png_header_only


@dataclass(frozen=True)
class Case:
    id: str
    argv: str  # the command line after `livehead`, with {braces} expanded by expand()
    code: int
    says: tuple[str, ...]  # the output names each (case-insensitive)
    never: tuple[str, ...] = ()  # … and none of these
    setup: str | None = None  # a function in SETUPS preparing files in {tmp}
    extra: str | None = None  # an optional extra the case needs (a light install skips it)


RUN = "--avatar {avatar} --source {clip} --no-vcam --no-preview --output {tmp}/o.mp4 --size 320x240"
NOISE = ("Traceback", "LiveHead: engine")  # nothing from a started stream before an error about the input

CASES = [
    # --- the exit-code rule is in the help
    Case("help", "--help", 0, ("exit codes: 0 done", "1 something failed", "2 an option", "130 interrupted"), ()),
    Case("run-help", "run --help", 0, ("exit codes: 0 done", "SIGHUP", "--every-frame", "--overwrite"), ()),
    # --- numbers and sizes: the same rule and words from the command line, the config file and `livehead config`
    Case("fps-negative", RUN + " --fps -30", 2, ("output.fps", "--fps", "more than 0", "at most 240", "got -30"), NOISE),
    Case("fps-zero", RUN + " --fps 0", 2, ("output.fps", "more than 0", "got 0"), NOISE),
    Case("fps-huge", RUN + " --fps 1e9", 2, ("output.fps", "at most 240"), NOISE),
    Case("fps-nan", RUN + " --fps nan", 2, ("output.fps", "got nan"), NOISE),
    Case("size-huge", RUN + " --size 100000x100000", 2, ("output.size", "7680x4320", "got 100000x100000"), NOISE),
    Case("size-tiny", RUN + " --size 8x8", 2, ("output.size", "16x16", "got 8x8"), NOISE),
    Case("size-odd", RUN + " --size 641x480", 2, ("output.size", "even", "got 641x480"), NOISE),
    Case("size-negative", RUN + " --size=-1280x0", 2, ("output.size", "--size", "1280x720"), NOISE),
    Case("strength-negative", RUN + " --expression-strength -1", 2, ("motion.expression_strength", "at least 0"), NOISE),
    Case("config-fps", "--config {tmp}/bad.toml " + RUN, 2, ("output.fps", "bad.toml", "more than 0", "got -30"), NOISE,
         "config_fps_negative"),
    Case("config-size", "--config {tmp}/size.toml " + RUN, 2, ("output.size", "size.toml", "got 1280x0"), NOISE,
         "config_size_zero"),
    Case("config-cmd-fps", "config --fps 0", 2, ("output.fps", "more than 0", "got 0"), ("Traceback", "[output]")),
    Case("config-cmd-set", "config --set output.size=100000x100000", 2, ("output.size", "7680x4320"), ("Traceback",)),
    Case("config-cmd-file", "config --config {tmp}/bad.toml", 2, ("output.fps", "bad.toml", "got -30"), ("Traceback",),
         "config_fps_negative"),
    Case("toml-line", "--config {tmp}/syntax.toml " + RUN, 2, ("line 2", "size = [1280, 720", "Unclosed array"), NOISE,
         "toml_unclosed_array"),
    Case("config-unknown-key", "--config {tmp}/k.toml " + RUN, 2, ("output.fsp", "k.toml", "output.fps"), NOISE,
         "config_typo_key"),
    Case("config-unknown-section", "--config {tmp}/s.toml " + RUN, 2, ("ouptut", "s.toml"), NOISE, "config_typo_section"),
    Case("config-wrong-type", "--config {tmp}/t.toml " + RUN, 2, ("output.fps", "t.toml", "wrong type"), NOISE,
         "config_wrong_type"),
    Case("config-missing", "--config {tmp}/none.toml " + RUN, 2, ("none.toml", "does not exist"), NOISE),
    Case("pace-both", RUN + " --realtime --every-frame", 2, ("not allowed with",), ("Traceback",)),
    # --- the recording path: refused before the run, nothing replaced
    Case("out-no-extension", RUN.replace("o.mp4", "out"), 2, ("no extension", ".mp4"), NOISE),
    Case("out-png", RUN.replace("o.mp4", "o.png"), 2, ("extension '.png'", ".mp4, .m4v, .mov, .mkv"), NOISE),
    Case("out-folder", RUN.replace("{tmp}/o.mp4", "{tmp}"), 2, ("is a folder",), NOISE),
    Case("out-device", RUN.replace("{tmp}/o.mp4", "/dev/full"), 2, ("/dev/full", "not a regular file"), NOISE),
    Case("out-missing-folder", RUN.replace("o.mp4", "nowhere/o.mp4"), 2, ("does not exist", "mkdir -p"), NOISE),
    Case("out-read-only-folder", RUN.replace("{tmp}/o.mp4", "{readonly}/o.mp4"), 2, ("Cannot write --output",), NOISE),
    Case("out-is-source", RUN.replace("{clip}", "{tmp}/src.mp4").replace("o.mp4", "src.mp4"), 2,
         ("is the --source file", "destroy"), NOISE, "read_only_source"),
    Case("out-is-source-overwrite", RUN.replace("{clip}", "{tmp}/src.mp4").replace("o.mp4", "src.mp4") + " --overwrite",
         2, ("is the --source file",), NOISE, "read_only_source"),
    Case("out-exists", RUN, 2, ("already exists", "--overwrite"), NOISE, "existing_output"),
    Case("out-leftover", RUN, 2, ("o.incomplete.mp4", "did not finish", "--overwrite"), NOISE, "leftover_partial"),
    # --- inputs
    Case("avatar-missing", RUN.replace("{avatar}", "{tmp}/nobody.png"), 2, ("Avatar file not found", "nobody.png",
                                                                            "--avatar"), NOISE),
    Case("avatar-folder", RUN.replace("{avatar}", "{tmp}"), 2, ("not a file",), NOISE),
    Case("avatar-not-an-image", RUN.replace("{avatar}", "{tmp}/me.png"), 2, ("Not an image file", "me.png"), NOISE,
         "text_as_png"),
    Case("avatar-empty", RUN.replace("{avatar}", "{tmp}/empty.jpg"), 2, ("empty",), NOISE, "empty_jpeg"),
    Case("avatar-truncated", RUN.replace("{avatar}", "{tmp}/cut.jpg"), 2, ("truncated", "cut.jpg"), NOISE, "cut_jpeg"),
    Case("avatar-symlink-loop", RUN.replace("{avatar}", "{tmp}/loop.png"), 2, ("symbolic link", "loop.png"), NOISE,
         "symlink_loop"),
    Case("avatar-huge-no-pillow-warning", RUN.replace("{avatar}", "{tmp}/huge.png"), 2, ("too large", "100 megapixels"),
         NOISE + ("DecompressionBomb",), "hundred_megapixel_png"),
    Case("size-too-small-for-face", RUN.replace("{avatar}", "{media:liveportrait_s2.jpg}").replace("320x240", "16x16"),
         2, ("output size 16x16 is too small", "--size", "the photo is fine"), NOISE + ("No face found",)),
    Case("clip-missing", RUN.replace("{clip}", "{tmp}/gone.mp4"), 2, ("Video file not found", "gone.mp4", "--source"),
         NOISE),
    Case("clip-junk", RUN.replace("{clip}", "{tmp}/clip.mp4"), 2, ("Video file cannot be read", "clip.mp4"), NOISE,
         "junk_clip"),
    Case("clip-empty", RUN.replace("{clip}", "{tmp}/empty.mp4"), 2, ("empty (0 bytes)", "empty.mp4"),
         NOISE + ("truncated", "codec"), "empty_clip"),
    Case("clip-audio-only", RUN.replace("{clip}", "{tmp}/audio.mp4"), 2, ("no video stream", "audio (aac)"),
         NOISE + ("truncated", "codec"), "audio_only_clip"),
    Case("clip-without-face", RUN.replace("{clip}", "{tmp}/noface.mp4"), 0, ("No face in any of the 10 frames",
                                                                               "still photo", "Recording written"),
         ("Traceback",), "faceless_clip"),
    Case("camera-quiet", RUN.replace("--source {clip}", "--camera 63"), 2, ("Camera 63 cannot be opened",),
         NOISE + ("can't open camera by index", "WARN:")),
    Case("checkpoint-runs-code", RUN + " --engine fomm --checkpoint {tmp}/evil.pth.tar", 2,
         ("refused", "would run code", "posix.system"), NOISE + ("damaged", "download it again"), "code_running_pickle",
         extra="neural"),
    # --- the other commands check everything before their long work
    Case("eval-unknown-engine", "eval --clips {clip} --engines mseh --out {tmp}/ev", 2, ("unknown engine 'mseh'", "mesh"),
         ("Traceback", "Evaluating")),
    Case("eval-out-unwritable", "eval --clips {clip} --engines mesh --out /dev/full/ev", 2, ("--out",),
         ("Traceback", "Evaluating")),
    Case("bench-camera-fps-zero", "bench --source {clip} --camera-fps 0 --frames 5", 2, ("capture.fps", "--camera-fps",
                                                                                          "more than 0"), ("Traceback",)),
    Case("bench-json-unwritable", "bench --source {clip} --frames 5 --json {tmp}/nowhere/b.json", 2,
         ("--json", "does not exist"), ("Traceback", "Numbers written")),
    Case("demo-fps-zero", "demo --fps 0 --output {tmp}/d.mp4", 2, ("output.fps", "--fps", "more than 0"), ("Traceback",)),
    Case("demo-size-odd", "demo --size 641x480 --output {tmp}/d.mp4", 2, ("output.size", "even"), ("Traceback",)),
    Case("demo-png", "demo --output {tmp}/d.png", 2, ("extension '.png'",), ("Traceback",)),
]


# ---------------------------------------------------------------------------------------------
# Setups: each prepares files in tmp; every file they make must be unchanged after the run


def config_fps_negative(tmp: Path) -> None:
    (tmp / "bad.toml").write_text("[output]\nfps = -30\n")


def config_size_zero(tmp: Path) -> None:
    (tmp / "size.toml").write_text("[output]\nsize = [1280, 0]\n")


def toml_unclosed_array(tmp: Path) -> None:
    (tmp / "syntax.toml").write_text("[output]\nsize = [1280, 720\nfps = 25\n")


def config_typo_key(tmp: Path) -> None:
    (tmp / "k.toml").write_text("[output]\nfsp = 25\n")


def config_typo_section(tmp: Path) -> None:
    (tmp / "s.toml").write_text("[ouptut]\nfps = 25\n")


def config_wrong_type(tmp: Path) -> None:
    (tmp / "t.toml").write_text('[output]\nfps = "fast"\n')


def text_as_png(tmp: Path) -> None:
    (tmp / "me.png").write_text("this is a text file, not a photo\n" * 20)


def empty_jpeg(tmp: Path) -> None:
    (tmp / "empty.jpg").write_bytes(b"")


def cut_jpeg(tmp: Path) -> None:
    data = media("liveportrait_s1.jpg").read_bytes()
    (tmp / "cut.jpg").write_bytes(data[: len(data) // 2])


def junk_clip(tmp: Path) -> None:
    (tmp / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)


def read_only_source(tmp: Path) -> None:
    shutil.copy(media("dreamtalk_W011_front_neutral_level1_001.mp4"), tmp / "src.mp4")
    (tmp / "src.mp4").chmod(0o444)


def existing_output(tmp: Path) -> None:
    (tmp / "o.mp4").write_bytes(b"an earlier recording the user wants to keep")


def leftover_partial(tmp: Path) -> None:
    (tmp / "o.incomplete.mp4").write_bytes(b"the only copy of a recording cut short")


def symlink_loop(tmp: Path) -> None:
    os.symlink("loop.png", tmp / "loop.png")


def hundred_megapixel_png(tmp: Path) -> None:
    png_header_only(tmp / "huge.png", 10_000, 10_000)  # over Pillow's own warning limit (89 MP), under its error


def empty_clip(tmp: Path) -> None:
    (tmp / "empty.mp4").write_bytes(b"")


def audio_only_clip(tmp: Path) -> None:
    import av

    with av.open(str(tmp / "audio.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def faceless_clip(tmp: Path) -> None:
    """Ten frames of blurred noise: a clip that plays but never shows a face."""
    import av
    import cv2

    rng = np.random.default_rng(3)
    with av.open(str(tmp / "noface.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 128, "yuv420p"
        for _ in range(10):
            image = cv2.GaussianBlur(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8), (0, 0), 4)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo the checkpoint ran code",))


def code_running_pickle(tmp: Path) -> None:
    (tmp / "evil.pth.tar").write_bytes(pickle.dumps({"generator": _RunsCode()}, protocol=4))


SETUPS = {f.__name__: f for f in (
    config_fps_negative, config_size_zero, toml_unclosed_array, config_typo_key, config_typo_section, config_wrong_type,
    text_as_png, empty_jpeg, cut_jpeg, junk_clip, read_only_source, existing_output, leftover_partial, symlink_loop,
    hundred_megapixel_png, empty_clip, audio_only_clip, faceless_clip, code_running_pickle,
)}


def unwritable_folder(tmp: Path) -> Path:
    """A folder this process cannot create files in: a 0555 folder, or (as root, whom modes do not stop) /sys."""
    folder = tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            (candidate / ".probe").touch()
        except OSError:
            return candidate
        (candidate / ".probe").unlink()
    pytest.skip("no folder here refuses writes to this user")


def expand(argv: str, *, tmp: Path, avatar: Path, clip: Path) -> list[str]:
    """``{avatar}`` a portrait photo, ``{clip}`` a 10-frame talking clip, ``{tmp}`` this case's empty
    folder, ``{readonly}`` a folder that cannot be written, ``{media:NAME}`` a file of ../shared/media."""
    argv = re.sub(r"\{media:([^}]+)\}", lambda m: str(media(m.group(1))), argv)
    readonly = unwritable_folder(tmp) if "{readonly}" in argv else ""
    text = argv.format(avatar=avatar, clip=clip, tmp=tmp, readonly=readonly)
    return shlex.split(text)


def _digests(tmp: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_user_error(case: Case, run_cli, avatar_path, short_clip, tmp_path):
    if case.extra:
        from livehead.extras import EXTRAS

        needs_extra(case.extra, EXTRAS[case.extra][0])
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    if case.setup:
        SETUPS[case.setup](case_dir)
    before = _digests(case_dir)
    argv = expand(case.argv, tmp=case_dir, avatar=avatar_path, clip=short_clip)

    result = run_cli(*argv, timeout=120)

    assert_clean_exit(result, case.code, *case.says)
    output = result.stdout + result.stderr
    for phrase in case.never:
        assert phrase.lower() not in output.lower(), f"{phrase!r} should not appear:\n{output[-3000:]}"
    after = _digests(case_dir)
    assert {p: after.get(p) for p in before} == before, "a file that was there before the run changed"
    if case.setup != "leftover_partial":
        assert not list(case_dir.glob("*.incomplete.*")), "a partial recording was left behind"
    errors = [line for line in result.stderr.splitlines() if re.match(r"livehead( \w+)?: error: ", line)]
    if case.code == 0:
        assert not errors, result.stderr[-3000:]
        return
    if case_dir / "o.mp4" not in before:
        assert not (case_dir / "o.mp4").exists(), "an output file was written by a refused run"
    assert len(errors) == 1, f"expected one error line, got {len(errors)}:\n{result.stderr[-3000:]}"
