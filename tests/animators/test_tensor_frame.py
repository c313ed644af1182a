"""The GPU path's image work on CPU tensors equals the OpenCV functions of the CPU path on real photos.

Tolerances are the issue's: mean |difference| ≤ 1/255, max ≤ 3/255 away from the image borders
(OpenCV samples bilinearly on a 1/32-pixel grid with fixed-point weights; torch in float).
"""

from __future__ import annotations

import numpy as np
import pytest
from _media import media, needs_extra

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.animators.neural import liveportrait_face as lpface
from livehead.animators.neural.crop import crop, face_crop_box, paste_back
from livehead.animators.neural.tensor_frame import (
    AffinePaste,
    Letterbox,
    PasteBack,
    affine_crop,
    affine_theta,
    crop_tensor,
    crop_theta,
    frame_to_tensor,
    resize_matrix,
    round_pixels,
)
from livehead.stages.compose import letterbox


PHOTOS = [("aniportrait_Aragaki.png", (640, 360)), ("liveportrait_s1.jpg", (1280, 720)),
          ("liveportrait_s7.jpg", (1280, 720)), ("dreamtalk_f30.png", (320, 180))]
BORDER = 3  # pixels next to the image edge left out of the max


@pytest.fixture(scope="module", params=PHOTOS, ids=[p[0] for p in PHOTOS])
def photo(request):
    from livehead.avatars.photo import load_avatar

    name, size = request.param
    avatar = load_avatar(media(name), working_size=size)
    h, w = avatar.image.shape[:2]
    return avatar.image, face_crop_box(avatar.face, (w, h))


def to_image(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def assert_close(expected: np.ndarray, got: np.ndarray, *, border: int = BORDER) -> None:
    diff = np.abs(expected.astype(np.float64) - got)
    inner = diff[border:-border, border:-border] if border else diff
    assert diff.mean() <= 1.0, f"mean |diff| {diff.mean():.3f} levels"
    assert inner.max() <= 3.0, f"max |diff| {inner.max()} levels away from the borders"


class TestCropTensor:
    @pytest.mark.parametrize("size", [256, 128, 64])
    def test_equals_opencv_crop(self, photo, size):
        image, box = photo
        expected = crop(image, box, size)
        got = crop_tensor(frame_to_tensor(torch.from_numpy(image)), torch.tensor(box), size)
        assert got.shape == (1, 3, size, size)
        assert_close(expected, to_image(round_pixels(got)))

    def test_box_past_the_edge_replicates_the_border(self, photo):
        image, box = photo
        h, w = image.shape[:2]
        outside = np.array([w - 5.0, h / 2, box[2]])  # half the crop lies right of the photo
        expected = crop(image, outside, 64)
        got = to_image(round_pixels(crop_tensor(frame_to_tensor(torch.from_numpy(image)), torch.tensor(outside), 64)))
        assert_close(expected, got, border=0)

    def test_x_and_y_are_not_swapped(self):
        """An asymmetric image and an off-centre box: a swap of x and y would move the bright corner."""
        image = np.zeros((60, 100, 3), np.uint8)
        image[5:15, 70:90] = 255  # bright block near the top right
        box = np.array([75.0, 12.0, 20.0])
        got = to_image(round_pixels(crop_tensor(frame_to_tensor(torch.from_numpy(image)), torch.tensor(box), 20)))
        np.testing.assert_array_equal(got, crop(image, box, 20))
        assert got[10, 10].min() == 255 and got[0, 0].max() == 0

    def test_theta_of_the_identity_crop(self):
        theta = crop_theta(torch.tensor([50.0, 50.0, 100.0]), (100, 100), 100)
        torch.testing.assert_close(theta, torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))

    def test_rejects_a_frame_that_is_not_rgb(self):
        with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
            frame_to_tensor(torch.zeros(4, 4))


