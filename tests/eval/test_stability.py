"""eval.stability: the smoothing-off variants and the stability section with the real video first."""

from __future__ import annotations

import math

import pytest

from livehead.eval.methods import NO_SMOOTHING, STILL, Method, StillAnimator
from livehead.eval.stability import DRIVER, STABILITY_KEYS, no_smoothing_variants, not_measured, stability_section


class TestNoSmoothingVariants:
    def test_every_engine_but_the_baseline(self) -> None:
        methods = [Method(STILL, STILL, StillAnimator(), True), Method("mesh", "mesh", object(), True)]
        variants = no_smoothing_variants(methods)
        assert [(v.name, v.engine, v.smoothing) for v in variants] == [("mesh" + NO_SMOOTHING, "mesh", False)]
        assert variants[0].animator is methods[1].animator  # same engine, only smoothing differs
        assert methods[1].smoothing and methods[1].name == "mesh"  # the originals are untouched


class TestStabilitySection:
    def test_clips_and_summary_with_the_driver_row_first(self) -> None:
        def item(clip: str, driver: float, mesh: float) -> dict:
            return {"clip": clip, "still_frames": 7,
                    "driver": {"stability": {"jitter_still": driver, "pixel_change_still": 1.0}},
                    "methods": {"mesh": {"jitter_still": mesh, "pixel_change_still": 2.0, "l1": 0.1}}}

        section = stability_section([item("a", 0.001, 0.004), item("b", 0.003, math.nan)])
        assert section["clips"]["a"] == {"still_frames": 7,
                                         "driver": {"jitter_still": 0.001, "pixel_change_still": 1.0},
                                         "methods": {"mesh": {"jitter_still": 0.004, "pixel_change_still": 2.0}}}
        assert list(section["summary"]) == [DRIVER, "mesh"]
        assert section["summary"][DRIVER]["jitter_still"] == pytest.approx(0.002)
        assert section["summary"]["mesh"]["jitter_still"] == pytest.approx(0.004)
        assert section["summary"]["mesh"]["n"] == {"jitter_still": 1, "pixel_change_still": 2}

    def test_a_skipped_clip_is_not_measured(self) -> None:
        assert set(not_measured()) == set(STABILITY_KEYS)
        assert all(math.isnan(v) for v in not_measured().values())
