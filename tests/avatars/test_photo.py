"""Avatar photos (issue 12): a face too small for a sharp result is said with its size, an output size
too small to find the face blames the size (not a good photo), and a symlink loop is an input error."""

from __future__ import annotations

import logging
import os

import cv2
import pytest
from PIL import Image

from _media import media
from livehead.avatars.photo import MIN_FACE_PX, decode_image, load_avatar
from livehead.errors import InputError


def small_copy(tmp_path, name: str, side: int):
    path = tmp_path / f"small_{name}"
    Image.open(media(name)).convert("RGB").resize((side, side), Image.LANCZOS).save(path)
    return path


class TestFaceSize:
    def test_a_small_face_is_warned_about_with_its_size(self, tmp_path, caplog):
        caplog.set_level(logging.WARNING, logger="livehead")
        avatar = load_avatar(small_copy(tmp_path, "aniportrait_Aragaki.png", 64))
        height = avatar.face.box[3] - avatar.face.box[1]
        assert height < MIN_FACE_PX
        (warning,) = [r for r in caplog.records if "px tall in the photo" in r.getMessage()]
        assert f"only {height:.0f} px" in warning.getMessage() and f"{MIN_FACE_PX} px" in warning.getMessage()

    def test_a_face_large_in_the_photo_is_not_warned_about_at_a_small_output_size(self, caplog):
        """The face size that matters is the photo's: a big photo shown small is sharp."""
        caplog.set_level(logging.WARNING, logger="livehead")
        load_avatar(media("aniportrait_Aragaki.png"), working_size=(160, 90))
        assert not [r for r in caplog.records if "px tall" in r.getMessage()]

    def test_an_output_size_too_small_blames_the_size_not_the_photo(self):
        path = media("liveportrait_s2.jpg")  # its face is a quarter of the photo's height
        with pytest.raises(InputError, match="output size 16x16 is too small.*the photo is fine"):
            load_avatar(path, working_size=(16, 16))


def test_symlink_loop_is_an_input_error(tmp_path):
    os.symlink("loop.png", tmp_path / "loop.png")
    with pytest.raises(InputError, match="symbolic link"):
        decode_image(tmp_path / "loop.png")


def test_unreadable_file_is_an_input_error(tmp_path):
    path = tmp_path / "me.png"
    cv2.imwrite(str(path), cv2.imread(str(media("dreamtalk_f30.png"))))
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("this user (root) can read any file")
    with pytest.raises(InputError, match="Cannot read avatar file"):
        decode_image(path)
