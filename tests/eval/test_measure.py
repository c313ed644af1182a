"""eval.measure: the face region for pixel change, and the evaluation tracker on a real photo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livehead.avatars.photo import decode_image
from livehead.eval.measure import Meter, face_region
from livehead.types import NUM_LANDMARKS

from _media import media

PHOTO = "aniportrait_Aragaki.png"


class TestFaceRegion:
    def test_grown_by_a_quarter_each_way(self) -> None:
        assert face_region((100.0, 40.0, 140.0, 120.0), (640, 360)) == (90, 20, 150, 140)

    def test_clipped_to_the_frame(self) -> None:
        assert face_region((0.0, 300.0, 100.0, 350.0), (80, 360)) == (0, 287, 80, 360)

    def test_no_face(self) -> None:
        assert face_region(None, (640, 360)) is None


@pytest.fixture(scope="module")
def meter():
    m = Meter()
    yield m
    m.close()


class TestMeter:
    def test_real_face_is_measured(self, meter: Meter) -> None:
        image, _ = decode_image(media(PHOTO))
        m = meter(image)
        assert m.found and m.landmarks.shape == (NUM_LANDMARKS, 3)
        x0, y0, x1, y1 = m.box
        assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
        assert m.face_size > 0 and np.isfinite(m.rotation).all() and math.isfinite(m.mouth)

    def test_repeated_image_is_answered_from_the_cache(self, meter: Meter) -> None:
        image, _ = decode_image(media(PHOTO))
        assert meter(image) is meter(image.copy())

    def test_no_face_is_nan_not_zero(self, meter: Meter) -> None:
        m = meter(np.full((120, 160, 3), 128, np.uint8))
        assert not m.found and m.box is None
        assert np.isnan(m.landmarks).all() and math.isnan(m.face_size) and math.isnan(m.mouth)
