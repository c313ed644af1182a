"""The engines manifest: what each TensorRT plan was built from and for, and the refusal (with the
rebuild command) of a plan built for another machine, checkpoint or version."""

from __future__ import annotations

import pytest

from livehead.errors import EngineMismatchError
from livehead.runtime.manifest import (
    MachineInfo,
    ManifestEntry,
    build_command,
    check_plan_entry,
    read_manifest,
    sha256_bytes,
)


class TestManifest:
    def _entry(self, **overrides):
        fields = dict(engine="fomm", graph="generator", precision="fp16", image_size=256,
                      checkpoint="vox-cpk.pth.tar", checkpoint_sha256="a" * 64,
                      onnx="fomm_generator_fp16.onnx", onnx_sha256="b" * 64, inputs={}, outputs={},
                      build_command=build_command("fomm", "vox-cpk.pth.tar", "fp16"),
                      plan="fomm_generator_fp16.plan", plan_sha256=None, tensorrt_version="11.4.0.106",
                      gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
        fields.update(overrides)
        return ManifestEntry(**fields)

    def _machine(self, **overrides):
        fields = dict(gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0", tensorrt_version="11.4.0.106")
        fields.update(overrides)
        return MachineInfo(**fields)

    def test_round_trip(self, tmp_path):
        manifest = read_manifest(tmp_path)
        assert manifest.entries == {}
        manifest.put(self._entry())
        manifest.save()
        again = read_manifest(tmp_path)
        assert again.find("fomm", "generator", "fp16") == self._entry(built_at=again.entries["fomm_generator_fp16"].built_at)
        assert again.find("fomm", "generator", "fp32") is None

    def test_matching_plan_is_accepted(self, tmp_path):
        (tmp_path / "fomm_generator_fp16.plan").write_bytes(b"plan")
        entry = self._entry(plan_sha256=sha256_bytes(b"plan"))
        assert check_plan_entry(entry, self._machine(), checkpoint_sha256="a" * 64, engines_dir=tmp_path) == \
            tmp_path / "fomm_generator_fp16.plan"

    @pytest.mark.parametrize("machine,sha,expect", [
        (dict(gpu_name="NVIDIA GeForce RTX 3060"), "a" * 64, "RTX 3060"),
        (dict(compute_capability="8.6"), "a" * 64, "sm_90, this GPU is sm_86"),
        (dict(tensorrt_version="11.2.1.2"), "a" * 64, "TensorRT 11.4.0.106, this machine has 11.2.1.2"),
        (dict(tensorrt_version=None), "a" * 64, "TensorRT is not installed"),
        ({}, "c" * 64, "checkpoint sha256"),
    ])
    def test_mismatch_is_refused_with_rebuild_command(self, tmp_path, machine, sha, expect):
        (tmp_path / "fomm_generator_fp16.plan").write_bytes(b"plan")
        with pytest.raises(EngineMismatchError) as info:
            check_plan_entry(self._entry(), self._machine(**machine), checkpoint_sha256=sha, engines_dir=tmp_path)
        message = str(info.value)
        assert expect in message
        assert "python build_engines.py --engine fomm --checkpoint vox-cpk.pth.tar --precision fp16" in message

    def test_changed_plan_file_is_refused(self, tmp_path):
        (tmp_path / "fomm_generator_fp16.plan").write_bytes(b"truncated")
        with pytest.raises(EngineMismatchError, match="does not match the sha256"):
            check_plan_entry(self._entry(plan_sha256=sha256_bytes(b"plan")), self._machine(),
                             checkpoint_sha256=None, engines_dir=tmp_path)

    def test_onnx_only_entry_says_build_the_plan(self, tmp_path):
        with pytest.raises(EngineMismatchError, match="only the ONNX export"):
            check_plan_entry(self._entry(plan=None), self._machine(), checkpoint_sha256=None, engines_dir=tmp_path)

    def test_build_command_quotes_paths(self):
        assert build_command("fv2v", "my ckpt.pth.tar", "fp32", config="c.yaml") == \
            "python build_engines.py --engine fv2v --checkpoint 'my ckpt.pth.tar' --config c.yaml --precision fp32"
        assert build_command("fomm", None, "fp16") == "python build_engines.py --engine fomm --random-weights --precision fp16"
