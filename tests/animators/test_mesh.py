import numpy as np
import pytest

from livehead.face import landmarks as lm
from livehead.animators.base import AvatarImage, Driving
from livehead.animators.mesh.animator import MeshAnimator
from livehead.stages.tracking import canonical_face, observation_from_landmarks
from livehead.animators.mesh.warp import border_anchors, fit_tps, tps_eval, tps_field, remap


def synthetic_avatar(size=(400, 360)):
    w, h = size
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 90)], -1).astype(np.uint8)
    image = np.clip(image + rng.integers(0, 20, image.shape), 0, 255).astype(np.uint8)
    local = canonical_face().copy()
    # Close the mouth (the canonical face smiles with parted lips): lower inner lip onto the upper.
    local[list(lm.LIPS_LOWER_INNER), 1] = local[list(lm.LIPS_UPPER_INNER), 1]
    pts = 60.0 * local + np.array([w / 2, h / 2, 0.0])
    face = observation_from_landmarks(pts, timestamp=0.0, frame_size=(w, h))
    return AvatarImage(name="synthetic", image=image, face=face, content_hash="0")


def drive(avatar, target):
    return Driving(observation=avatar.face, reference=avatar.face, reference_id=1, target_landmarks=target)


class TestTps:
    def test_interpolates_control_points(self):
        rng = np.random.default_rng(0)
        dst = rng.uniform(0, 300, (30, 2))
        src = dst + rng.normal(0, 3, dst.shape)
        tps = fit_tps(dst, src, norm=300.0, regularisation=0.0)
        np.testing.assert_allclose(tps_eval(tps, dst), src, atol=1e-6)

    def test_identity_gives_no_field(self):
        pts = np.concatenate([np.random.default_rng(1).uniform(50, 250, (20, 2)), border_anchors(300, 300)])
        assert tps_field(fit_tps(pts, pts, norm=300.0), (300, 300), 16) is None

    def test_field_matches_dense_evaluation(self):
        """The coarse grid + bilinear upsampling stays within a fraction of a pixel of the exact TPS."""
        anchors = border_anchors(256, 256)
        dst = np.concatenate([[[128.0, 128.0], [100.0, 150.0]], anchors])
        src = np.concatenate([[[134.0, 124.0], [100.0, 150.0]], anchors])
        tps = fit_tps(dst, src, norm=256.0)
        field = tps_field(tps, (256, 256), 8)
        x0, y0, _, _ = field.roi
        import cv2

        mx, my = cv2.convertMaps(field.map1, field.map2, cv2.CV_32FC1)
        exact = tps_eval(tps, np.array([[128.0, 128.0]]))[0]
        assert abs(mx[128 - y0, 128 - x0] - exact[0]) < 0.3
        assert abs(my[128 - y0, 128 - x0] - exact[1]) < 0.3


class TestMeshAnimator:
    def test_zero_motion_returns_avatar_unchanged(self):
        avatar = synthetic_avatar()
        engine = MeshAnimator()
        out = engine.render(engine.prepare(avatar), drive(avatar, avatar.face.landmarks.copy()))
        assert out.shape == avatar.image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(float) - avatar.image).mean() < 1 / 255

    def test_landmark_displacement_moves_image_content_there(self):
        """Paint a dot on the nose tip, move the nose 8 px right and 5 px down: the dot follows."""
        avatar = synthetic_avatar()
        image = avatar.image.copy()
        nose = avatar.face.landmarks[1, :2]
        x, y = int(round(nose[0])), int(round(nose[1]))
        image[y - 2 : y + 3, x - 2 : x + 3] = (255, 255, 255)
        avatar = AvatarImage(name="dot", image=image, face=avatar.face, content_hash="1")
        target = avatar.face.landmarks.copy()
        target[list(lm.NOSE), 0] += 8.0
        target[list(lm.NOSE), 1] += 5.0
        engine = MeshAnimator(grid_step=4)
        out = engine.render(engine.prepare(avatar), drive(avatar, target))
        white = np.all(out > 245, axis=-1)
        ys, xs = np.nonzero(white)
        assert xs.size > 5
        assert xs.mean() == pytest.approx(nose[0] + 8.0, abs=1.0)
        assert ys.mean() == pytest.approx(nose[1] + 5.0, abs=1.0)

    def test_border_stays_pinned(self):
        avatar = synthetic_avatar()
        target = avatar.face.landmarks.copy()
        target[:, :2] += (6.0, -4.0)
        engine = MeshAnimator()
        out = engine.render(engine.prepare(avatar), drive(avatar, target))
        np.testing.assert_array_equal(out[0], avatar.image[0])
        np.testing.assert_array_equal(out[:, -1], avatar.image[:, -1])

    def test_new_mouth_opening_gets_an_interior(self):
        """Opening the mouth paints teeth/cavity inside the lips instead of stretched lip colour."""
        avatar = synthetic_avatar()
        target = avatar.face.landmarks.copy()
        lower = list(set(lm.LIPS_LOWER_INNER[1:-1] + lm.LIPS_LOWER_OUTER[1:-1]))
        target[lower, 1] += 12.0
        engine = MeshAnimator(mouth_fill="synth")
        out = engine.render(engine.prepare(avatar), drive(avatar, target))
        plain = MeshAnimator(mouth_fill="none")
        stretched = plain.render(plain.prepare(avatar), drive(avatar, target))
        cx, cy = target[[13, 14], :2].mean(0).round().astype(int)
        assert np.abs(out[cy - 1 : cy + 2, cx - 1 : cx + 2].astype(int) - stretched[cy - 1 : cy + 2, cx - 1 : cx + 2]).mean() > 20

    def test_rejects_bad_settings(self):
        with pytest.raises(ValueError, match="grid_step"):
            MeshAnimator(grid_step=1)
        with pytest.raises(ValueError, match="mouth_fill"):
            MeshAnimator(mouth_fill="black")

    def test_remap_copies_outside_roi(self):
        img = np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3)
        np.testing.assert_array_equal(remap(img, None), img)
