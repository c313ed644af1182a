"""Checkpoint loading: safety (no code runs), clear errors, strict key/shape checks, configs."""

from __future__ import annotations

import builtins
import hashlib
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest

from _media import needs_extra

torch = needs_extra("neural", "torch")  # before the imports below, which need torch

from livehead.errors import CheckpointError, InputError
from livehead.models import configs
from livehead.models.checkpoint import detect_engine, load_checkpoint, read_checkpoint, sha256_file
from livehead.models.configs import build_models, load_model_config

from _media import reference as _need



class _CreatesMarker:
    """Unpickling this calls open(marker, 'w'), which creates the file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def fomm_state() -> dict:
    return torch.load(_need("fomm_tiny.pth.tar"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def fomm_config() -> configs.ModelConfig:
    return load_model_config(_need("fomm_tiny.yaml"), align_corners=False)


def _save(tmp_path: Path, obj: object, name: str = "ckpt.pth.tar", **kwargs) -> Path:
    path = tmp_path / name
    torch.save(obj, path, **kwargs)
    return path


class TestHostileFiles:
    def test_code_executing_torch_file_refused(self, tmp_path):
        marker = tmp_path / "pwned"
        path = _save(tmp_path, {"generator": _CreatesMarker(marker), "kp_detector": {}})
        assert not marker.exists()
        with pytest.raises(CheckpointError, match="refused") as info:
            load_checkpoint(path, "fomm-vox-256")
        assert not marker.exists()
        assert str(path) in str(info.value) and "never" in str(info.value)

    @pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
    def test_code_executing_plain_pickle_refused(self, protocol, tmp_path):
        """Whatever the pickle protocol: torch's safe loader stops on protocol 0 and 4+ opcodes before it
        reaches the global, so the file is read without running it to name what it would call."""
        marker = tmp_path / "pwned"
        path = tmp_path / "evil.pth.tar"
        path.write_bytes(pickle.dumps({"generator": _CreatesMarker(marker)}, protocol=protocol))
        with pytest.raises(CheckpointError, match="refused: it would run code") as info:
            read_checkpoint(path)
        assert "open" in str(info.value) and "damaged" not in str(info.value)
        assert not marker.exists()

    def test_junk_that_looks_like_a_pickle_is_corrupt_not_a_crash(self, tmp_path):
        path = tmp_path / "junk.pth.tar"
        path.write_bytes(b"\x80\x02junkjunkjunk" * 10)
        with pytest.raises(CheckpointError):
            read_checkpoint(path)


class TestBrokenFiles:
    def test_missing(self, tmp_path):
        with pytest.raises(CheckpointError, match="does not exist.*--checkpoint"):
            read_checkpoint(tmp_path / "vox-cpk.pth.tar")

    def test_directory(self, tmp_path):
        with pytest.raises(CheckpointError, match="not a file"):
            read_checkpoint(tmp_path)

    def test_empty(self, tmp_path):
        path = tmp_path / "vox-cpk.pth.tar"
        path.touch()
        with pytest.raises(CheckpointError, match="empty") as info:
            read_checkpoint(path)
        assert str(path) in str(info.value) and "Download it again" in str(info.value)

    @pytest.mark.parametrize("zip_format", [True, False])
    def test_truncated(self, tmp_path, zip_format):
        whole = _save(tmp_path, {"generator": {"w": torch.randn(4096)}, "kp_detector": {}},
                      _use_new_zipfile_serialization=zip_format)
        data = whole.read_bytes()
        path = tmp_path / "truncated.pth.tar"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError, match="truncated or corrupted") as info:
            read_checkpoint(path)
        assert str(path) in str(info.value) and "Download it again" in str(info.value)

    def test_not_a_checkpoint(self, tmp_path):
        path = tmp_path / "photo.pth.tar"
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
        with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
            read_checkpoint(path)

    def test_html_error_page(self, tmp_path):
        path = tmp_path / "vox-cpk.pth.tar"
        path.write_text("<!DOCTYPE html><html>Google Drive - Quota exceeded</html>")
        with pytest.raises(CheckpointError, match="HTML"):
            read_checkpoint(path)

    def test_tensor_not_dict(self, tmp_path):
        with pytest.raises(CheckpointError, match="holds a Tensor"):
            read_checkpoint(_save(tmp_path, torch.zeros(3)))

    def test_bare_state_dict(self, tmp_path):
        with pytest.raises(CheckpointError, match="bare state dict"):
            read_checkpoint(_save(tmp_path, {"fc.weight": torch.zeros(2, 2)}))

    def test_non_tensor_values(self, tmp_path):
        path = _save(tmp_path, {"generator": {"w": [1, 2]}, "kp_detector": {}})
        with pytest.raises(CheckpointError, match="not tensors"):
            read_checkpoint(path)


class TestWrongArchitecture:
    def test_fomm_file_for_fv2v(self):
        with pytest.raises(CheckpointError, match="is a FOMM .* checkpoint.*--engine fomm"):
            load_checkpoint(_need("fomm_tiny.pth.tar"), "fv2v-vox-256")

    def test_fv2v_file_for_fomm(self):
        with pytest.raises(CheckpointError, match="face-vid2vid checkpoint.*--engine fv2v"):
            load_checkpoint(_need("fv2v_tiny.pth.tar"), "fomm-vox-256")

    def test_wrong_size_config_reports_every_problem(self):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(_need("fomm_tiny.pth.tar"), "fomm-vox-256")
        message = str(info.value)
        assert str(_need("fomm_tiny.pth.tar")) in message and "fomm-vox-256" in message
        assert "missing from the file (28)" in message
        assert "wrong shape" in message
        assert "predictor.encoder.down_blocks.0.conv.weight (file [16, 3, 3, 3] vs model [64, 3, 3, 3])" in message
        assert "... and" in message and "Fix:" in message and "--config" in message

    def test_unexpected_and_missing_keys(self, tmp_path, fomm_state, fomm_config):
        state = dict(fomm_state)
        generator = OrderedDict(state["generator"])
        generator["extra.weight"] = torch.zeros(1)
        del generator["final.bias"]
        state["generator"] = generator
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(_save(tmp_path, state), fomm_config)
        message = str(info.value)
        assert "entry 'generator'" in message
        assert "missing from the file (1):\n    final.bias" in message
        assert "unexpected in the file (1):\n    extra.weight" in message

    def test_dataparallel_prefix_hint(self, tmp_path, fomm_state, fomm_config):
        state = dict(fomm_state)
        state["kp_detector"] = {"module." + k: v for k, v in fomm_state["kp_detector"].items()}
        with pytest.raises(CheckpointError, match="module."):
            load_checkpoint(_save(tmp_path, state), fomm_config)

    def test_missing_network_entry(self, tmp_path, fomm_state, fomm_config):
        state = {"generator": fomm_state["generator"], "epoch": 1}
        with pytest.raises(CheckpointError, match="lacks the 'kp_detector' entry"):
            load_checkpoint(_save(tmp_path, state), fomm_config)

    def test_detect_engine(self, fomm_state):
        assert detect_engine(fomm_state) == "fomm"
        assert detect_engine({"kp_detector": {"predictor.down_blocks.down0.conv.weight": None}}) == "fv2v"
        assert detect_engine({"generator": {"x": None}}) is None


class TestLoadCheckpoint:
    def test_fixture_loads_strictly(self, fomm_config):
        path = _need("fomm_tiny.pth.tar")
        loaded = load_checkpoint(path, fomm_config)
        assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert loaded.sha256.startswith("a3e996b54ddd0665")  # README's table
        assert loaded.ignored_entries == ("epoch",) and loaded.injected_keys == ()
        assert loaded.config is fomm_config and loaded.models.engine == "fomm"
        for name, module in loaded.models.items():
            assert not module.training, name
        reference = torch.load(path, map_location="cpu", weights_only=True)
        for name, module in loaded.models.items():
            for key, value in module.state_dict().items():
                assert torch.equal(value, reference[name][key]), (name, key)

    def test_training_entries_ignored(self, tmp_path, fomm_state, fomm_config):
        state = {**fomm_state, "discriminator": {"w": torch.zeros(2)}, "optimizer_generator": {"state": {}},
                 "optimizer_kp_detector": {"param_groups": []}}
        loaded = load_checkpoint(_save(tmp_path, state), fomm_config)
        assert set(loaded.ignored_entries) == {"epoch", "discriminator", "optimizer_generator", "optimizer_kp_detector"}

    def test_legacy_serialization_loads(self, tmp_path, fomm_state, fomm_config):
        # The public FOMM files were written by torch 1.0, before the zip format.
        path = _save(tmp_path, fomm_state, _use_new_zipfile_serialization=False)
        loaded = load_checkpoint(path, fomm_config)
        assert loaded.sha256 == sha256_file(path)

    def test_missing_num_batches_tracked_injected(self, tmp_path, fomm_state, fomm_config):
        state = {
            name: {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")} if isinstance(sd, dict) else sd
            for name, sd in fomm_state.items()
        }
        loaded = load_checkpoint(_save(tmp_path, state), fomm_config)
        assert "generator/first.norm.num_batches_tracked" in loaded.injected_keys
        assert len(loaded.injected_keys) == sum(k.endswith("num_batches_tracked") for sd in fomm_state.values()
                                                if isinstance(sd, dict) for k in sd)
        assert loaded.models.generator.first.norm.num_batches_tracked.item() == 0

    def test_engine_detected_when_no_config(self):
        # No config: the engine comes from the keys and its public architecture is used, which the
        # tiny fixture does not match: the error proves the FOMM config was chosen.
        with pytest.raises(CheckpointError, match="fomm-vox-256"):
            load_checkpoint(_need("fomm_tiny.pth.tar"))

    def test_public_config_names(self):
        with pytest.raises(InputError, match="Known: fomm-vox-256"):
            load_checkpoint(_need("fomm_tiny.pth.tar"), "vox-512")


class TestModelConfig:
    def test_fixture_yamls(self):
        fomm = load_model_config(_need("fomm_tiny.yaml"))
        assert fomm.engine == "fomm" and fomm.align_corners is True and fomm.name == "fomm_tiny"
        fv2v = load_model_config(_need("fv2v_tiny.yaml"))
        assert fv2v.engine == "fv2v" and fv2v.align_corners is False
        assert fv2v.network_params("generator")["align_corners"] is False
        assert "align_corners" not in fv2v.network_params("he_estimator")

    def test_unknown_key_names_closest(self, tmp_path):
        text = _need("fomm_tiny.yaml").read_text().replace("num_bottleneck_blocks", "num_botleneck_blocks")
        path = tmp_path / "typo.yaml"
        path.write_text(text)
        with pytest.raises(InputError, match="num_botleneck_blocks.*did you mean 'num_bottleneck_blocks'") as info:
            load_model_config(path)
        assert str(path) in str(info.value)

    def test_unknown_dense_motion_key(self, tmp_path):
        text = _need("fomm_tiny.yaml").read_text().replace("scale_factor: 0.25}", "scale_factr: 0.25}")
        path = tmp_path / "typo.yaml"
        path.write_text(text)
        with pytest.raises(InputError, match="scale_factr.*dense_motion_params"):
            load_model_config(path)

    def test_key_in_common_and_section(self, tmp_path):
        text = _need("fomm_tiny.yaml").read_text().replace("num_blocks: 3}", "num_blocks: 3, num_kp: 10}")
        path = tmp_path / "dup.yaml"
        path.write_text(text)
        with pytest.raises(InputError, match="num_kp given in both"):
            load_model_config(path)

    def test_not_a_model_yaml(self, tmp_path):
        path = tmp_path / "other.yaml"
        path.write_text("dataset_params: {root_dir: x}\n")
        with pytest.raises(InputError, match="no 'model_params'"):
            load_model_config(path)
        path.write_text("model_params: [unclosed\n")
        with pytest.raises(InputError, match="not valid YAML"):
            load_model_config(path)
        with pytest.raises(InputError, match="Cannot read"):
            load_model_config(tmp_path / "absent.yaml")

    def test_public_configs_build(self):
        for config in configs.PUBLIC_CONFIGS.values():
            with torch.device("meta"):
                models = build_models(config)
            assert models.engine == config.engine
            assert (models.he_estimator is not None) == (config.engine == "fv2v")