def generated(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """A stand-in for a generator's output: the face from a slightly moved box, colours shifted
    (the paste-back's colour matching must take the shift out again), in [0, 1]."""
    moved = crop(image, box + np.array([3.0, -2.0, 0.02 * box[2]]), size).astype(np.float32) / 255.0
    return np.clip(moved * 0.95 + 0.04, 0.0, 1.0)


class TestPasteBack:
    @pytest.mark.parametrize("size", [256, 128])
    def test_equals_opencv_paste_back(self, photo, size):
        image, box = photo
        h, w = image.shape[:2]
        source_crop = crop(image, box, size)
        prediction = generated(image, box, size)
        expected = paste_back(image, np.clip(prediction * 255.0 + 0.5, 0, 255).astype(np.uint8), box, source_crop)
        paste = PasteBack((w, h), box, size, source_crop, "cpu")
        got = paste(frame_to_tensor(torch.from_numpy(image)), torch.from_numpy(prediction).permute(2, 0, 1)[None])
        assert_close(expected, to_image(got))

    def test_outside_its_region_the_photo_is_untouched(self, photo):
        image, box = photo
        h, w = image.shape[:2]
        paste = PasteBack((w, h), box, 64, crop(image, box, 64), "cpu")
        expected = paste_back(image, np.zeros((64, 64, 3), np.uint8), box, crop(image, box, 64))
        y0, y1, x0, x1 = paste.roi
        outside = np.ones((h, w), bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(expected[outside], image[outside])  # the region holds every changed pixel

    def test_a_crop_outside_the_photo_is_an_error(self):
        with pytest.raises(ValueError, match="outside"):
            PasteBack((100, 100), np.array([500.0, 500.0, 50.0]), 64, np.zeros((64, 64, 3), np.uint8), "cpu")


TILT = np.radians(17.0)  # added to each photo's crop angle: the photos' faces are upright


@pytest.fixture(scope="module", params=PHOTOS, ids=[p[0] for p in PHOTOS])
def tilted(request):
    """(photo, rotated crop (centre, side, angle)): LivePortrait's source crop of the face, turned."""
    from livehead.avatars.photo import load_avatar

    name, size = request.param
    avatar = load_avatar(media(name), working_size=size)
    centre, side, angle = lpface.crop_rect(avatar.face.landmarks, lpface.SOURCE_CROP)
    return avatar.image, (centre, side, angle + TILT)


def affine_crop_of(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    factor = lpface.supersampling(matrix)
    h, w = image.shape[:2]
    theta = affine_theta(np.diag([factor, factor]) @ matrix, (w, h), size * factor)
    got = affine_crop(frame_to_tensor(torch.from_numpy(image)), torch.from_numpy(theta)[None], size, factor)
    assert got.shape == (1, 3, size, size)
    return to_image(got)


class TestAffineCrop:
    """The rotated crop of LivePortrait (``liveportrait_face.warp_crop``) on tensors."""

    @pytest.mark.parametrize("size", [256, 96, 48])
    def test_equals_opencv_warp_crop(self, tilted, size):
        image, (centre, side, angle) = tilted
        matrix = lpface.crop_matrix(centre, side, angle, size)
        assert_close(lpface.warp_crop(image, matrix, size), affine_crop_of(image, matrix, size))

    def test_supersamples_a_large_shrink_as_opencv_does(self, tilted):
        """A small crop of a large face warps at up to 4x and averages: the same picture."""
        image, (centre, side, angle) = tilted
        size = 32
        matrix = lpface.crop_matrix(centre, side, angle, size)
        assert lpface.supersampling(matrix) > 1, "this photo's face is too small to test supersampling"
        assert_close(lpface.warp_crop(image, matrix, size), affine_crop_of(image, matrix, size))

    def test_theta_of_the_identity_matches_crop_theta(self):
        """No rotation: the same theta as the fomm/fv2v crop's (a box)."""
        box = np.array([40.0, 30.0, 50.0])
        matrix = lpface.crop_matrix(box[:2], box[2], 0.0, 64)
        expected = crop_theta(torch.tensor(box), (100, 80), 64)[0].double()
        torch.testing.assert_close(torch.from_numpy(affine_theta(matrix, (100, 80), 64)), expected)

    def test_rotation_has_the_opencv_sense(self):
        """An asymmetric image turned by 90 degrees: a sign error would put the bright block elsewhere."""
        image = np.zeros((64, 64, 3), np.uint8)
        image[4:14, 40:60] = 255  # bright block near the top right
        matrix = lpface.crop_matrix(np.array([31.5, 31.5]), 64.0, np.pi / 2, 64)
        expected = lpface.warp_crop(image, matrix, 64)
        got = affine_crop_of(image, matrix, 64)
        assert_close(expected, got)
        # crop (u, v) shows photo (x, y) = (63.5 - v, u - 0.5): the block turns to the top left
        assert expected[8:20, 6:12].min() == 255 and expected[4:14, 44:56].max() == 0
        assert got[8:20, 6:12].min() >= 252 and got[4:14, 44:56].max() <= 3


class TestAffinePaste:
    """LivePortrait's paste-back (``liveportrait_face.paste_back``): the 2x output through the inverse
    rotated crop matrix, blended with its circular mask."""

    @pytest.mark.parametrize("size", [128, 64])
    def test_equals_opencv_paste_back(self, tilted, size):
        image, (centre, side, angle) = tilted
        h, w = image.shape[:2]
        n = 2 * size  # the generator's output is twice the crop
        matrix = lpface.crop_matrix(centre, side, angle, n)
        # A real picture as the generated face: the photo's crop from a slightly moved centre, colours shifted
        moved = lpface.warp_crop(image, lpface.crop_matrix(centre + 3.0, side * 1.02, angle, n), n)
        prediction = np.clip(moved.astype(np.float32) / 255.0 * 0.95 + 0.04, 0.0, 1.0)
        result = np.clip(prediction * 255.0 + 0.5, 0, 255).astype(np.uint8)
        mask = lpface.paste_mask(n)
        expected = lpface.paste_back(image, result, matrix, mask)
        paste = AffinePaste((w, h), matrix, mask, "cpu")
        got = paste(frame_to_tensor(torch.from_numpy(image)), torch.from_numpy(prediction).permute(2, 0, 1)[None])
        assert_close(expected, to_image(got))
        assert np.abs(expected.astype(int) - image).max() > 10  # the face was pasted, not the photo kept
        y0, y1, x0, x1 = paste.roi
        outside = np.ones((h, w), bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(expected[outside], image[outside])  # the region holds every changed pixel

    def test_a_crop_outside_the_photo_is_an_error(self):
        matrix = lpface.crop_matrix(np.array([500.0, 500.0]), 50.0, 0.3, 64)
        with pytest.raises(ValueError, match="outside"):
            AffinePaste((100, 100), matrix, lpface.paste_mask(64), "cpu")


class TestLetterbox:
    @pytest.mark.parametrize("out_size,mirror", [((1280, 720), False), ((1280, 720), True), ((500, 300), False),
                                                 ((1920, 1080), True)])
    def test_equals_compose_letterbox(self, photo, out_size, mirror):
        image, _ = photo
        h, w = image.shape[:2]
        expected = letterbox(image, out_size, background=(10, 20, 30), mirror=mirror)
        box = Letterbox((w, h), out_size, mirror=mirror, background=(10, 20, 30))
        got = box(frame_to_tensor(torch.from_numpy(image))).numpy()
        assert got.shape == expected.shape
        assert_close(expected, got, border=0)
        if not box.resizes:
            np.testing.assert_array_equal(got, expected)  # placing without resizing is exact

    def test_write_region_updates_only_that_region(self):
        image = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
        box = Letterbox((160, 90), (320, 180), mirror=True)
        assert box.resizes
        with pytest.raises(ValueError, match="fitted size"):
            box.write_region(torch.zeros(1, 3, 4, 4), 0, 0)
        same = Letterbox((160, 90), (200, 90), mirror=True)
        same(frame_to_tensor(torch.from_numpy(image)))
        patch = torch.full((1, 3, 10, 20), 255.0)
        out = same.write_region(patch, 30, 40).numpy()
        changed = image.copy()
        changed[40:50, 30:50] = 255
        np.testing.assert_array_equal(out, letterbox(changed, (200, 90), mirror=True))


class TestResizeMatrix:
    @pytest.mark.parametrize("n_in,n_out", [(720, 360), (590, 360), (100, 137), (7, 3)])
    def test_rows_are_weights(self, n_in, n_out):
        a = resize_matrix(n_in, n_out)
        assert a.shape == (n_out, n_in) and (a >= 0).all()
        np.testing.assert_allclose(a.sum(1), 1.0)

    def test_halving_averages_pairs(self):
        np.testing.assert_allclose(resize_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
