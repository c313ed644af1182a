"""LivePortrait weights on disk: the official five-file folder, the combined fixture file, and
every way a file can be wrong (hostile, truncated, missing, another architecture); the catalog
behind ``livehead models``."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from _media import needs_extra, reference
from golden import golden, golden_fixtures

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.errors import CheckpointError
from livehead.models import load_checkpoint
from livehead.models.checkpoint import LIVEPORTRAIT_FILES


fx, _, models = golden_fixtures("liveportrait", models="models")


@pytest.fixture(scope="module")
def config(fx):
    return fx.config()


def _first_public_mismatch(fx) -> tuple[str, bool]:
    """The first network of the fixture (file order) whose keys or shapes differ from the public
    architecture (the official files' manifest), and whether some key there has another shape."""
    manifest = json.loads(reference("liveportrait_state_dict_manifest.json").read_text())
    for path in fx.networks:
        top, _, entry = path.partition("/")
        want = manifest[top][entry] if entry else manifest[top]
        got = {k: list(v.shape) for k, v in fx.state_dict(path).items()}
        if got != want:
            return top, any(k in want and want[k] != shape for k, shape in got.items())
    raise AssertionError(f"{fx.checkpoint_path} has the public architecture: not a tiny fixture")


def _official_files(folder: Path, *, module_prefix: bool = True) -> Path:
    """Split the fixture into the five official files (the README's recipe), with DataParallel
    ``module.`` prefixes on the stitching file's keys as the published file may have."""
    combined = golden("liveportrait").checkpoint
    for name, rel in LIVEPORTRAIT_FILES.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        value = combined[name]
        if name == "stitching_retargeting_module":
            prefix = "module." if module_prefix else ""
            value = {e: {prefix + k: v.clone() for k, v in sd.items()} for e, sd in value.items()}
        else:
            value = {k: v.clone() for k, v in value.items()}
        torch.save(value, path)
    return folder


class _CreatesMarker:
    """Unpickling this calls open(marker, 'w'): proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


class TestLoading:
    def test_official_folder_layout_loads_and_matches(self, tmp_path, config, models):
        folder = _official_files(tmp_path / "pretrained_weights" / "liveportrait")
        for given in (folder, tmp_path, tmp_path / "pretrained_weights"):  # the folder or a parent of it
            loaded = load_checkpoint(given, config)
            assert loaded.path == folder
        for name, module in loaded.models.items():
            for key, value in module.state_dict().items():
                assert torch.equal(value, getattr(models, name).state_dict()[key]), f"{name}.{key}"
        again = load_checkpoint(_official_files(tmp_path / "copy"), config)
        assert again.sha256 == loaded.sha256 and len(loaded.sha256) == 64

    def test_combined_file_records_its_own_hash(self, fx, config):
        # engine manifests and state caches are keyed on it: the file's sha256, computed here with hashlib
        assert load_checkpoint(fx.checkpoint_path, config).sha256 == fx.checkpoint_sha256

    def test_detected_without_config(self, tmp_path):
        folder = _official_files(tmp_path / "lp")
        with pytest.raises(CheckpointError, match="wrong shape"):  # the public config, but tiny files
            load_checkpoint(folder)

    def test_missing_file_names_the_path_and_download(self, tmp_path, config):
        folder = _official_files(tmp_path / "liveportrait")
        (folder / LIVEPORTRAIT_FILES["warping_module"]).unlink()
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(folder, config)
        message = str(info.value)
        assert str(folder / LIVEPORTRAIT_FILES["warping_module"]) in message
        assert "huggingface.co/KwaiVGI/LivePortrait" in message

    def test_code_executing_file_refused(self, tmp_path, config):
        folder = _official_files(tmp_path / "liveportrait")
        marker = tmp_path / "pwned"
        torch.save({"detector.fc_kp.weight": _CreatesMarker(marker)}, folder / LIVEPORTRAIT_FILES["motion_extractor"])
        with pytest.raises(CheckpointError, match="refused") as info:
            load_checkpoint(folder, config)
        assert not marker.exists()
        assert "motion_extractor.pth" in str(info.value)

    def test_truncated_file_refused(self, tmp_path, config):
        folder = _official_files(tmp_path / "liveportrait")
        path = folder / LIVEPORTRAIT_FILES["spade_generator"]
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(CheckpointError, match="truncated or corrupted") as info:
            load_checkpoint(folder, config)
        assert str(path) in str(info.value)

    def test_wrong_architecture_lists_the_shapes(self, fx):
        network, reshaped = _first_public_mismatch(fx)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(fx.checkpoint_path, "liveportrait")
        message = str(info.value)
        assert f"entry {network!r}" in message and "--config" in message
        assert ("wrong shape" if reshaped else "missing from the file") in message

    def test_other_families_refused_both_ways(self, fx, config):
        with pytest.raises(CheckpointError, match="FOMM .*--engine fomm"):
            load_checkpoint(golden("fomm").checkpoint_path, config)
        with pytest.raises(CheckpointError, match="LivePortrait checkpoint.*--engine liveportrait"):
            load_checkpoint(fx.checkpoint_path, "fomm-vox-256")

    def test_single_bare_file_points_to_the_folder(self, tmp_path):
        folder = _official_files(tmp_path / "liveportrait")
        with pytest.raises(CheckpointError, match="bare state dict.*folder"):
            load_checkpoint(folder / LIVEPORTRAIT_FILES["motion_extractor"])

    def test_stitching_file_without_an_mlp(self, tmp_path, config):
        folder = _official_files(tmp_path / "liveportrait")
        path = folder / LIVEPORTRAIT_FILES["stitching_retargeting_module"]
        data = torch.load(path, weights_only=True)
        del data["retarget_eye"]
        torch.save(data, path)
        with pytest.raises(CheckpointError, match="retarget_eye"):
            load_checkpoint(folder, config)


# ---------------------------------------------------------------------------------------------


class TestCatalog:
    """``livehead models`` knows the five files and where each goes."""

    def test_found_only_when_complete(self, tmp_path, monkeypatch):
        from livehead.models.catalog import CATALOG, catalog_status, find_checkpoint, resolve_checkpoint

        entry = next(e for e in CATALOG if e.engine == "liveportrait")
        checkpoints = tmp_path / "checkpoints"
        _official_files(checkpoints / entry.file_names[0])
        assert find_checkpoint(entry, checkpoints) == checkpoints / entry.file_names[0]
        path, config = resolve_checkpoint("liveportrait", directory=checkpoints)
        assert path == checkpoints / entry.file_names[0] and config.engine == "liveportrait"
        (checkpoints / entry.file_names[0] / LIVEPORTRAIT_FILES["motion_extractor"]).unlink()
        assert find_checkpoint(entry, checkpoints) is None
        status = next(s for s in catalog_status(checkpoints) if s.name == entry.name)
        assert status.missing == (str(checkpoints / entry.file_names[0] / LIVEPORTRAIT_FILES["motion_extractor"]),)

    def test_missing_weights_name_each_file_the_folder_and_the_download(self, tmp_path):
        from livehead.models.catalog import resolve_checkpoint

        with pytest.raises(CheckpointError) as info:
            resolve_checkpoint("liveportrait", directory=tmp_path)
        message = str(info.value)
        for rel in LIVEPORTRAIT_FILES.values():
            assert str(tmp_path / "liveportrait" / rel) in message
        assert "huggingface-cli download KwaiVGI/LivePortrait" in message and f"--local-dir {tmp_path}" in message

    def test_engine_without_weights_says_where_to_put_them(self, tmp_path, monkeypatch):
        from livehead.animators import create_animator

        monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path))
        with pytest.raises(CheckpointError, match="base_models/motion_extractor.pth"):
            create_animator("liveportrait", device="cpu")
