"""Overlay drawing: pure (input untouched), shape-preserving, keymap-driven text, conventions."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from livehead.ui.keymap import DEFAULT_KEYMAP, build_keymap
from livehead.ui.overlays import (
    calibration_prompt_text,
    draw_calibration_prompt,
    draw_ghost,
    draw_help,
    draw_landmarks,
    draw_stats,
)

from _media import MEDIA


def frame(h: int = 480, w: int = 640, value: int = 100) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def stats(image: np.ndarray, **kw: object) -> np.ndarray:
    args = dict(fps=29.7, stage_ms={"tracking": 4.2, "render": 14.1}, engine="mesh", backend="numpy",
                device="cpu", precision="fp32", dropped_frames=3)
    args.update(kw)
    return draw_stats(image, **args)  # type: ignore[arg-type]


DRAWERS = {
    "stats": stats,
    "help": lambda im: draw_help(im, DEFAULT_KEYMAP, global_modifiers="ctrl+alt"),
    "landmarks": lambda im: draw_landmarks(im, np.array([[10.0, 20.0], [300.0, 200.0]])),
    "ghost": lambda im: draw_ghost(im, frame(256, 256, 200), 0.5),
    "prompt": lambda im: draw_calibration_prompt(im, DEFAULT_KEYMAP),
}


@pytest.mark.parametrize("name", list(DRAWERS))
class TestAllOverlays:
    @pytest.mark.parametrize(("h", "w"), [(480, 640), (720, 1280), (1080, 1920), (240, 320)])
    def test_shape_dtype_and_purity(self, name: str, h: int, w: int) -> None:
        image = frame(h, w)
        before = image.copy()
        out = DRAWERS[name](image)
        assert out.shape == (h, w, 3) and out.dtype == np.uint8
        assert np.array_equal(image, before), "input was modified"
        assert not np.array_equal(out, image), "nothing was drawn"

    @pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                     np.zeros((10, 10, 4), np.uint8)])
    def test_rejects_non_rgb_uint8(self, name: str, bad: np.ndarray) -> None:
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB.*got"):
            DRAWERS[name](bad)


class TestDrawStats:
    def test_camera_lost_adds_red(self) -> None:
        base = stats(frame(value=0))
        lost = stats(frame(value=0), camera_lost=True)
        red = (lost[..., 0] > 200) & (lost[..., 1] < 120)
        assert red.sum() > (base[..., 0] > 200).__and__(base[..., 1] < 120).sum()

    def test_notices_add_red_rows_with_and_without_the_stats(self) -> None:
        from livehead.ui.overlays import draw_fps

        def red(image: np.ndarray) -> int:
            return int(((image[..., 0] > 200) & (image[..., 1] < 120)).sum())

        assert red(stats(frame(value=0), notices=("NO FACE FOR 5 S",))) > red(stats(frame(value=0)))
        assert red(draw_fps(frame(value=0), 30.0, ("RECORD FAILED",))) > red(draw_fps(frame(value=0), 30.0)) == 0

    def test_more_stages_make_a_taller_panel(self) -> None:
        def panel_rows(image: np.ndarray) -> int:
            return int((image[:, :40, 0] < 100).any(axis=1).sum())  # dark box darkens the 100-grey frame

        short = stats(frame(), stage_ms={"a": 1.0})
        tall = stats(frame(), stage_ms={f"s{i}": 1.0 for i in range(6)})
        assert panel_rows(tall) > panel_rows(short)


class TestDrawHelp:
    def test_follows_keymap(self) -> None:
        default = draw_help(frame(), DEFAULT_KEYMAP)
        fewer = draw_help(frame(), build_keymap({**{str(n): "none" for n in range(1, 10)}, "h": "none"}))
        assert not np.array_equal(default, fewer)

    def test_top_right_anchor(self) -> None:
        out = draw_help(frame(720, 1280), DEFAULT_KEYMAP)
        changed = np.argwhere((out != 100).any(axis=2))
        assert changed[:, 1].max() > 1200 and changed[:, 0].min() < 40


class TestDrawLandmarks:
    def test_xy_convention(self) -> None:
        # asymmetric point: x=50 (column), y=10 (row); a swap would light row 50, column 10
        out = draw_landmarks(frame(100, 200, 0), np.array([[50.0, 10.0, 7.0]]), colour=(255, 0, 0), radius=1)
        assert tuple(out[10, 50]) == (255, 0, 0)
        assert tuple(out[50, 10]) == (0, 0, 0)

    def test_outside_and_nan_points_skipped(self) -> None:
        pts = np.array([[-5.0, 3.0], [1e9, 2.0], [np.nan, 4.0], [3.0, 3.0]])
        out = draw_landmarks(frame(10, 10, 0), pts, radius=0)
        assert int((out.sum(axis=2) > 0).sum()) == 1

    def test_bad_shape(self) -> None:
        with pytest.raises(ValueError, match=r"\(N, 2\) or \(N, 3\), got shape \(4,\)"):
            draw_landmarks(frame(), np.zeros(4))


class TestDrawGhost:
    def test_known_answer(self) -> None:
        out = draw_ghost(frame(40, 40, 100), frame(40, 40, 200), 0.25)
        assert np.all(out == 125)  # 0.25*200 + 0.75*100

    def test_zero_and_full_opacity(self) -> None:
        cam, avatar = frame(40, 40, 100), frame(40, 40, 200)
        assert np.array_equal(draw_ghost(cam, avatar, 0.0), cam)
        assert np.array_equal(draw_ghost(cam, avatar, 1.0), avatar)

    def test_aspect_kept_and_centred(self) -> None:
        # a square avatar on a 2:1 frame covers the centre square only
        out = draw_ghost(frame(100, 200, 0), frame(50, 50, 200), 1.0)
        assert np.all(out[:, 50:150] == 200) and np.all(out[:, :50] == 0) and np.all(out[:, 150:] == 0)

    def test_matches_opencv_on_real_image(self) -> None:
        photo = MEDIA / "liveportrait_s1.jpg"
        if not photo.is_file():
            pytest.skip(f"real media missing: {photo}")
        avatar = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        cam = np.random.default_rng(0).integers(0, 255, avatar.shape, dtype=np.uint8)
        expected = cv2.addWeighted(avatar, 0.4, cam, 0.6, 0.0)
        assert np.array_equal(draw_ghost(cam, avatar, 0.4), expected)

    def test_bad_opacity(self) -> None:
        with pytest.raises(ValueError, match="opacity must be in"):
            draw_ghost(frame(), frame(), 1.5)


class TestCalibrationPrompt:
    def test_text_from_keymap(self) -> None:
        assert calibration_prompt_text(DEFAULT_KEYMAP) == "Look at the camera and press X"
        assert calibration_prompt_text(build_keymap({"k": "calibrate", "x": "none"})) == "Look at the camera and press K"
        assert "no key is bound" in calibration_prompt_text(build_keymap({"x": "none"}))

    def test_bottom_centre(self) -> None:
        out = draw_calibration_prompt(frame(720, 1280), DEFAULT_KEYMAP)
        rows, cols = np.nonzero((out != 100).any(axis=2))
        assert rows.min() > 500
        assert abs((cols.min() + cols.max()) / 2 - 640) < 5
