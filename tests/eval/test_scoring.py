"""eval.scoring: means that skip what was not measurable, identity against targets, rotation deltas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livehead.eval.run import Run
from livehead.eval.measure import Measure, Series
from livehead.eval.scoring import (delta_angles, identity_samples, identity_scores, mean_psnr, nanmean,
                                   summary_over)
from livehead.face.geometry import rotation_from_euler
from livehead.types import NUM_LANDMARKS


def measure(rotation: np.ndarray, found: bool = True) -> Measure:
    return Measure(np.zeros((NUM_LANDMARKS, 3)), 1.0, rotation, 0.0, 0.0, (0.0, 0.0, 8.0, 8.0) if found else None)


class TestMeans:
    def test_nanmean_skips_nan(self) -> None:
        assert nanmean([1.0, math.nan, 3.0]) == 2.0
        assert math.isnan(nanmean([math.nan])) and math.isnan(nanmean([]))

    def test_mean_psnr_replaces_identical_frames_by_the_best(self) -> None:
        assert mean_psnr([20.0, 30.0, math.inf]) == pytest.approx((20.0 + 30.0 + 30.0) / 3)
        assert mean_psnr([math.inf, math.inf]) == math.inf
        assert math.isnan(mean_psnr([]))


class TestIdentitySamples:
    def test_spread_over_frames_after_the_avatar(self) -> None:
        assert identity_samples(10, 4) == [1, 4, 6, 9]
        assert identity_samples(3, 8) == [1, 2]

    def test_nothing_to_sample(self) -> None:
        assert identity_samples(1, 8) == [] and identity_samples(10, 0) == []


class FakeEmbedder:
    """Embeds an image as its mean value (one number), so distances are known by hand."""

    def embed(self, image: np.ndarray, box) -> np.ndarray:
        return np.array([float(image.mean())])


def run_with(values: dict[int, int], frames: int = 4, no_face: tuple[int, ...] = ()) -> Run:
    run = Run()
    for i in range(frames):
        run.out.add(measure(np.eye(3), found=i not in no_face))
    run.kept = {i: np.full((8, 8, 3), v, np.uint8) for i, v in values.items()}
    return run


class TestIdentityScores:
    def test_known_distances(self) -> None:
        run = run_with({1: 10, 2: 20})
        scores = identity_scores(FakeEmbedder(), run, {1: np.array([10.5]), 2: np.array([19.0])})
        assert scores == {"identity_distance": pytest.approx(0.75), "same_person_rate": 0.5, "identity_frames": 2}

    def test_frames_without_target_kept_output_or_face_are_passed_over(self) -> None:
        run = run_with({1: 10, 3: 30}, no_face=(3,))
        scores = identity_scores(FakeEmbedder(), run, {1: None, 2: np.array([0.0]), 3: np.array([30.0])})
        assert math.isnan(scores["identity_distance"]) and scores["identity_frames"] == 0

    def test_no_embedder_is_not_measurable(self) -> None:
        scores = identity_scores(None, run_with({1: 10}), {1: np.array([10.0])})
        assert math.isnan(scores["identity_distance"]) and math.isnan(scores["same_person_rate"])
        assert scores["identity_frames"] == 0


class TestDeltaAngles:
    def test_yaw_change_against_reference(self) -> None:
        s = Series()
        s.add(measure(rotation_from_euler(10.0, 0.0, 0.0)))
        s.add(measure(rotation_from_euler(25.0, 0.0, 0.0)))
        s.add(measure(np.full((3, 3), np.nan), found=False))
        out = delta_angles(s, rotation_from_euler(10.0, 0.0, 0.0))
        assert out[0] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
        assert out[1] == pytest.approx([15.0, 0.0, 0.0], abs=1e-9)
        assert out[2] is None

    def test_unknown_reference(self) -> None:
        s = Series()
        s.add(measure(np.eye(3)))
        assert delta_angles(s, np.full((3, 3), np.nan)) == [None]


class TestSummaryOver:
    def test_means_and_counts_skip_nan(self) -> None:
        items = [{"methods": {"mesh": {"l1": 0.1, "psnr": math.nan}, "still": {"l1": 0.3}}},
                 {"methods": {"mesh": {"l1": 0.3, "psnr": 30.0}}}]
        out = summary_over(items, ("l1", "psnr"))
        assert list(out) == ["mesh", "still"]
        assert out["mesh"]["l1"] == pytest.approx(0.2) and out["mesh"]["psnr"] == 30.0
        assert out["mesh"]["n"] == {"l1": 2, "psnr": 1}
        assert math.isnan(out["still"]["psnr"]) and out["still"]["n"] == {"l1": 1, "psnr": 0}
