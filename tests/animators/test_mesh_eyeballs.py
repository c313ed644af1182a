"""Mesh engine, the photo's own irises (``eyeballs``): fitted to the photo, not the tracker's circle,
so a moving iris keeps its size and takes all of itself along."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from animators.mesh_helpers import photo, pose_target, render
from livehead.animators.mesh import eye_frame as ef
from livehead.animators.mesh import eyeballs
from livehead.animators.mesh.animator import MeshAnimator
from livehead.face import landmarks as lm

SKIN, WHITE, IRIS, RIM, PUPIL = (200, 150, 130), (235, 232, 228), (120, 165, 215), (40, 70, 110), (15, 15, 20)


def _drawn_eye(iris_radius: float, iris_x: float, iris=IRIS):
    """A drawn eye 120 px long (corners at x 20 and 140, y 80): an almond of white between two lid
    arcs, an iris of ``iris_radius`` px at ``iris_x`` with a dark rim and a pupil. Returns the image
    and the eye frame, lids as (s, t) curves, for ``fit_iris``."""
    image = np.full((160, 160, 3), SKIN, np.uint8)
    s = np.linspace(0.0, 120.0, 25)
    upper, lower = -30.0 * np.sin(np.pi * s / 120.0), 22.0 * np.sin(np.pi * s / 120.0)
    outline = np.concatenate([np.stack([20 + s, 80 + upper], 1), np.stack([20 + s, 80 + lower], 1)[::-1]])
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(outline).astype(np.int32)], 1)
    eyeball = np.full_like(image, WHITE)
    cv2.circle(eyeball, (int(iris_x), 80), int(iris_radius), RIM, -1, cv2.LINE_AA)
    cv2.circle(eyeball, (int(iris_x), 80), int(iris_radius) - 3, iris, -1, cv2.LINE_AA)
    cv2.circle(eyeball, (int(iris_x), 80), int(iris_radius * 0.4), PUPIL, -1, cv2.LINE_AA)
    image[inside > 0] = eyeball[inside > 0]
    frame = (np.array([20.0, 80.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), 120.0)
    return image, frame, (s, upper), (s, lower)


class TestFit:
    def test_a_drawn_iris_larger_and_off_the_trackers_circle_is_found(self):
        """The tracker's circle sits 4 px right of the drawn iris and is three quarters its size (as
        on drawn faces): the fit finds the drawn one (centre within 1 px, radius within 8 %)."""
        image, (c0, ax, nm, length), upper, lower = _drawn_eye(24.0, 76.0)
        tracker_radius = 18.0
        shift, scale = eyeballs.fit_iris(image, c0, ax, nm, length, upper, lower, np.array([80.0, 80.0]), tracker_radius)
        assert abs(80.0 + shift * tracker_radius - 76.0) < 1.0, shift
        assert abs(scale * tracker_radius / 24.0 - 1.0) < 0.08, scale

    def test_an_iris_as_pale_as_the_white_keeps_the_trackers_circle(self):
        """Nothing to fit against (an iris the colour of the white): the tracker's circle is kept."""
        image, (c0, ax, nm, length), upper, lower = _drawn_eye(24.0, 76.0, iris=WHITE)
        cv2.circle(image, (76, 80), 21, WHITE, -1)  # no rim, no pupil either
        assert eyeballs.fit_iris(image, c0, ax, nm, length, upper, lower, np.array([80.0, 80.0]), 18.0) == (0.0, 1.0)

    @pytest.mark.parametrize("name", ["aniportrait_Aragaki.png", "liveportrait_s1.jpg", "sadtalker_happy.png",
                                      "liveportrait_s12.jpg"])
    def test_on_photos_of_people_the_iris_is_near_the_trackers(self, name):
        """On photos of people the tracker's iris is close to the photo's: the fit moves it by under a
        quarter of its radius and resizes it by under 15 %."""
        avatar = photo(name)
        for shift, scale in eyeballs.measure(avatar.image, avatar.face.landmarks).irises:
            assert abs(shift) < 0.25 and abs(scale - 1.0) < 0.15, (shift, scale)

    def test_the_iris_taken_out_leaves_the_white(self):
        """``bare`` has the drawn iris replaced by white (every pixel inside the eye within 20 levels
        of the white), and its alpha covers the iris."""
        image, (c0, ax, nm, length), upper, lower = _drawn_eye(24.0, 76.0)
        bare = np.dstack([image, np.zeros(image.shape[:2], np.uint8)])
        eyeballs._take_out(bare, image, c0, ax, nm, length, upper, lower, np.array([76.0, 80.0]), 24.0)
        ys, xs = np.mgrid[0:160, 0:160]
        iris = np.hypot(xs - 76, ys - 80) < 24
        opening = (ys > 80 - 30 * np.sin(np.pi * (xs - 20) / 120) + 2) & (ys < 80 + 22 * np.sin(np.pi * (xs - 20) / 120) - 2)
        assert (bare[..., 3][iris] == 255).all()
        assert np.abs(bare[..., :3][iris & opening].astype(int) - WHITE).max() <= 20


class TestMovedIris:
    @pytest.mark.parametrize("along", [-0.4, 0.4])
    def test_a_moved_iris_keeps_its_size(self, along):
        """The drawn face (irises a third larger than the tracker's circle) looks sideways by 0.4
        iris radii: the blue in its eyes stays within 8 % of the still eye's. (Moved as the
        tracker's circle, the iris shrank by 11–20 % and left a crescent of itself behind.)"""
        avatar = photo("liveportrait_s7.jpg")
        engine = MeshAnimator()
        state = engine.prepare(avatar)

        def blue(along: float) -> list[int]:
            target = pose_target(avatar).copy()
            for _, _, iris in ef.EYES:
                target[iris, 0] += along * ef.iris_radius(target[iris, :2])
            out = render(engine, state, target).astype(np.int64)
            counts = []
            for eye in (lm.RIGHT_EYE, lm.LEFT_EYE):
                (x0, y0), (x1, y1) = avatar.face.landmarks[list(eye), :2].min(0).astype(int), \
                    avatar.face.landmarks[list(eye), :2].max(0).astype(int)
                box = out[y0:y1, x0:x1]
                counts.append(int((box[..., 2] > box[..., 0] + 10).sum()))
            return counts

        still, moved = blue(0.0), blue(along)
        for a, b in zip(still, moved):
            assert abs(b / a - 1.0) < 0.08, (still, moved)
