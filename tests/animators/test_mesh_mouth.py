"""Mesh engine, mouth: it opens and closes with the driver, shows the driver's interior inside the
avatar's lips only, and closes a photo's own open mouth."""

from __future__ import annotations

import numpy as np
import pytest

from animators.mesh_helpers import demo_avatar, first_frame, local, measure, photo, pose_target, render
from livehead.animators.mesh import mouth
from livehead.animators.mesh.animator import MeshAnimator
from livehead.animators.mesh.lips import interior_source
from livehead.animators.mesh.warp import pixel_roi
from livehead.face import landmarks as lm
from livehead.face.expression import mouth_openness


@pytest.fixture(scope="module")
def astronaut():
    avatar = demo_avatar()
    engine = MeshAnimator(mouth_fill="synth")
    return avatar, engine, engine.prepare(avatar)


class TestOpening:
    def test_closed_mouth_leaves_no_trace(self, astronaut):
        """No opening: the rendered mouth is the photo's own, pixel for pixel (no box, no outline)."""
        avatar, engine, state = astronaut
        out = render(engine, state, pose_target(avatar, mouth=0.0))
        x0, y0, x1, y1 = pixel_roi(state.neutral[list(lm.LIPS), :2], out.shape[1::-1], margin=20)
        assert np.abs(out[y0:y1, x0:x1].astype(int) - state.base[y0:y1, x0:x1]).max() <= 1

    def test_interior_stays_inside_the_lips(self, astronaut):
        """The interior is drawn inside the avatar's inner-lip contour only: every pixel it changes
        lies within a couple of pixels of the opening, so no straight box edge can show."""
        avatar, engine, state = astronaut
        target = pose_target(avatar, mouth=0.25)
        filled = render(engine, state, target)
        plain = MeshAnimator(mouth_fill="none")
        bare = render(plain, plain.prepare(avatar), target)
        changed = np.abs(filled.astype(int) - bare).max(-1) > 8
        assert changed.sum() > 50  # something was drawn
        opening = mouth.mouth_mask(target, filled.shape[:2]) > 0
        import cv2

        width = float(np.linalg.norm(target[lm.INNER_MOUTH_CORNERS[0], :2] - target[lm.INNER_MOUTH_CORNERS[1], :2]))
        reach = int(np.ceil(0.03 * width)) + 2
        near = cv2.dilate(opening.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
        assert not (changed & ~near).any()

    def test_opening_is_seen_by_a_tracker(self, astronaut):
        """A wide opening renders as an open mouth to an independent detection, a zero one as shut."""
        avatar, engine, state = astronaut
        shut = mouth_openness(local(measure(render(engine, state, pose_target(avatar, mouth=0.0)))))
        wide = mouth_openness(local(measure(render(engine, state, pose_target(avatar, mouth=0.3)))))
        assert shut < 0.03
        assert wide > shut + 0.12


    def test_drawn_teeth_turn_away_into_the_corners(self, astronaut):
        """Without the driver's frame the interior is drawn: the upper teeth are an arc that turns
        away into the dark towards the mouth's corners, not a white band from corner to corner
        (drawn as flat bands, the teeth reached both inner corners: a pasted box)."""
        avatar, engine, state = astronaut
        target = pose_target(avatar, mouth=0.3)
        out = render(engine, state, target)
        inside = mouth.mouth_mask(target, out.shape[:2]) > 200
        teeth = inside & ((out.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) > 150)
        assert teeth.sum() > 50
        c0, c1 = target[list(lm.INNER_MOUTH_CORNERS), :2]
        xs = np.nonzero(teeth)[1]
        assert np.ptp(xs) < 0.85 * abs(c1[0] - c0[0]), (np.ptp(xs), abs(c1[0] - c0[0]))


class TestPhotoThatShowsTeeth:
    def test_grinning_photo_closes_when_the_driver_does(self):
        """Aragaki's photo shows her teeth; with the driver's mouth shut the avatar's lips meet and
        the teeth are gone (the inner-mouth pixels turn to lip colour)."""
        avatar = photo("aniportrait_Aragaki.png")
        assert mouth_openness(local(avatar.face)) > 0.05  # the photo itself is open
        engine = MeshAnimator()
        out = render(engine, engine.prepare(avatar), pose_target(avatar, mouth=0.0))
        seen = measure(out)
        assert mouth_openness(local(seen)) < 0.03
        teeth = mouth.mouth_mask(avatar.face.landmarks, out.shape[:2]) > 128
        luma = np.array([0.299, 0.587, 0.114])
        before = float((avatar.image[teeth] @ luma).mean())
        after = float((out[teeth] @ luma).mean())
        lips = float((avatar.image[mouth.lip_ring(avatar.face.landmarks, out.shape[:2])] @ luma).mean())
        assert abs(after - lips) < abs(before - lips) * 0.5  # from teeth towards lip colour


class TestDrivenByARealClip:
    def test_mouth_opens_and_closes_with_the_driver(self):
        """A talking clip drives a closed-mouth photo: the avatar's mouth opening, measured on the
        output, follows the driver's (r ≥ 0.85) and shuts when the driver's does."""
        from _media import media
        from helpers import read_clip
        from livehead.config import LiveHeadConfig, with_overrides
        from livehead.pipeline.processor import FrameProcessor
        from livehead.stages.tracking import FaceTracker

        avatar = photo("sadtalker_sad.png")
        engine = MeshAnimator()
        config = with_overrides(LiveHeadConfig(), {})
        processor = FrameProcessor(config, engine, engine.prepare(avatar))
        frames = read_clip(media("liveportrait_d10.mp4"), limit=180)  # talks, and shuts the mouth between words
        driver, output = [], []
        with FaceTracker(static_image_mode=False, max_faces=1) as tracker, \
                FaceTracker(static_image_mode=True, max_faces=1) as meter:
            for i, frame in enumerate(frames):
                obs = tracker.track(frame, i / 30.0)
                result = processor.process(frame, obs, now=i / 30.0)
                if i % 3:
                    continue
                d, o = meter.track(frame), meter.track(result.avatar_frame)
                if d is not None and o is not None:
                    driver.append(mouth_openness(local(d)))
                    output.append(mouth_openness(local(o)))
        driver, output = np.array(driver), np.array(output)
        assert len(driver) > 40 and np.ptp(driver) > 0.15
        assert np.corrcoef(driver, output)[0, 1] >= 0.85
        closed = driver < 0.02
        assert closed.sum() >= 3
        assert np.median(output[closed]) < 0.03


class TestInteriorColour:
    def test_driver_lip_tissue_takes_the_avatar_lip_tint(self, astronaut):
        """The driver's lips that show at the edge of the opening get the avatar's lip tint (a
        purple lipstick here, a grey photo elsewhere) and, at the opening's rim, its lips'
        brightness: light pink driver lips carried into darker lips drew a pale ring around the
        opening. Teeth keep their colour; deeper in, brightness stays."""
        avatar, _, _ = astronaut
        target = pose_target(avatar, mouth=0.25)
        ycc = lambda rgb: np.asarray(rgb, dtype=np.float64) @ mouth._YCC.T
        pink, white, purple, skin = (200, 110, 120), (235, 235, 230), (150, 60, 110), (220, 170, 150)
        frame = np.empty_like(avatar.image)
        frame[:] = pink
        half = int(target[lm.LIPS, 0].mean())
        frame[:, :half] = white
        roi = pixel_roi(mouth.inner_mouth_polygon(target), frame.shape[1::-1], margin=4)
        tone = mouth.Tone(ycc(skin))

        def interior(lips):
            patch = mouth.driver_mouth(frame, target, target, roi, tone, tone, lips=lips).reshape(-1, 3)
            return patch.astype(np.float64) @ mouth._YCC.T

        plain, tinted = interior((None, None)), interior((mouth.Tone(ycc(pink)), mouth.Tone(ycc(purple))))
        was_pink = np.linalg.norm(plain[:, 1:] - ycc(pink)[1:], axis=1) < 2
        was_white = np.linalg.norm(plain[:, 1:] - ycc(white)[1:], axis=1) < 2
        assert was_pink.sum() > 20 and was_white.sum() > 20
        np.testing.assert_allclose(tinted[was_pink, 1:], np.broadcast_to(ycc(purple)[1:], (was_pink.sum(), 2)), atol=2.5)
        np.testing.assert_allclose(tinted[was_white, 1:], plain[was_white, 1:], atol=2.5)
        np.testing.assert_allclose(tinted[was_white, 0], plain[was_white, 0], atol=1.5)
        depth = interior_source(target, target, roi)[2].reshape(-1)
        half = mouth.RIM_REACH / 2
        rim, deep = (depth < -half) | (depth > 1 + half), (depth > half) & (depth < 1 - half)
        assert (was_pink & rim).sum() > 20 and (was_pink & deep).sum() > 20
        # Same skin in both faces: lit like the avatar's lips at the rim, like the driver's deeper in.
        np.testing.assert_allclose(tinted[was_pink & rim, 0], ycc(purple)[0], atol=2.0)
        np.testing.assert_allclose(tinted[was_pink & deep, 0], plain[was_pink & deep, 0], atol=1.5)

    def test_a_nearly_shut_driver_mouth_is_not_drawn_out_into_streaks(self, astronaut):
        """The driver's lips meet (a pursed mouth) where the avatar's part: the opening shows the
        driver's lips around their meeting line at their own scale, not the line's one row of
        pixels stretched down every column (vertical streaks)."""
        avatar, _, _ = astronaut
        target = pose_target(avatar, mouth=0.25)
        shut = pose_target(avatar, mouth=0.0)  # the driver, lips together
        line = int(round(float(shut[list(lm.LIPS_UPPER_INNER[1:-1]), 1].mean())))
        upper, dark, lower = (200, 110, 120), (40, 20, 25), (225, 150, 155)
        frame = np.empty_like(avatar.image)
        frame[:line - 1] = upper
        frame[line - 1:line + 2] = dark
        frame[line + 2:] = lower
        roi = pixel_roi(mouth.inner_mouth_polygon(target), frame.shape[1::-1], margin=0)
        x0, y0, x1, y1 = roi
        opening = mouth.mouth_mask(target[:, :2] - np.array([x0, y0]), (y1 - y0, x1 - x0)) == 255
        tone = mouth.Tone(np.array([220.0, 170.0, 150.0]) @ mouth._YCC.T)  # the same face: colours kept
        luma = mouth.driver_mouth(frame, shut, target, roi, tone, tone).astype(np.float64) @ mouth._YCC[0]
        tall = opening.sum(0) >= 4
        spread = np.array([np.ptp(luma[opening[:, c], c]) for c in np.nonzero(tall)[0]])
        assert tall.sum() > 20
        # Each column crosses the driver's upper lip, meeting line and lower lip (luma 138, 27, 173),
        # not one of them drawn out.
        assert np.mean(spread > 60) > 0.8, np.round(spread)

    def test_lip_tone_is_the_lips_colour(self, astronaut):
        _, _, state = astronaut
        image = state.base.copy()
        ring = mouth.lip_ring(state.neutral, image.shape[:2])
        image[ring] = (150, 60, 110)
        tone = mouth.lip_tone(image, state.neutral)
        np.testing.assert_allclose(tone.ycc, np.array([150.0, 60.0, 110.0]) @ mouth._YCC.T, atol=1.0)


class TestTongueOut:
    def test_a_lower_lip_pushed_onto_the_chin_does_not_fold_the_chin(self, astronaut, monkeypatch):
        """A tongue rolls the driver's lower lip down to within a third of its usual distance above
        the chin (MediaPipe then puts the skin landmarks between them past the chin): the avatar's
        chin stays one round piece. Down every column of the chin, the photo is read top to bottom
        in order; a fold (the photo read backwards) shows as a crease and a pointed chin."""
        from livehead.animators.mesh import animator as mesh_animator
        from livehead.animators.mesh.warp import tps_eval

        avatar, engine, state = astronaut
        target = pose_target(avatar, mouth=0.3).copy()
        lip, chin = target[17, :2].copy(), target[152, :2].copy()
        lower = list(set(lm.LIPS_LOWER_OUTER[1:-1] + lm.LIPS_LOWER_INNER[1:-1]))
        target[lower, 1] += 0.7 * (chin[1] - lip[1])
        fits = []
        fit = mesh_animator.fit_tps
        monkeypatch.setattr(mesh_animator, "fit_tps", lambda *a, **k: fits.append(fit(*a, **k)) or fits[-1])
        render(engine, state, target)
        half = 0.3 * float(np.linalg.norm(target[291, :2] - target[61, :2]))
        ys = np.arange(target[17, 1], chin[1] + 0.25 * (chin[1] - lip[1]), 0.5)  # from the pushed lip down
        for x in np.linspace(chin[0] - half, chin[0] + half, 7):
            source_y = tps_eval(fits[-1], np.stack([np.full_like(ys, x), ys], 1))[:, 1]
            assert np.diff(source_y).min() > 0, f"the chin folds at x = {x:.0f}"


class TestSmile:
    def test_an_upper_lip_lifted_towards_the_nose_keeps_its_thickness(self, astronaut, monkeypatch):
        """A broad smile lifts the driver's upper lip to 55 % of its height below the nose (MediaPipe
        on d9): the avatar's upper lip goes up whole. Held lower, its top edge was pushed onto its
        bottom one, and the lip vanished into a wavy line."""
        from livehead.animators.mesh import animator as mesh_animator

        avatar, engine, state = astronaut
        target = pose_target(avatar, mouth=0.0).copy()
        lift = 0.45 * (target[0, 1] - target[164, 1])
        target[list(lm.LIPS), 1] -= lift
        fits = []
        fit = mesh_animator.fit_tps
        monkeypatch.setattr(mesh_animator, "fit_tps", lambda dst, *a, **k: fits.append(dst) or fit(dst, *a, **k))
        render(engine, state, target)
        row = {int(i): k for k, i in enumerate(state.control)}
        outer, inner = lm.LIPS_UPPER_OUTER[2:-2], lm.LIPS_UPPER_INNER[2:-2]
        warped = np.array([fits[-1][row[i], 1] for i in inner]) - np.array([fits[-1][row[o], 1] for o in outer])
        wanted = target[list(inner), 1] - target[list(outer), 1]
        np.testing.assert_allclose(warped, wanted, rtol=0.03)


class TestShutLips:
    def test_lips_a_pixel_or_two_apart_render_shut(self):
        """A tracker puts a driver's shut lips a pixel or two apart (MediaPipe on d9's pout): the
        avatar's mouth stays shut to an independent detection, as the photo's is; the photo's
        dark line between the lips is not stretched over the gap into a band that reads as ajar."""
        avatar = first_frame("liveportrait_d9.mp4")
        engine = MeshAnimator()
        state = engine.prepare(avatar)
        shut = mouth_openness(local(measure(state.base)))
        target = pose_target(avatar, mouth=0.0).copy()
        low = list(lm.LIPS_LOWER_INNER[1:-1])
        target[low, 1] += 1.8 * np.sin(np.linspace(0.2, np.pi - 0.2, len(low)))
        seen = mouth_openness(local(measure(render(engine, state, target))))
        assert seen < shut + 0.01, (seen, shut)
