"""eval.media: finding clips and photos, decoding frames, the frames a report shows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from livehead.errors import InputError
from livehead.eval import media
from livehead.eval.measure import Measure, Series
from livehead.face.geometry import rotation_from_euler
from livehead.types import NUM_LANDMARKS

from _media import media as shared_media

CLIP = "dreamtalk_W011_front_neutral_level1_001.mp4"


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"x")


class TestCollectMedia:
    def test_folder_is_filtered_by_suffix_and_sorted(self, tmp_path: Path) -> None:
        touch(tmp_path, "b.MP4", "a.mov", "notes.txt", "c.png")
        (tmp_path / "sub").mkdir()
        touch(tmp_path / "sub", "deeper.mp4")  # one level deep only
        found = media.collect_media([tmp_path], media.CLIP_SUFFIXES, "Clip")
        assert [p.name for p in found] == ["a.mov", "b.MP4"]

    def test_a_named_file_is_kept_whatever_its_suffix(self, tmp_path: Path) -> None:
        touch(tmp_path, "face.gif")
        assert media.collect_media([tmp_path / "face.gif"], media.PHOTO_SUFFIXES, "Photo") == [tmp_path / "face.gif"]

    def test_missing_path_names_it(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match=r"Photo not found: .*nope\.png\. Give files or folders that exist"):
            media.collect_media([tmp_path / "nope.png"], media.PHOTO_SUFFIXES, "Photo")


class TestFirstMedia:
    def test_preferred_name_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        touch(tmp_path, "a.mp4", "talk.mp4")
        monkeypatch.setattr(media, "default_media_dir", lambda: tmp_path)
        assert media.first_media(("missing.mp4", "talk.mp4"), (".mp4",)) == tmp_path / "talk.mp4"

    def test_else_first_file_with_suffix(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        touch(tmp_path, "b.mp4", "a.txt", "c.mp4")
        monkeypatch.setattr(media, "default_media_dir", lambda: tmp_path)
        assert media.first_media(("missing.mp4",), (".mp4",)) == tmp_path / "b.mp4"
        assert media.first_media((), (".png",)) is None

    def test_no_media_folder(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(media, "default_media_dir", lambda: None)
        assert media.first_media(("talk.mp4",), (".mp4",)) is None


class TestFrames:
    def test_iter_frames_stops_at_limit(self) -> None:
        clip = shared_media(CLIP)
        frames = list(media.iter_frames(clip, 3))
        assert len(frames) == 3 and frames[0].dtype == np.uint8 and frames[0].ndim == 3

    def test_frame_at_matches_iteration(self) -> None:
        clip = shared_media(CLIP)
        frames = list(media.iter_frames(clip, 3))
        np.testing.assert_array_equal(media.frame_at(clip, 2), frames[2])

    def test_frame_at_past_the_end(self) -> None:
        clip = shared_media(CLIP)
        total = sum(1 for _ in media.iter_frames(clip, None))
        with pytest.raises(IndexError, match=f"has no frame {total}"):
            media.frame_at(clip, total)


class TestResize:
    def test_size_is_width_height(self) -> None:
        out = media.resize(np.zeros((40, 60, 3), np.uint8), (30, 10))
        assert out.shape == (10, 30, 3)

    def test_same_size_is_the_same_array(self) -> None:
        frame = np.zeros((40, 60, 3), np.uint8)
        assert media.resize(frame, (60, 40)) is frame


def series(mouth: list[float], yaw: list[float]) -> Series:
    s = Series()
    for m, y in zip(mouth, yaw):
        found = not math.isnan(y)
        s.add(Measure(np.zeros((NUM_LANDMARKS, 3)), 1.0, rotation_from_euler(y if found else 0.0, 0.0, 0.0), m, 0.3,
                      (0.0, 0.0, 1.0, 1.0) if found else None))
    return s


class TestStripIndices:
    def test_widest_mouth_largest_turn_and_middle(self) -> None:
        truth = series([0.1, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
                       [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 30.0, 2.0, 1.0])
        assert media.strip_indices(truth, calib=0, count=3) == [2, 5, 7]

    def test_never_frame_zero_nor_repeats(self) -> None:
        truth = series([0.9, 0.1, 0.1], [0.0, 0.0, 0.0])  # widest mouth at 0, no turn: argmax 0
        assert media.strip_indices(truth, calib=0, count=3) == [1]

    def test_count_caps_and_no_face(self) -> None:
        truth = series([0.1, 0.9, 0.1, 0.1], [0.0, 0.0, 20.0, 0.0])
        assert media.strip_indices(truth, calib=0, count=1) == [1]
        assert media.strip_indices(truth, calib=-1, count=3) == [1, 2]
        assert media.strip_indices(Series(), calib=-1, count=3) == []


class TestSheetIndices:
    @staticmethod
    def truth(mouth: list[float], yaw: list[float], eyes: list[tuple[float, float]]) -> Series:
        s = Series()
        for m, y, e in zip(mouth, yaw, eyes):
            found = not math.isnan(y)
            s.add(Measure(np.zeros((NUM_LANDMARKS, 3)), 1.0, rotation_from_euler(y if found else 0.0, 0.0, 0.0), m,
                          float(np.mean(e)), (0.0, 0.0, 1.0, 1.0) if found else None, e))
        return s

    def test_hard_frames_first_then_spread(self) -> None:
        """Widest mouth (3), each eye's wink (5: right, 7: left), turns either way (2, 8), then fill."""
        open_ = (0.3, 0.3)
        eyes = [open_] * 12
        eyes[5], eyes[7] = (0.02, 0.3), (0.3, 0.02)
        yaw = [0.0, 1.0, -25.0, 0.0, 2.0, 0.0, 1.0, 0.0, 30.0, 0.0, 0.0, 0.0]
        mouth = [0.1] * 12
        mouth[3] = 0.8
        truth = self.truth(mouth, yaw, eyes)
        assert media.sheet_indices(truth, 5) == [2, 3, 5, 7, 8]
        picked = media.sheet_indices(truth, 8)
        assert {2, 3, 5, 7, 8} <= set(picked) and len(picked) == 8 and picked == sorted(set(picked))
        assert 0 not in picked

    def test_only_frames_with_a_face(self) -> None:
        nan = math.nan
        truth = self.truth([0.1, 0.9, 0.1, 0.1], [0.0, nan, 0.0, nan], [(0.3, 0.3)] * 4)
        assert media.sheet_indices(truth, 4) == [2]
        assert media.sheet_indices(truth, 0) == []
        assert media.sheet_indices(Series(), 4) == []
