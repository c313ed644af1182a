"""The measures issue 14 added to ``eval.metrics`` and the contact sheets, against hand-computed answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from livehead.eval import metrics as M
from livehead.eval.contact_sheet import REGIONS, SheetFrame, contact_sheet, region_box
from livehead.face import landmarks as lm
from livehead.stages.tracking import canonical_face


class TestPerEyeCorrelation:
    def test_a_wink_shows_in_one_eye_only(self):
        t = np.linspace(0, 1, 50)
        driver = np.column_stack([np.sin(6 * t), np.cos(4 * t)])
        output = np.column_stack([np.sin(6 * t), np.full(50, 0.3)])  # the left eye never moves
        right, left = M.per_eye_correlation(driver, output)
        assert right == pytest.approx(1.0)
        assert math.isnan(left)

    def test_shape_is_checked(self):
        with pytest.raises(ValueError, match=r"\(T, 2\)"):
            M.per_eye_correlation(np.zeros((5, 3)), np.zeros((5, 3)))


class TestYawGain:
    def test_known_gain(self):
        d = np.linspace(-20, 20, 41)
        assert M.yaw_gain(d, 0.5 * d + 3.0) == pytest.approx(0.5)

    def test_still_driver_is_undefined(self):
        assert math.isnan(M.yaw_gain(np.full(10, 2.0), np.linspace(0, 5, 10)))

    def test_unmeasured_frames_are_skipped(self):
        d = np.linspace(-10, 10, 21)
        o = d.copy()
        o[::4] = np.nan
        assert M.yaw_gain(d, o) == pytest.approx(1.0, abs=0.05)


class TestInnerMouthLuma:
    def test_known_value_and_closed_mouth(self):
        image = np.zeros((40, 40, 3), np.uint8)
        image[10:30, 10:30] = (100, 200, 50)  # luma 0.299·100 + 0.587·200 + 0.114·50 = 153.0
        square = np.array([[12, 12], [27, 12], [27, 27], [12, 27]], float)
        assert M.inner_mouth_luma(image, square) == pytest.approx(153.0, abs=0.01)
        line = np.array([[12, 20], [27, 20], [27, 20.2], [12, 20.2]], float)
        assert math.isnan(M.inner_mouth_luma(image, line))

    def test_ratio_over_open_frames(self):
        out = np.array([50.0, 60.0, np.nan, 200.0])
        drv = np.array([100.0, 120.0, 90.0, 10.0])
        open_ = np.array([True, True, True, False])
        assert M.brightness_ratio(out, drv, open_) == pytest.approx(0.5)


class TestMouthSeam:
    def test_outlined_paste_scores_higher_than_a_soft_one(self):
        """Same dark opening on lip-coloured texture: drawn with a thin dark outline it scores
        well above the feathered version."""
        rng = np.random.default_rng(0)
        base = np.clip(rng.normal(150, 6, (80, 120, 3)), 0, 255).astype(np.uint8)
        poly = np.array([[30, 35], [90, 35], [90, 50], [30, 50]], np.int32)
        soft = base.copy()
        mask = np.zeros((80, 120), np.uint8)
        cv2.fillPoly(mask, [poly], 255)
        a = cv2.GaussianBlur(mask, (0, 0), 1.5).astype(np.float32)[..., None] / 255
        soft = (soft * (1 - a) + 60 * a).astype(np.uint8)
        hard = base.copy()
        cv2.fillPoly(hard, [poly], (60, 60, 60))
        cv2.polylines(hard, [poly], True, (10, 10, 10), 1)
        assert M.mouth_seam(hard, poly) > 1.3 * M.mouth_seam(soft, poly)


class TestContactSheet:
    def test_layout_and_crops(self):
        face = canonical_face() * 80 + np.array([160.0, 120.0, 0.0])
        image = np.full((240, 320, 3), 128, np.uint8)
        frames = [SheetFrame(f"#{i}", image, face, image, face) for i in range(3)]
        sheet = contact_sheet(frames, title="t")
        assert sheet.dtype == np.uint8 and sheet.ndim == 3
        widths = [REGIONS[r][2][0] for r in REGIONS]
        assert sheet.shape[1] == max(w * 3 + 2 * 2 for w in widths)  # three columns, 2 px gaps
        x0, y0, x1, y1 = region_box(face, "mouth", (320, 240))
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240

    def test_mouth_crop_keeps_the_face_scale(self):
        """An opening or smiling mouth shows in a crop framed as the closed one (a crop that zoomed
        out as the mouth opened made it look less open), the nose stays out of a closed mouth's
        crop, and a wide-open mouth still fits whole."""
        face = canonical_face()[:, :2] * 80 + np.array([320.0, 240.0])
        eyes = float(np.linalg.norm(face[263] - face[33]))
        lower = list(lm.LIPS_LOWER_INNER[1:-1] + lm.LIPS_LOWER_OUTER[1:-1])

        def opened(gap: float) -> np.ndarray:
            out = face.copy()
            out[lower, 1] += gap * eyes
            return out

        def smiled(spread: float) -> np.ndarray:
            out = face.copy()
            centre = face[list(lm.LIPS), 0].mean()
            out[list(lm.LIPS), 0] = centre + (face[list(lm.LIPS), 0] - centre) * spread
            return out

        def size(box):
            return box[2] - box[0], box[3] - box[1]

        closed = region_box(face, "mouth", (640, 480))
        assert size(region_box(opened(0.15), "mouth", (640, 480))) == size(closed)
        assert size(region_box(smiled(1.2), "mouth", (640, 480))) == size(closed)
        x0, y0, x1, y1 = closed
        assert not (x0 <= face[1, 0] <= x1 and y0 <= face[1, 1] <= y1)  # the nose tip
        wide = opened(0.6)
        x0, y0, x1, y1 = region_box(wide, "mouth", (640, 480))
        lips = wide[list(lm.LIPS)]
        assert x0 <= lips[:, 0].min() and lips[:, 0].max() <= x1 and y0 <= lips[:, 1].min() and lips[:, 1].max() <= y1

    def test_unknown_region(self):
        with pytest.raises(ValueError, match="unknown region"):
            region_box(canonical_face(), "nose", (10, 10))
