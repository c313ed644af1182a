"""AvatarLibrary: folder scan, background preparation, the on-disk landmark cache, reload, failures.

Real photos from ../shared/media are copied into a temporary folder for each test (never into the
repository); broken files are written next to them at test time.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import livehead.avatars.library as library_module
from livehead.animators.mesh.animator import MeshAnimator
from livehead.errors import InputError
from livehead.avatars.library import AvatarLibrary, scan_folder

from _media import media

SIZE = (640, 360)  # working size (w, h): small keeps face detection quick on a shared CI box


def copy_photo(name: str, folder: Path, as_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(media(name), folder / as_name))


def write_truncated_jpeg(path: Path) -> Path:
    raw = media("liveportrait_s1.jpg").read_bytes()
    path.write_bytes(raw[: len(raw) // 3])  # header intact, scan data cut: Pillow refuses to load it
    return path


def write_faceless_png(path: Path) -> Path:
    import cv2

    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    cv2.imwrite(str(path), np.dstack([ramp, ramp[::-1], np.full_like(ramp, 128)]))  # a valid image, no face
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "avatars"
    copy_photo("aniportrait_Aragaki.png", folder, "01_aragaki.png")
    copy_photo("aniportrait_lyl.png", folder, "02_lyl.png")
    return folder


@pytest.fixture
def detections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names passed to face detection (``avatar_from_array``); the real function still runs."""
    calls: list[str] = []
    real = library_module.avatar_from_array

    def counting(image, *, name, **kw):
        calls.append(name)
        return real(image, name=name, **kw)

    monkeypatch.setattr(library_module, "avatar_from_array", counting)
    return calls


def make_library(folder: Path | None, cache: Path | None, *, engine=None, size=SIZE, files=()) -> AvatarLibrary:
    return AvatarLibrary(animator=engine or MeshAnimator(), working_size=size, files=list(files), folder=folder,
                         cache_dir=cache)


def names(lib: AvatarLibrary) -> list[str]:
    return [s.avatar.name for s in lib.ready()]


class TestScanFolder:
    def test_images_only_sorted_by_name(self, tmp_path: Path) -> None:
        for name in ("b.JPG", "a.png", "c.webp", "notes.txt", "README"):
            (tmp_path / name).write_bytes(b"x")
        (tmp_path / "d.png").mkdir()  # a folder with an image suffix is not an avatar
        assert [p.name for p in scan_folder(tmp_path)] == ["a.png", "b.JPG", "c.webp"]

    def test_missing_folder_names_the_fix(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match=r"Avatar folder not found: .*nope.*--avatar FILE"):
            scan_folder(tmp_path / "nope")


