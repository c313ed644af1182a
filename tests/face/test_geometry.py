import numpy as np
import pytest

from livehead.face.geometry import euler_from_rotation, rotation_from_euler, umeyama


class TestRotationFromEuler:
    def test_identity(self):
        np.testing.assert_allclose(rotation_from_euler(0, 0, 0), np.eye(3), atol=1e-12)

    def test_is_rotation(self):
        r = rotation_from_euler(23, -11, 7)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)

    @pytest.mark.parametrize("ypr", [(10, 0, 0), (0, 15, 0), (0, 0, -20), (25, -12, 8), (-40, 30, 60)])
    def test_round_trip(self, ypr):
        np.testing.assert_allclose(euler_from_rotation(rotation_from_euler(*ypr)), ypr, atol=1e-9)

    def test_convention_signs(self):
        """Nose points to -z (towards the camera); +yaw turns it to image +x, +pitch to +y, +roll is clockwise."""
        nose = np.array([0.0, 0.0, -1.0])
        assert (rotation_from_euler(20, 0, 0) @ nose)[0] > 0.3
        assert (rotation_from_euler(0, 20, 0) @ nose)[1] > 0.3
        right = np.array([1.0, 0.0, 0.0])
        assert (rotation_from_euler(0, 0, 20) @ right)[1] > 0.3  # x axis turns towards +y (down) = clockwise on screen


class TestUmeyama:
    def test_recovers_known_similarity(self):
        rng = np.random.default_rng(0)
        src = rng.normal(size=(50, 3))
        rot = rotation_from_euler(17, -8, 30)
        dst = 2.5 * src @ rot.T + np.array([10.0, -4.0, 3.0])
        s, r, t = umeyama(src, dst)
        assert s == pytest.approx(2.5)
        np.testing.assert_allclose(r, rot, atol=1e-10)
        np.testing.assert_allclose(t, [10.0, -4.0, 3.0], atol=1e-9)

    def test_reflection_is_not_returned(self):
        rng = np.random.default_rng(1)
        src = rng.normal(size=(20, 3))
        dst = src * np.array([-1.0, 1.0, 1.0])
        _, r, _ = umeyama(src, dst)
        assert np.linalg.det(r) == pytest.approx(1.0)

    def test_shape_error_names_shapes(self):
        with pytest.raises(ValueError, match=r"\(3, 2\)"):
            umeyama(np.zeros((3, 2)), np.zeros((4, 2)))
