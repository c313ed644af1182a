"""The GPU path's One Euro filter (state in tensors, decisions as tensors) equals the NumPy one."""

from __future__ import annotations

import numpy as np
import pytest
from _media import needs_extra

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.animators.neural.tensor_filters import FilterClock, HostClock, TensorOneEuro
from livehead.config import SmoothingConfig
from livehead.stages.smoothing import one_euro_step

KP = SmoothingConfig(min_cutoff=1.5, beta=2.0, d_cutoff=1.0)


def both(values, times, params, scales=None):
    """Filter the series with the NumPy filter and the tensor filter; returns both outputs."""
    state, clock, f = None, HostClock(), None
    expected, got = [], []
    for i, (v, t) in enumerate(zip(values, times)):
        scale = 1.0 if scales is None else scales[i]
        y, state = one_euro_step(state, v, t, params, scale=scale)
        x = torch.tensor(v, dtype=torch.float32)
        f = f or TensorOneEuro(x)
        z = f.step(x, FilterClock.from_scalars(torch.tensor(clock.tick(t), dtype=torch.float32)), params,
                   scale=torch.tensor(scale, dtype=torch.float32))
        expected.append(y)
        got.append(z.numpy())
    return np.array(expected), np.array(got)


class TestTensorOneEuro:
    def test_equals_numpy_on_a_real_landmark_track(self, moving_frames):
        """Keypoint-like values: the tracked face's box corners over 40 frames of the clip with head motion."""
        from livehead.stages.tracking import FaceTracker

        with FaceTracker() as tracker:
            boxes = [np.asarray(tracker.track(f, i / 25.0).box, dtype=np.float64) for i, f in enumerate(moving_frames[:40])]
        times = np.arange(40) / 25.0
        expected, got = both(boxes, times, SmoothingConfig(min_cutoff=0.5, beta=0.5, d_cutoff=1.0),
                             scales=[b[2] - b[0] for b in boxes])
        np.testing.assert_allclose(got, expected, atol=1e-3)  # pixels; float32 against float64
        assert np.abs(np.diff(got, axis=0)).mean() < np.abs(np.diff(np.array(boxes), axis=0)).mean()  # it smooths

    def test_first_sample_repeats_and_resets_follow_the_numpy_rules(self):
        rng = np.random.default_rng(1)
        values = list(rng.normal(size=(12, 10, 2)) * 0.3)
        times = [0.0, 0.04, 0.08, 0.08, 0.07, 0.12, 0.2, 0.33, 0.33, 0.4, 0.5, 0.52]  # repeats and one going back
        expected, got = both(values, times, KP)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_array_equal(got[0], np.float32(values[0]))  # the first sample passes unchanged
        np.testing.assert_array_equal(got[3], got[2])  # a repeated timestamp keeps the previous output

    def test_reset_starts_afresh(self):
        f = TensorOneEuro(torch.zeros(3))
        clock = HostClock()
        for t, v in [(0.0, 1.0), (0.04, 2.0)]:
            f.step(torch.full((3,), v), FilterClock.from_scalars(torch.tensor(clock.tick(t))), KP)
        clock.reset()
        out = f.step(torch.full((3,), 7.0), FilterClock.from_scalars(torch.tensor(clock.tick(0.08))), KP)
        torch.testing.assert_close(out, torch.full((3,), 7.0))
        torch.testing.assert_close(f.derivative, torch.zeros(3))

    @pytest.mark.parametrize("shape", [(1, 10, 2), (1, 10, 2, 2), (1, 3), (3,)])
    def test_keeps_shape_and_state_in_place(self, shape):
        x = torch.rand(shape)
        f = TensorOneEuro(x)
        value, derivative = f.value, f.derivative
        out = f.step(x, FilterClock.from_scalars(torch.tensor([0.04, 1.0, 0.0])), KP)
        assert out.shape == x.shape and out.dtype == torch.float32
        assert f.value is value and f.derivative is derivative  # a captured graph keeps reading these
        assert f.buffers() == [value, derivative]
