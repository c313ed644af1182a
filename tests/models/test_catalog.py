"""`livehead models`: the checkpoint catalog, where files are looked for, and the CLI output."""

from __future__ import annotations

from pathlib import Path

import pytest

from _media import needs_extra
from helpers import place_checkpoint

needs_extra("neural", "torch")  # livehead.models builds torch networks

from livehead.errors import CheckpointError, InputError
from livehead.models import catalog, configs
from livehead.models.catalog import (
    CATALOG,
    catalog_status,
    checkpoints_dir,
    find_checkpoint,
    found_checkpoints,
    resolve_checkpoint,
)


class TestCatalog:
    def test_entries(self):
        names = [e.name for e in CATALOG]
        assert len(set(names)) == len(names)
        files = [f for e in CATALOG for f in e.file_names]
        assert {"vox-cpk.pth.tar", "vox-adv-cpk.pth.tar", "00000189-checkpoint.pth.tar"} <= set(files)
        assert len(set(files)) == len(files)
        for entry in CATALOG:
            assert entry.config is configs.PUBLIC_CONFIGS[entry.name]
            assert entry.config.engine == entry.engine
            assert entry.download.count("https://") >= 1

    def test_checkpoints_dir_follows_env(self, data_dir):
        assert checkpoints_dir() == data_dir / "checkpoints"

    def test_checkpoints_dir_default_is_platform_data_dir(self, monkeypatch):
        import platformdirs

        monkeypatch.delenv("LIVEHEAD_DATA_DIR", raising=False)
        assert checkpoints_dir() == Path(platformdirs.user_data_dir("livehead")) / "checkpoints"

    def test_status_and_found(self, data_dir):
        assert found_checkpoints() == {}
        path = place_checkpoint(data_dir, "vox-cpk.pth.tar")
        status = {s.name: s for s in catalog_status()}
        assert status["fomm-vox-256"].present and status["fomm-vox-256"].path == path
        assert not status["fv2v-vox-256"].present
        assert found_checkpoints() == {"fomm-vox-256": path}

    def test_find_ignores_directories(self, data_dir):
        (data_dir / "checkpoints" / "vox-cpk.pth.tar").mkdir(parents=True)
        assert find_checkpoint(CATALOG[1], data_dir / "checkpoints") is None


class TestResolveCheckpoint:
    def test_none_found_says_where_and_what(self, data_dir):
        with pytest.raises(CheckpointError) as info:
            resolve_checkpoint("fv2v")
        message = str(info.value)
        assert "00000189-checkpoint.pth.tar" in message and str(data_dir / "checkpoints") in message
        assert "LIVEHEAD_DATA_DIR" in message and "--checkpoint" in message and "mediafire" in message

    def test_search_order_prefers_adv(self, data_dir):
        place_checkpoint(data_dir, "vox-cpk.pth.tar")
        adv = place_checkpoint(data_dir, "vox-adv-cpk.pth.tar")
        path, config = resolve_checkpoint("fomm")
        assert path == adv and config.name == "fomm-vox-adv-256"

    def test_explicit_path(self, tmp_path):
        known = tmp_path / "vox-cpk.pth.tar"
        known.write_bytes(b"x")
        assert resolve_checkpoint("fomm", known)[1].name == "fomm-vox-256"
        renamed = tmp_path / "my-fv2v.pth.tar"
        renamed.write_bytes(b"x")
        assert resolve_checkpoint("fv2v", str(renamed)) == (renamed, configs.FV2V_VOX_256)

    def test_explicit_missing_path(self, tmp_path):
        with pytest.raises(CheckpointError, match="does not exist"):
            resolve_checkpoint("fomm", tmp_path / "nope.pth.tar")

    def test_unknown_engine(self):
        with pytest.raises(InputError, match="known: fomm, fv2v"):
            resolve_checkpoint("mesh")


def test_doctor_checks_found_and_missing(data_dir: Path) -> None:
    entry = catalog.CATALOG[0]
    place_checkpoint(data_dir, entry.file_names[0], b"x")
    checks = {c.name.split(" ")[0]: c for c in catalog.doctor_checks()}
    assert checks[entry.name].status == "ok"
    missing = [c for c in checks.values() if c.status == "warn"]
    assert missing and all(str(data_dir / "checkpoints") in c.fix for c in missing)
