"""The compositor: output size (``fit_size``), letterbox bars, mirror, and where avatar points land
in the output (``Compositor.to_output``). Known answers are hand math; conventions are pinned with
asymmetric images, so a left/right or x/y swap fails."""

from __future__ import annotations

import numpy as np
import pytest

from livehead.stages.compose import Compositor, fit_size, letterbox


def gradient(w: int, h: int) -> np.ndarray:
    """(h, w, 3) uint8: red grows with x, green with y, blue constant: no two corners alike."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full_like(xx, 60)], -1).astype(np.uint8)


class TestFitSize:
    @pytest.mark.parametrize("size,bounds,expected", [
        ((1920, 1080), (640, 360), (640, 360)),  # same aspect: fills the bounds
        ((590, 590), (640, 360), (360, 360)),  # square in 16:9: height-bound
        ((100, 200), (640, 360), (180, 360)),  # portrait: height-bound
        ((400, 100), (640, 360), (640, 160)),  # wide: width-bound
        ((64, 48), (1280, 720), (960, 720)),  # upscaled too
    ])
    def test_known_answers(self, size, bounds, expected):
        assert fit_size(size, bounds) == expected

    def test_never_below_one_pixel(self):
        assert fit_size((1000, 1), (16, 16)) == (16, 1)

    def test_keeps_the_aspect_ratio_within_rounding(self):
        for size in [(590, 590), (410, 412), (653, 660), (1145, 1000)]:
            w, h = fit_size(size, (640, 360))
            assert w <= 640 and h <= 360 and (w == 640 or h == 360)
            assert abs(w / h - size[0] / size[1]) < 1.0 / min(w, h)


class TestLetterbox:
    def test_shape_and_dtype(self):
        out = letterbox(gradient(50, 30), (64, 48))
        assert out.shape == (48, 64, 3) and out.dtype == np.uint8

    def test_bars_top_and_bottom_in_the_background_colour(self):
        """A 20×10 image in 40×40: scaled to 40×20, 10 rows of bar above and below."""
        image = np.full((10, 20, 3), (200, 100, 50), np.uint8)
        out = letterbox(image, (40, 40), background=(10, 20, 30))
        assert (out[:10] == (10, 20, 30)).all() and (out[30:] == (10, 20, 30)).all()
        assert (out[10:30] == (200, 100, 50)).all()

    def test_odd_margin_puts_the_extra_column_on_the_right(self):
        image = np.full((10, 10, 3), 255, np.uint8)
        out = letterbox(image, (21, 10))
        lit = np.flatnonzero(out[5, :, 0])
        assert (lit[0], lit[-1]) == (5, 14)  # 5 columns left of the image, 6 right of it

    def test_background_is_rgb(self):
        """Images are RGB inside LiveHead: a red background puts 255 in channel 0 of the bars."""
        out = letterbox(np.zeros((10, 20, 3), np.uint8), (20, 20), background=(255, 0, 0))
        np.testing.assert_array_equal(out[0, 0], (255, 0, 0))

    def test_same_size_is_the_image_itself(self):
        image = gradient(64, 48)
        np.testing.assert_array_equal(letterbox(image, (64, 48)), image)

    def test_mirror_flips_the_picture_left_to_right(self):
        """Convention pin: with mirror the image's left column is the output's right column."""
        image = gradient(64, 48)
        out = letterbox(image, (64, 48), mirror=True)
        np.testing.assert_array_equal(out, image[:, ::-1])
        assert not np.array_equal(out, image)  # the test image is asymmetric enough to tell

    def test_mirror_flips_the_image_not_the_bars(self):
        image = gradient(10, 10)
        plain, mirrored = letterbox(image, (21, 10)), letterbox(image, (21, 10), mirror=True)
        np.testing.assert_array_equal(mirrored[:, 5:15], plain[:, 5:15][:, ::-1])
        np.testing.assert_array_equal(mirrored[:, :5], plain[:, :5])
        np.testing.assert_array_equal(mirrored[:, 15:], plain[:, 15:])


class TestCompositor:
    def test_too_small_output_names_the_size(self):
        with pytest.raises(ValueError, match="8x720"):
            Compositor(size=(8, 720))

    def test_compose_returns_a_fresh_frame_of_the_output_size(self):
        image = gradient(64, 48)
        out = Compositor(size=(64, 48)).compose(image)
        assert out.shape == (48, 64, 3) and out.dtype == np.uint8
        out[:] = 0  # a sink may keep and scribble on it: the engine's frame stays intact
        assert image.any()

    def test_compose_uses_its_settings(self):
        image = gradient(20, 10)
        compositor = Compositor(size=(40, 40), mirror=True, background=(1, 2, 3))
        np.testing.assert_array_equal(compositor.compose(image),
                                      letterbox(image, (40, 40), mirror=True, background=(1, 2, 3)))

    def test_to_output_known_answer(self):
        """100×50 into 200×200: scale 2, 50 rows of bar on top."""
        compositor = Compositor(size=(200, 200))
        np.testing.assert_allclose(compositor.to_output(np.array([[10.0, 5.0, 7.0]]), (100, 50)), [[20.0, 60.0]])

    @pytest.mark.parametrize("mirror", [False, True], ids=["plain", "mirrored"])
    def test_to_output_points_at_the_pixel_compose_puts_there(self, mirror):
        """Convention pin: one lit pixel off-centre; ``to_output`` of its position is where
        ``compose`` drew it (scale 1 so no resampling blurs it; bars above and below)."""
        image = np.zeros((50, 100, 3), np.uint8)
        image[3, 7] = 255
        compositor = Compositor(size=(100, 80), mirror=mirror)
        out = compositor.compose(image)
        (y,), (x,) = np.nonzero(out[..., 0])
        np.testing.assert_allclose(compositor.to_output(np.array([[7.0, 3.0]]), (100, 50)), [[x, y]])
        assert (x, y) == ((92, 18) if mirror else (7, 18))
