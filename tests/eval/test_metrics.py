"""Eval metrics against hand-computed answers (and skimage for SSIM)."""

from __future__ import annotations

import builtins
import math

import numpy as np
import pytest

from livehead.eval import metrics as M
from livehead.face.geometry import rotation_from_euler
from livehead.types import NUM_LANDMARKS


def image(h: int = 32, w: int = 48, value: int = 100) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def textured(seed: int = 0, h: int = 64, w: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def face(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(100, 300, (NUM_LANDMARKS, 3)).astype(np.float32)


class TestL1:
    def test_identical_is_zero(self) -> None:
        assert M.l1(textured(), textured()) == 0.0

    def test_known_value(self) -> None:
        # |0 - 51| / 255 = 0.2 everywhere
        assert M.l1(image(value=0), image(value=51)) == pytest.approx(0.2)

    def test_shape_mismatch(self) -> None:
        with pytest.raises(ValueError, match=r"equal shape.*\(32, 48, 3\).*\(32, 40, 3\)"):
            M.l1(image(), image(w=40))


class TestPsnr:
    def test_identical_is_inf(self) -> None:
        assert M.psnr(textured(1), textured(1)) == math.inf

    def test_known_value(self) -> None:
        # MSE = 10² = 100 → 10·log10(255² / 100) = 28.1308 dB
        assert M.psnr(image(value=0), image(value=10)) == pytest.approx(10 * math.log10(255**2 / 100))
        assert M.psnr(image(value=0), image(value=10)) == pytest.approx(28.1308, abs=1e-4)

    def test_symmetric_and_ordered(self) -> None:
        a, b, c = image(value=100), image(value=104), image(value=120)
        assert M.psnr(a, b) == M.psnr(b, a)
        assert M.psnr(a, b) > M.psnr(a, c)

    def test_shape_mismatch(self) -> None:
        with pytest.raises(ValueError, match="equal shape"):
            M.psnr(image(), image(h=30))


class TestSsim:
    def test_identical_is_one(self) -> None:
        assert M.ssim(textured(2), textured(2)) == pytest.approx(1.0, abs=1e-7)

    def test_matches_skimage(self) -> None:
        from skimage.metrics import structural_similarity

        a = textured(3)
        noise = np.random.default_rng(4).integers(-40, 40, a.shape)
        b = np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)
        ref = structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
        assert M.ssim(a, b) == pytest.approx(ref, abs=1e-6)
        assert M.ssim(a, b) < 1.0

    def test_grayscale(self) -> None:
        a = textured(5)[..., 0]
        assert M.ssim(a, a) == pytest.approx(1.0, abs=1e-7)

    def test_too_small(self) -> None:
        with pytest.raises(ValueError, match="larger than 10x10"):
            M.ssim(image(8, 8), image(8, 8))


class TestAkd:
    def test_identical_is_zero(self) -> None:
        assert M.akd(face(), face(), 50.0) == 0.0

    def test_known_shift(self) -> None:
        # Every point moves by (3, 4) pixels: distance 5; face size 50 → 0.1 face sizes.
        target = face()
        pred = target + np.array([3.0, 4.0, 0.0], np.float32)
        assert M.akd(pred, target, 50.0) == pytest.approx(0.1)

    def test_z_is_ignored(self) -> None:
        target = face()
        pred = target + np.array([0.0, 0.0, 25.0], np.float32)
        assert M.akd(pred, target, 50.0) == 0.0

    def test_scale_invariant(self) -> None:
        # The same motion on a face twice as large, measured in its face size, is the same AKD.
        target = face()
        pred = target + np.array([3.0, 4.0, 0.0], np.float32)
        assert M.akd(2 * pred, 2 * target, 100.0) == pytest.approx(M.akd(pred, target, 50.0))

    def test_bad_input(self) -> None:
        with pytest.raises(ValueError, match="equal shape"):
            M.akd(face()[:10], face(), 50.0)
        with pytest.raises(ValueError, match="face_size must be > 0"):
            M.akd(face(), face(), 0.0)


class TestMouthAkd:
    def test_only_lips_count(self) -> None:
        target = face()
        pred = target.copy()
        pred[M.MOUTH, 1] += 10.0  # the lips move down 10 px, nothing else moves
        assert M.mouth_akd(pred, target, 20.0) == pytest.approx(0.5)
        assert M.akd(pred, target, 20.0) == pytest.approx(0.5 * len(M.MOUTH) / NUM_LANDMARKS)

    def test_other_points_do_not_count(self) -> None:
        target = face()
        pred = target.copy()
        others = np.setdiff1d(np.arange(NUM_LANDMARKS), M.MOUTH)
        pred[others, 0] += 30.0
        assert M.mouth_akd(pred, target, 20.0) == 0.0


class TestGeodesic:
    def test_known_angle(self) -> None:
        assert M.geodesic_deg(rotation_from_euler(30, 0, 0), np.eye(3)) == pytest.approx(30.0)
        assert M.geodesic_deg(rotation_from_euler(0, 0, -12), np.eye(3)) == pytest.approx(12.0)

    def test_small_angles_are_precise(self) -> None:
        assert M.geodesic_deg(rotation_from_euler(0.01, 0, 0), np.eye(3)) == pytest.approx(0.01, rel=1e-6)

    def test_symmetric(self) -> None:
        a, b = rotation_from_euler(10, -5, 3), rotation_from_euler(-7, 2, 8)
        assert M.geodesic_deg(a, b) == pytest.approx(M.geodesic_deg(b, a))

    def test_bad_shape(self) -> None:
        with pytest.raises(ValueError, match=r"\(3, 3\)"):
            M.geodesic_deg(np.eye(2), np.eye(2))


class TestPoseError:
    def test_exact_follow_is_zero_whatever_the_start(self) -> None:
        # The avatar starts pitched 5° down and turns 10° like the driver: no error.
        turn = rotation_from_euler(10, 0, 0)
        avatar = rotation_from_euler(0, 5, 0)
        assert M.pose_error_deg(np.eye(3), turn, avatar, turn @ avatar) == pytest.approx(0.0, abs=1e-9)

    def test_known_rotation(self) -> None:
        # Driver turns 10° yaw, output only 4°: 6° error.
        avatar = rotation_from_euler(0, 5, 0)
        err = M.pose_error_deg(np.eye(3), rotation_from_euler(10, 0, 0), avatar, rotation_from_euler(4, 0, 0) @ avatar)
        assert err == pytest.approx(6.0)

    def test_still_output_scores_the_driver_motion(self) -> None:
        driver_ref = rotation_from_euler(2, 1, 0)
        driver_now = driver_ref @ rotation_from_euler(0, 0, 15)
        assert M.pose_error_deg(driver_ref, driver_now, np.eye(3), np.eye(3)) == pytest.approx(15.0)

    def test_axis_matters(self) -> None:
        # Same amount, wrong axis (yaw instead of pitch): the geodesic between them, not zero.
        err = M.pose_error_deg(np.eye(3), rotation_from_euler(0, 10, 0), np.eye(3), rotation_from_euler(10, 0, 0))
        assert 13.0 < err < 15.0  # √(10² + 10²) ≈ 14.1 for small angles


class TestPearson:
    def test_known_series(self) -> None:
        x = np.array([1.0, 2.0, 3.0, 4.0])
        assert M.pearson(x, 2 * x + 7) == pytest.approx(1.0)
        assert M.pearson(x, -x) == pytest.approx(-1.0)
        # Hand-computed: dx = (-1.5, -0.5, 0.5, 1.5), dy = (-1.5, 0.5, -0.5, 1.5);
        # Σdx·dy = 2.25 - 0.25 - 0.25 + 2.25 = 4, Σdx² = Σdy² = 5 → r = 4 / 5 = 0.8
        assert M.pearson(x, np.array([1.0, 3.0, 2.0, 4.0])) == pytest.approx(0.8)

    def test_nan_pairs_are_dropped(self) -> None:
        x = np.array([1.0, 2.0, np.nan, 3.0, 4.0])
        y = np.array([2.0, 4.0, 100.0, 6.0, np.nan])
        assert M.pearson(x, y) == pytest.approx(1.0)

    def test_constant_or_short_is_undefined(self) -> None:
        assert math.isnan(M.pearson(np.ones(10), np.arange(10.0)))
        assert math.isnan(M.pearson(np.array([1.0, 2.0]), np.array([2.0, 1.0])))

    def test_length_mismatch(self) -> None:
        with pytest.raises(ValueError, match="equal length"):
            M.pearson(np.ones(3), np.ones(4))


def track(positions: np.ndarray) -> np.ndarray:
    """(T, 2) offsets → (T, 478, 3) landmarks of a rigid face translated by them."""
    base = face(7)
    out = np.repeat(base[None], len(positions), axis=0).astype(np.float64)
    out[:, :, :2] += positions[:, None, :]
    return out


class TestStillMask:
    def test_still_then_moving(self) -> None:
        # 20 frames still, then 20 frames moving 5 px per frame on a face of size 50 (0.1 per frame).
        x = np.concatenate([np.zeros(20), 5.0 * np.arange(1, 21)])
        mask = M.still_mask(track(np.stack([x, np.zeros(40)], 1)), np.full(40, 50.0))
        assert mask[:17].all() and not mask[23:].any()

    def test_short_pauses_are_not_still(self) -> None:
        x = np.cumsum(np.where((np.arange(30) >= 10) & (np.arange(30) < 13), 0.0, 5.0))
        mask = M.still_mask(track(np.stack([x, np.zeros(30)], 1)), np.full(30, 50.0), min_length=5)
        assert not mask.any()

    def test_lost_faces_are_not_still(self) -> None:
        lms = track(np.zeros((12, 2)))
        lms[6] = np.nan
        sizes = np.full(12, 50.0)
        sizes[6] = np.nan
        mask = M.still_mask(lms, sizes, min_length=1, window=1)
        assert not mask[6] and mask[:6].all()

    def test_bad_shapes(self) -> None:
        with pytest.raises(ValueError, match="still_mask needs"):
            M.still_mask(np.zeros((5, 478)), np.ones(5))


class TestLandmarkJitter:
    def test_known_value(self) -> None:
        # Alternating ±1 px in x on a face of size 50: every step is 2 px = 0.04 face sizes.
        x = np.array([0.0, 2.0] * 5)
        lms = track(np.stack([x, np.zeros(10)], 1))
        assert M.landmark_jitter(lms, np.full(10, 50.0), np.ones(10, bool)) == pytest.approx(0.04)

    def test_only_inside_mask(self) -> None:
        x = np.array([0, 0, 0, 0, 40, 80, 80, 80], float)
        lms = track(np.stack([x, np.zeros(8)], 1))
        mask = np.array([1, 1, 1, 1, 0, 0, 1, 1], bool)
        assert M.landmark_jitter(lms, np.full(8, 50.0), mask) == 0.0

    def test_empty_mask_is_nan(self) -> None:
        assert math.isnan(M.landmark_jitter(track(np.zeros((5, 2))), np.full(5, 50.0), np.zeros(5, bool)))


class TestFrameChange:
    def test_known_value(self) -> None:
        assert M.frame_change(image(value=100), image(value=90)) == pytest.approx(10.0)

    def test_box(self) -> None:
        a = image(value=0)
        b = a.copy()
        b[:10, :10] = 200  # change only the top-left corner
        assert M.frame_change(a, b, box=(20, 20, 40, 30)) == 0.0
        assert M.frame_change(a, b, box=(0, 0, 10, 10)) == pytest.approx(200.0)

    def test_empty_box(self) -> None:
        with pytest.raises(ValueError, match="empty"):
            M.frame_change(image(), image(), box=(5, 5, 5, 9))


class TestMaskedMean:
    def test_known(self) -> None:
        v = np.array([1.0, np.nan, 3.0, 100.0])
        assert M.masked_mean(v, np.array([1, 1, 1, 0], bool)) == pytest.approx(2.0)
        assert math.isnan(M.masked_mean(v, np.zeros(4, bool)))


class TestIdentityDistance:
    def test_known(self) -> None:
        a = np.zeros(128)
        b = np.zeros(128)
        b[:2] = (0.3, 0.4)
        assert M.identity_distance(a, b) == pytest.approx(0.5)
        assert M.identity_distance(b, b) == 0.0

    def test_length_mismatch(self) -> None:
        with pytest.raises(ValueError, match="equal length"):
            M.identity_distance(np.zeros(128), np.zeros(64))


class TestLoadEmbedder:
    def test_missing_extra_is_reported_not_raised(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from livehead.eval.identity import load_embedder

        real_import = builtins.__import__

        def no_dlib(name, *args, **kwargs):
            if name == "dlib" or name.startswith("face_recognition_models"):
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_dlib)
        embedder, reason = load_embedder()
        assert embedder is None
        assert "livehead[eval]" in reason and "dlib" in reason
