"""The runtime's doctor checks: built engines matched against this machine, malformed manifests never raise."""

from __future__ import annotations

from pathlib import Path

import pytest

from livehead.runtime import checks as runtime_checks


class TestCheckEngines:
    GPU = {"cuda": True, "name": "NVIDIA H100", "capability": "9.0", "torch_cuda_build": "12.8"}

    @pytest.fixture
    def engines(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        directory = tmp_path / "engines"
        directory.mkdir()
        monkeypatch.setattr(runtime_checks, "_engine_dirs", lambda: [directory])
        return directory

    def entry(self, mf: object, directory: Path, graph: str, **kw: object) -> object:
        onnx = directory / f"fomm_{graph}.onnx"
        onnx.write_bytes(graph.encode())
        fields = dict(engine="fomm", graph=graph, precision="fp16", image_size=256, checkpoint="vox-cpk.pth.tar",
                      checkpoint_sha256="c0ffee", onnx=onnx.name, onnx_sha256=mf.sha256_file(onnx),  # type: ignore[attr-defined]
                      inputs={}, outputs={}, build_command=f"python build_engines.py --engine fomm --graph {graph}")
        fields.update(kw)
        return mf.ManifestEntry(**fields)  # type: ignore[attr-defined]

    def test_none(self, engines: Path) -> None:
        [check] = runtime_checks.check_engines({"cuda": False}, None)
        assert check.status == "info" and "build_engines.py" in check.detail

    def test_match_mismatch_and_onnx_only(self, engines: Path) -> None:
        mf = pytest.importorskip("livehead.runtime.manifest")
        (engines / "a.plan").write_bytes(b"x")
        (engines / "b.plan").write_bytes(b"x")
        manifest = mf.Manifest(path=engines / "manifest.json")
        plan = dict(tensorrt_version="11.0.0", gpu_name="NVIDIA H100")
        manifest.put(self.entry(mf, engines, "kp", plan="a.plan", compute_capability="9.0", **plan))
        manifest.put(self.entry(mf, engines, "gen", plan="b.plan", compute_capability="8.6", **plan))
        manifest.put(self.entry(mf, engines, "dense"))
        manifest.save()
        checks = {c.name: c for c in runtime_checks.check_engines(self.GPU, "11.0.0")}
        assert checks["fomm_kp_fp16"].status == "ok"
        assert checks["fomm_gen_fp16"].status == "warn" and "sm_86" in checks["fomm_gen_fp16"].detail
        assert checks["fomm_gen_fp16"].fix.startswith("python build_engines.py --engine fomm --graph gen")
        assert checks["fomm_dense_fp16"].status == "ok" and "onnxruntime" in checks["fomm_dense_fp16"].detail
        no_gpu = {c.name: c for c in runtime_checks.check_engines({"cuda": False}, None)}
        assert no_gpu["fomm_kp_fp16"].status == "warn" and "no CUDA GPU" in no_gpu["fomm_kp_fp16"].detail

    @pytest.mark.parametrize("text", ["not json", "[]", '{"format": 99}', '{"format": 1, "entries": {"x": {"bogus": 1}}}'])
    def test_malformed_manifest_never_raises(self, engines: Path, text: str) -> None:
        pytest.importorskip("livehead.runtime.manifest")
        (engines / "manifest.json").write_text(text)
        for check in runtime_checks.check_engines(self.GPU, None):
            assert check.status in ("info", "warn")
