"""Bad input gets a clear error and an exit code, never a traceback or a hang (issue 2 "Bad input",
issue 7 check 4 for images and config files).

Every case runs the real CLI in a subprocess (``python -m livehead.cli``) with empty config and data
folders and no display, and checks the exit code, the message and that no traceback was printed.
The cases that fit one line (a command, an exit code, a message) are rows of the table in
``test_user_errors.py``; the ones here need more (memory, a generated photo, an either-or answer).
Checkpoint files are covered by tests/models/test_checkpoint.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from _media import media
from helpers import REPO, assert_clean_exit, png_header_only


def run_args(avatar: str | Path, source: Path, out: Path, *extra: str) -> list[str]:
    return ["--avatar", str(avatar), "--source", str(source), "--no-vcam", "--no-preview",
            "--output", str(out), "--size", "320x240", *extra]


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def two_faces(tmp_path: Path) -> Path:
    """The Aragaki photo (face ≈ 324 px) beside a smaller face (≈ 100 px), on white."""
    big = rgb(media("aniportrait_Aragaki.png"))
    small = cv2.resize(rgb(media("dreamtalk_f30.png")), (160, 160), interpolation=cv2.INTER_AREA)
    canvas = np.full((big.shape[0], big.shape[1] + 260, 3), 255, np.uint8)
    canvas[:, : big.shape[1]] = big
    canvas[200:360, big.shape[1] + 50 : big.shape[1] + 210] = small
    path = tmp_path / "two_faces.png"
    Image.fromarray(canvas).save(path)
    return path


# ---------------------------------------------------------------------------------------------
# Avatar photos that are refused


class TestAvatarRefused:
    def test_no_face(self, run_cli, short_clip, tmp_path):
        rng = np.random.default_rng(7)
        noise = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 8)
        path = tmp_path / "landscape.png"
        Image.fromarray(noise).save(path)
        r = run_cli(*run_args(path, short_clip, tmp_path / "o.mp4"))
        assert_clean_exit(r, 2, "No face found", "landscape.png")
        assert not (tmp_path / "o.mp4").exists() or (tmp_path / "o.mp4").stat().st_size == 0

    def test_huge_png_refused_from_its_header_with_bounded_memory(self, cli_env, short_clip, tmp_path):
        """20000×20000 (400 MP) is refused before a pixel is decoded.

        Peak RSS of the whole CLI run is compared with a run that fails on a tiny non-image: the
        difference must stay under 50 MB, where decoding would need 400 MB (mode "1") to 1.2 GB (RGB).
        """
        huge = png_header_only(tmp_path / "huge.png", 20_000, 20_000)
        assert huge.stat().st_size < 1_000_000
        tiny = tmp_path / "tiny.png"
        tiny.write_bytes(b"not a png")
        # Report the CLI's own peak RSS: ru_maxrss of this process, in kB on Linux.
        wrapper = ("import resource, sys\nfrom livehead.cli import main\nrc = main(sys.argv[1:])\n"
                   "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
                   "sys.exit(rc)\n")

        def peak(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
            r = subprocess.run([sys.executable, "-c", wrapper, *run_args(path, short_clip, tmp_path / "o.mp4")],
                               cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=120)
            kb = [int(line.split()[1]) for line in r.stderr.splitlines() if line.startswith("PEAK_RSS_KB")]
            assert kb, r.stderr[-2000:]
            return r, kb[0] / 1024

        r, huge_mb = peak(huge)
        assert_clean_exit(r, 2, "too large", "huge.png", "400 megapixels", "limit 50")
        r_tiny, tiny_mb = peak(tiny)
        assert_clean_exit(r_tiny, 2, "Not an image file")
        assert huge_mb - tiny_mb < 50, f"peak RSS {huge_mb:.0f} MB refusing the huge PNG vs {tiny_mb:.0f} MB baseline"

    def test_just_over_50_megapixels_refused(self, run_cli, short_clip, tmp_path):
        path = png_header_only(tmp_path / "big.png", 8000, 6400)  # 51.2 MP
        r = run_cli(*run_args(path, short_clip, tmp_path / "o.mp4"))
        assert_clean_exit(r, 2, "too large", "8000x6400")


# ---------------------------------------------------------------------------------------------
# Avatar photos that are accepted


def gray_png(tmp_path: Path) -> Path:
    path = tmp_path / "gray.png"
    Image.open(media("aniportrait_Aragaki.png")).convert("L").save(path)
    return path


def gray16_png(tmp_path: Path) -> Path:
    path = tmp_path / "gray16.png"
    gray = np.asarray(Image.open(media("aniportrait_Aragaki.png")).convert("L"), dtype=np.uint16) * 257
    assert cv2.imwrite(str(path), gray)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # Pillow 10.0 opens it as mode "I", newer as "I;16"
    return path


def rgb16_png(tmp_path: Path) -> Path:
    path = tmp_path / "rgb16.png"
    bgr = cv2.imread(str(media("aniportrait_Aragaki.png")), cv2.IMREAD_COLOR).astype(np.uint16) * 257
    assert cv2.imwrite(str(path), bgr)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    return path


def rgba_png(tmp_path: Path) -> Path:
    path = media("aniportrait_lyl.png")
    assert Image.open(path).mode == "RGBA"
    return path


class TestAvatarAccepted:
    @pytest.mark.parametrize("make", [rgba_png, gray_png, gray16_png, rgb16_png], ids=["rgba", "gray", "gray16", "rgb16"])
    def test_mode_streams(self, make, run_cli, short_clip, tmp_path):
        avatar = make(tmp_path)
        out = tmp_path / "out.mp4"
        r = run_cli(*run_args(avatar, short_clip, out))
        assert_clean_exit(r, 0, "Recording written to")
        assert out.stat().st_size > 1000

    @pytest.mark.parametrize("make", [rgba_png, gray_png, gray16_png, rgb16_png], ids=["rgba", "gray", "gray16", "rgb16"])
    def test_mode_decodes_to_rgb(self, make, tmp_path):
        from livehead.avatars.photo import decode_image

        image, _ = decode_image(make(tmp_path))
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert 60 < float(image.mean()) < 250, "levels lost in conversion (16-bit read as 8-bit, or alpha as black)"

    def test_several_faces_takes_the_largest_and_warns(self, run_cli, short_clip, tmp_path):
        path = two_faces(tmp_path)
        r = run_cli(*run_args(path, short_clip, tmp_path / "o.mp4"))
        assert_clean_exit(r, 0, "2 faces", "animating the largest")

        from livehead.avatars.photo import load_avatar

        avatar = load_avatar(path)
        x0, _, x1, _ = avatar.face.box
        assert x1 < 590 and x1 - x0 > 200, f"the smaller face was taken: box {avatar.face.box}"

    def test_large_photo_is_downscaled_to_the_working_size(self, tmp_path):
        from livehead.avatars.photo import load_avatar

        path = tmp_path / "large.jpg"
        big = cv2.resize(cv2.imread(str(media("aniportrait_Aragaki.png"))), (3000, 3000), interpolation=cv2.INTER_CUBIC)
        assert cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
        avatar = load_avatar(path, working_size=(640, 360))
        assert avatar.image.shape == (360, 360, 3)


# ---------------------------------------------------------------------------------------------
# Driver sources


class TestSourceRefused:
    def test_camera_that_cannot_be_opened(self, run_cli, avatar_path, tmp_path):
        r = run_cli("--avatar", avatar_path, "--camera", "63", "--no-vcam", "--no-preview",
                    "--output", tmp_path / "o.mp4", "--size", "320x240")
        assert_clean_exit(r, 2, "Camera 63 cannot be opened")
        said = r.stderr.lower()
        assert "no other camera was found" in said or "cameras that open:" in said
        assert "--camera n" in said or "--source" in said, "the message must name the next flag to try"

    def test_camera_message_lists_the_cameras_that_open(self, monkeypatch):
        from livehead.stages import cameras, capture

        found = [cameras.CameraInfo(0, True, 1280, 720), cameras.CameraInfo(2, True, 640, 480),
                 cameras.CameraInfo(3, False, note="cannot open")]
        monkeypatch.setattr(cameras, "list_cameras", lambda max_index=10: found)
        monkeypatch.setattr(capture.CameraSource, "_open", lambda self: cv2.VideoCapture())
        with pytest.raises(capture.InputError) as err:
            capture.CameraSource(index=5)
        assert "0 (1280x720), 2 (640x480)" in str(err.value) and "--camera" in str(err.value)

    def test_video_file_truncated(self, run_cli, avatar_path, tmp_path):
        """A cut download: either refused with the message or played up to the cut, never a crash."""
        data = media("liveportrait_d20.mp4").read_bytes()
        cut = tmp_path / "cut.mp4"
        cut.write_bytes(data[: len(data) // 5])
        r = run_cli(*run_args(avatar_path, cut, tmp_path / "o.mp4"))
        if r.returncode == 2:
            assert_clean_exit(r, 2, "Video file cannot be read")
        else:
            assert_clean_exit(r, 0, "Recording written to")