class TestPrepare:
    def test_smoke_in_order_with_shapes(self, photos: Path, tmp_path: Path) -> None:
        lib = make_library(photos, tmp_path / "cache")
        assert lib.pending() == 2 and lib.ready() == []
        lib.prepare_now()
        assert names(lib) == ["01_aragaki.png", "02_lyl.png"]
        for state in lib.ready():
            h, w = state.avatar.image.shape[:2]
            assert (w <= SIZE[0] and h == SIZE[1]) or (w == SIZE[0] and h <= SIZE[1])  # fitted inside
            assert state.avatar.face.landmarks.shape == (478, 3)
            assert len(state.avatar.content_hash) == 64
        assert lib.pending() == 0

    def test_failed_files_are_skipped_and_reported(
        self, photos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        write_truncated_jpeg(photos / "00_truncated.jpg")
        (photos / "03_notes.png").write_text("not a picture, only a .png name\n")
        write_faceless_png(photos / "04_no_face.png")
        caplog.set_level(logging.WARNING, logger="livehead.avatars.library")
        lib = make_library(photos, tmp_path / "cache")
        lib.prepare_now()

        assert names(lib) == ["01_aragaki.png", "02_lyl.png"]  # the rest work, in order
        errors = {e.path.name: e.error for e in lib.entries if not e.ready}
        assert set(errors) == {"00_truncated.jpg", "03_notes.png", "04_no_face.png"}
        assert "truncated or corrupt" in errors["00_truncated.jpg"]
        assert "Not an image file" in errors["03_notes.png"]
        assert "No face found" in errors["04_no_face.png"]
        for name, error in errors.items():
            assert f"Skipping avatar {name}: {error}" in caplog.messages
        assert lib.pending() == 0  # failed files are not retried for ever

    def test_background_thread_prepares_and_closes(self, photos: Path, tmp_path: Path) -> None:
        lib = make_library(photos, tmp_path / "cache").start()
        try:
            assert lib.idle.wait(30.0), "background preparation did not finish within 30 s"
            assert names(lib) == ["01_aragaki.png", "02_lyl.png"]
        finally:
            lib.close()
        assert not lib._thread.is_alive()

    def test_files_come_first_and_are_not_duplicated(self, photos: Path, tmp_path: Path) -> None:
        extra = copy_photo("dreamtalk_f30.png", tmp_path / "elsewhere", "zz_extra.png")
        lib = make_library(photos, None, files=[extra, photos / "02_lyl.png"])
        assert [e.path.name for e in lib.entries] == ["zz_extra.png", "02_lyl.png", "01_aragaki.png"]


class TestCache:
    def test_written_then_reused_without_face_detection(
        self, photos: Path, tmp_path: Path, detections: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache = tmp_path / "cache"
        first = make_library(photos, cache)
        first.prepare_now()
        assert detections == ["01_aragaki.png", "02_lyl.png"]
        files = sorted(p.name for p in cache.iterdir())
        hashes = sorted(s.avatar.content_hash[:32] for s in first.ready())
        assert files == sorted(f"{h}_{SIZE[0]}x{SIZE[1]}_mesh.npz" for h in hashes)

        def no_detection(*args, **kwargs):
            raise AssertionError("face detection ran although the cache holds this photo")

        monkeypatch.setattr(library_module, "avatar_from_array", no_detection)
        second = make_library(photos, cache)
        second.prepare_now()
        assert [e.error for e in second.entries] == [None, None]
        assert names(second) == names(first)
        for a, b in zip(first.ready(), second.ready()):
            np.testing.assert_array_equal(a.avatar.face.landmarks, b.avatar.face.landmarks)
            np.testing.assert_array_equal(a.avatar.image, b.avatar.image)
            assert a.avatar.content_hash == b.avatar.content_hash

    def test_keyed_by_content_not_file_name(self, photos: Path, tmp_path: Path, detections: list[str]) -> None:
        cache = tmp_path / "cache"
        make_library(photos, cache).prepare_now()
        renamed = tmp_path / "renamed"
        copy_photo("aniportrait_Aragaki.png", renamed, "someone.png")
        lib = make_library(renamed, cache)
        lib.prepare_now()
        assert detections == ["01_aragaki.png", "02_lyl.png"]  # no third detection: same bytes
        assert names(lib) == ["someone.png"]  # the name follows the file, the landmarks the content

    def test_keyed_by_working_size_and_engine(self, photos: Path, tmp_path: Path, detections: list[str]) -> None:
        class OtherEngine(MeshAnimator):
            name = "other"

        cache = tmp_path / "cache"
        make_library(photos, cache).prepare_now()
        make_library(photos, cache, size=(320, 180)).prepare_now()
        make_library(photos, cache, engine=OtherEngine()).prepare_now()
        assert len(detections) == 6  # each new (size, engine) pair detects again
        suffixes = sorted({p.name.split("_", 1)[1] for p in cache.iterdir()})
        assert suffixes == ["320x180_mesh.npz", "640x360_mesh.npz", "640x360_other.npz"]

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_key", "wrong_shape"])
    def test_unreadable_cache_is_ignored_and_rewritten(
        self, photos: Path, tmp_path: Path, detections: list[str], damage: str
    ) -> None:
        cache = tmp_path / "cache"
        make_library(photos, cache).prepare_now()
        target = sorted(cache.iterdir())[0]
        good = target.read_bytes()
        if damage == "garbage":
            target.write_bytes(b"\x00not an npz file")
        elif damage == "truncated":
            target.write_bytes(good[: len(good) // 2])  # a half-copied cache folder
        elif damage == "wrong_key":
            np.savez(target, something_else=np.zeros(3))
        else:
            np.savez(target, landmarks=np.zeros((68, 2), np.float32))  # e.g. from another landmark model
        lib = make_library(photos, cache)
        lib.prepare_now()
        assert [e.error for e in lib.entries] == [None, None]  # a bad cache never costs an avatar
        assert len(detections) == 3  # the damaged one was detected again
        with np.load(target) as data:
            assert data["landmarks"].shape == (478, 3)  # and its cache rewritten


class TestReload:
    def test_new_file_appears_old_ones_are_kept(self, photos: Path, tmp_path: Path, detections: list[str]) -> None:
        lib = make_library(photos, tmp_path / "cache")
        lib.prepare_now()
        before = lib.ready()
        copy_photo("dreamtalk_f30.png", photos, "03_f30.png")
        lib.reload()
        assert lib.pending() == 1
        lib.prepare_now()
        assert names(lib) == ["01_aragaki.png", "02_lyl.png", "03_f30.png"]
        assert lib.ready()[:2] == before  # the same prepared states, not prepared again
        assert detections == ["01_aragaki.png", "02_lyl.png", "03_f30.png"]

    def test_reload_in_the_background(self, photos: Path, tmp_path: Path) -> None:
        lib = make_library(photos, tmp_path / "cache").start()
        try:
            assert lib.idle.wait(30.0)
            copy_photo("dreamtalk_f30.png", photos, "03_f30.png")
            write_truncated_jpeg(photos / "04_broken.jpg")
            lib.reload()
            assert lib.idle.wait(30.0), "the reloaded files were not prepared within 30 s"
            assert names(lib) == ["01_aragaki.png", "02_lyl.png", "03_f30.png"]
            assert [e.path.name for e in lib.entries if e.error] == ["04_broken.jpg"]
        finally:
            lib.close()

    def test_missing_folder_is_a_warning_until_created(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="livehead.avatars.library")
        folder = tmp_path / "later"
        lib = make_library(folder, None)
        assert lib.entries == []
        assert any("does not exist" in m and "press L" in m for m in caplog.messages)
        copy_photo("aniportrait_lyl.png", folder, "lyl.png")
        lib.reload()
        lib.prepare_now()
        assert names(lib) == ["lyl.png"]
