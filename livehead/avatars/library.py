"""The avatar library: a folder of portrait photos prepared in the background, cached on disk.

Switching avatars must never freeze the stream, so every photo is decoded, its face found and the
engine's per-avatar work done on a worker thread; the pipeline only switches to an avatar once it
is ready. Face landmarks are cached on disk keyed by the file's content hash, the working size and
the engine, so a restart does not detect every face again. A photo that cannot be used is
skipped with a message, never a crash.
"""

from __future__ import annotations

import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livehead.animators.base import Animator, AvatarImage, AvatarState
from livehead.avatars.photo import avatar_from_array, decode_image
from livehead.errors import InputError, LiveHeadError
from livehead.stages.tracking import observation_from_landmarks

log = logging.getLogger(__name__)

__all__ = ["IMAGE_SUFFIXES", "AvatarLibrary", "Entry", "scan_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def scan_folder(folder: str | Path) -> list[Path]:
    """Image files in ``folder``, sorted by name (the order of keys 1–9)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"Avatar folder not found: {folder}. Create it and put portrait photos in it, or use --avatar FILE.")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


@dataclass
class Entry:
    """One photo of the avatar folder: its prepared state, or why it could not be prepared."""
    path: Path
    state: AvatarState | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        """True once the photo is prepared for the current engine."""
        return self.state is not None


class AvatarLibrary:
    """Ordered avatars (``files`` first, then the folder) prepared on a background thread.

    ``ready()`` lists the prepared states in order; failed files are left out (``entries`` keeps
    their error). ``reload()`` rescans the folder and prepares only new files.
    """

    def __init__(
        self,
        *,
        animator: Animator,
        working_size: tuple[int, int],
        files: list[str | Path] = (),
        folder: str | Path | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.animator = animator
        self.working_size = working_size
        self.files = [Path(f) for f in files]
        self.folder = Path(folder).expanduser() if folder else None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.entries: list[Entry] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._work, name="livehead-avatars", daemon=True)
        self._scan()

    # ---- listing ---------------------------------------------------------------------------
    def _scan(self) -> None:
        paths = list(self.files)
        if self.folder is not None:
            if self.folder.is_dir():
                paths += scan_folder(self.folder)
            else:
                log.warning("Avatar folder %s does not exist; create it and add photos, then press L.", self.folder)
        with self._lock:
            # realpath, unlike Path.resolve, does not raise on a symlink loop; decoding reports that file
            known = {os.path.realpath(e.path) for e in self.entries}
            for p in paths:
                if os.path.realpath(p) not in known:
                    self.entries.append(Entry(p))
                    known.add(os.path.realpath(p))
        self.idle.clear()
        self._wake.set()

    def ready(self) -> list[AvatarState]:
        """The prepared avatars, in folder order."""
        with self._lock:
            return [e.state for e in self.entries if e.state is not None]

    def pending(self) -> int:
        """How many photos are still waiting to be prepared."""
        with self._lock:
            return sum(1 for e in self.entries if e.state is None and e.error is None)

    # ---- preparation -----------------------------------------------------------------------
    def start(self) -> "AvatarLibrary":
        """Start preparing photos on the background thread; returns self."""
        self._thread.start()
        return self

    def prepare_now(self) -> None:
        """Prepare everything on the calling thread (start-up of the first avatar, tests)."""
        self._prepare_pending()

    def reload(self) -> None:
        """Rescan the folder; new files are prepared in the background."""
        self._scan()

    def _work(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._prepare_pending()
            if self.pending() == 0:
                self.idle.set()

    def _prepare_pending(self) -> None:
        from livehead.stages.tracking import FaceTracker

        tracker = None
        try:
            while not self._stop.is_set():
                with self._lock:
                    todo = next((e for e in self.entries if e.state is None and e.error is None), None)
                if todo is None:
                    return
                tracker = tracker or FaceTracker(static_image_mode=True)
                try:
                    state = self._prepare(self._load(todo.path, tracker))
                except LiveHeadError as exc:
                    todo.error = str(exc)
                    log.warning("Skipping avatar %s: %s", todo.path.name, exc)
                    continue
                except Exception as exc:  # an engine failing on one photo must not stop the others
                    todo.error = f"{type(exc).__name__}: {exc}"
                    log.warning("Skipping avatar %s: preparation failed (%s).", todo.path.name, todo.error)
                    continue
                with self._lock:
                    todo.state = state
                log.info("Avatar ready: %s", todo.path.name)
        finally:
            if tracker is not None:
                tracker.close()

    def _prepare(self, avatar: AvatarImage) -> AvatarState:
        """``animator.prepare``, reusing the engine's on-disk cache when it offers one.

        Engines with costly per-avatar work (network encodings) implement ``cache_key()``,
        ``save_state(state, path)`` and ``load_state(avatar, path)``; the mesh engine needs none.
        """
        key = getattr(self.animator, "cache_key", None)
        if self.cache_dir is None or key is None:
            return self.animator.prepare(avatar)
        w, h = self.working_size
        path = self.cache_dir / f"{avatar.content_hash[:32]}_{w}x{h}_{key()}.state"
        if path.is_file():
            try:
                return self.animator.load_state(avatar, path)
            except Exception as exc:  # a stale or damaged cache is only a missed shortcut
                log.debug("Ignoring engine cache %s: %s", path, exc)
        state = self.animator.prepare(avatar)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            self.animator.save_state(state, tmp)
            tmp.replace(path)
        except OSError as exc:
            log.warning("Could not cache %s's engine state in %s: %s", avatar.name, path.parent, exc)
        return state

    def _cache_path(self, content_hash: str) -> Path | None:
        if self.cache_dir is None:
            return None
        w, h = self.working_size
        return self.cache_dir / f"{content_hash[:32]}_{w}x{h}_{getattr(self.animator, 'name', 'engine')}.npz"

    def _load(self, path: Path, tracker) -> AvatarImage:
        import hashlib

        import cv2

        from livehead.stages.compose import fit_size

        image, raw = decode_image(path)
        digest = hashlib.sha256(raw).hexdigest()
        cache = self._cache_path(digest)
        if cache is not None and cache.is_file():
            try:
                with np.load(cache, allow_pickle=False) as data:
                    landmarks = data["landmarks"]
                tw, th = fit_size((image.shape[1], image.shape[0]), self.working_size)
                interp = cv2.INTER_AREA if tw < image.shape[1] else cv2.INTER_CUBIC
                work = cv2.resize(image, (tw, th), interpolation=interp) if (tw, th) != image.shape[1::-1] else image
                face = observation_from_landmarks(landmarks, timestamp=0.0, frame_size=(tw, th))
                return AvatarImage(name=path.name, image=np.ascontiguousarray(work), face=face, content_hash=digest)
            # np.load raises zipfile.BadZipFile (not an OSError) for a half-written or half-copied
            # cache file, and EOFError for a truncated member: either way, detect the face again.
            except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                log.debug("Ignoring unreadable cache %s: %s", cache, exc)
        avatar = avatar_from_array(image, name=path.name, content_hash=digest, working_size=self.working_size,
                                   tracker=tracker)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, landmarks=avatar.face.landmarks)
            tmp.replace(cache)
        return avatar

    def close(self) -> None:
        """Stop the background thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
