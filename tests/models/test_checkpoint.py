"""Checkpoint loading: safety (no code runs), clear errors, strict key/shape checks, configs."""

from __future__ import annotations

import builtins
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

from golden import GoldenFixture, golden


class _CreatesMarker:
    """Unpickling this calls open(marker, 'w'), which creates the file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def fomm() -> GoldenFixture:
    return golden("fomm")


@pytest.fixture(scope="module")
def fv2v() -> GoldenFixture:
    return golden("fv2v")


@pytest.fixture(scope="module")
def fomm_state(fomm) -> dict:
    """The FOMM fixture checkpoint as saved (shared: tests copy before changing it)."""
    return fomm.checkpoint


@pytest.fixture(scope="module")
def fomm_config(fomm) -> configs.ModelConfig:
    return fomm.config(align_corners=False)


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


def _listed(message: str, heading: str) -> tuple[int, list[str], int]:
    """From a state-dict mismatch message: the count after ``heading``, the listed items, and the
    number in its "... and N more" line (0 when absent)."""
    lines = message.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {heading} ("))
    count = int(lines[start].split("(")[1].split(")")[0])
    items, more = [], 0
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        if line.startswith("    ... and "):
            more = int(line.split()[2])
        else:
            items.append(line.strip())
    return count, items, more


class TestWrongArchitecture:
    def test_fomm_file_for_fv2v(self, fomm):
        with pytest.raises(CheckpointError, match="is a FOMM .* checkpoint.*--engine fomm"):
            load_checkpoint(fomm.checkpoint_path, "fv2v-vox-256")

    def test_fv2v_file_for_fomm(self, fv2v):
        with pytest.raises(CheckpointError, match="face-vid2vid checkpoint.*--engine fv2v"):
            load_checkpoint(fv2v.checkpoint_path, "fomm-vox-256")

    def test_wrong_size_config_reports_every_problem(self, fomm):
        # What the public architecture expects vs what the file holds, entry by entry in load order;
        # the first entry that differs is the one reported (a tiny fixture differs in every entry).
        with torch.device("meta"):
            public = build_models(configs.FOMM_VOX_256)
        for entry, module in public.items():
            expected, saved = module.state_dict(), fomm.state_dict(entry)
            missing = [k for k in expected if k not in saved]
            unexpected = [k for k in saved if k not in expected]
            wrong = [f"{k} (file {list(saved[k].shape)} vs model {list(expected[k].shape)})"
                     for k in expected if k in saved and saved[k].shape != expected[k].shape]
            if missing or unexpected or wrong:
                break
        assert wrong, "the fixture has the public architecture's sizes: this test needs a reduced fixture"
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(fomm.checkpoint_path, "fomm-vox-256")
        message = str(info.value)
        assert str(fomm.checkpoint_path) in message and "fomm-vox-256" in message and f"entry {entry!r}" in message
        for heading, keys in (("missing from the file", missing), ("unexpected in the file", unexpected),
                              ("wrong shape", wrong)):
            if not keys:
                assert f"  {heading} (" not in message
                continue
            count, items, more = _listed(message, heading)
            # every problem counted, the first ones listed in order, the rest summed up
            assert count == len(keys) and items == keys[: len(items)] and len(items) + more == len(keys), heading
        assert "Fix:" in message and "--config" in message

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
    def test_fixture_loads_strictly(self, fomm, fomm_config):
        loaded = load_checkpoint(fomm.checkpoint_path, fomm_config)
        assert loaded.sha256 == fomm.checkpoint_sha256  # hashlib over the file, computed by the helper
        leftovers = tuple(k for k in fomm.checkpoint if k not in fomm.networks)  # e.g. ("epoch",)
        assert loaded.ignored_entries == leftovers and loaded.injected_keys == ()
        assert loaded.config is fomm_config and loaded.models.engine == "fomm"
        assert {name for name, _ in loaded.models.items()} == set(fomm.networks)
        for name, module in loaded.models.items():
            assert not module.training, name
            for key, value in module.state_dict().items():
                assert torch.equal(value, fomm.state_dict(name)[key]), (name, key)

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

    def test_engine_detected_when_no_config(self, fomm):
        # No config: the engine comes from the keys and its public architecture is used, which the
        # tiny fixture does not match: the error proves the FOMM config was chosen.
        with pytest.raises(CheckpointError, match="fomm-vox-256"):
            load_checkpoint(fomm.checkpoint_path)

    def test_public_config_names(self, fomm):
        with pytest.raises(InputError, match="Known: fomm-vox-256"):
            load_checkpoint(fomm.checkpoint_path, "vox-512")


def _rename(section: dict, old: str, new: str) -> None:
    section[new] = section.pop(old)


class TestModelConfig:
    def test_fixture_yamls(self, fomm, fv2v):
        config = load_model_config(fomm.yaml_path)
        assert config.engine == "fomm" and config.align_corners is True and config.name == fomm.yaml_path.stem
        assert config.model_params == fomm.model_params
        config = load_model_config(fv2v.yaml_path)
        assert config.engine == "fv2v" and config.align_corners is False
        assert config.network_params("generator")["align_corners"] is False
        assert "align_corners" not in config.network_params("he_estimator")

    def test_unknown_key_names_closest(self, tmp_path, fomm):
        (section,) = fomm.sections_with("num_bottleneck_blocks")
        path = fomm.write_yaml(tmp_path / "typo.yaml",
                               lambda p: _rename(p[section], "num_bottleneck_blocks", "num_botleneck_blocks"))
        with pytest.raises(InputError, match="num_botleneck_blocks.*did you mean 'num_bottleneck_blocks'") as info:
            load_model_config(path)
        assert str(path) in str(info.value)

    def test_unknown_dense_motion_key(self, tmp_path, fomm):
        (section,) = fomm.sections_with("dense_motion_params")
        path = fomm.write_yaml(tmp_path / "typo.yaml",
                               lambda p: _rename(p[section]["dense_motion_params"], "scale_factor", "scale_factr"))
        with pytest.raises(InputError, match="scale_factr.*dense_motion_params"):
            load_model_config(path)

    def test_key_in_common_and_section(self, tmp_path, fomm):
        # num_kp lives in common_params; repeating it in the keypoint detector's section is an error.
        (common,) = fomm.sections_with("num_kp")

        def duplicate(params: dict) -> None:
            params["kp_detector_params"]["num_kp"] = params[common]["num_kp"]

        with pytest.raises(InputError, match="num_kp given in both"):
            load_model_config(fomm.write_yaml(tmp_path / "dup.yaml", duplicate))

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
