"""Backends: resolution (auto logs its choice; explicit requests never fall back), the registry,
the torch and ONNX Runtime runners against the golden fixtures, and the TensorRT runner's
refusals (module missing, plans built for another machine) without a GPU."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest

from _media import needs_extra

torch = needs_extra("neural", "torch")  # before the imports below, which need torch

from livehead.errors import EngineMismatchError, LiveHeadError

from golden import golden


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_tensorrt(monkeypatch):
    """Make ``import tensorrt`` fail even where it is installed."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


@pytest.fixture
def fake_tensorrt(monkeypatch):
    """An importable ``tensorrt`` with only a version: enough to reach the manifest checks."""
    module = types.ModuleType("tensorrt")
    module.__version__ = "11.4.0.106"
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    return module


def _write_plan_manifest(folder: Path, graphs, *, gpu="NVIDIA H100 80GB HBM3", cc="9.0", trt="11.4.0.106",
                         sha=None, precision="fp16"):
    from livehead.runtime.manifest import ManifestEntry, build_command, read_manifest, sha256_bytes

    manifest = read_manifest(folder)
    for name, spec in graphs.graphs.items():
        plan = f"{graphs.engine}_{name}_{precision}.plan"
        (folder / plan).write_bytes(b"not a real plan")
        manifest.put(ManifestEntry(
            engine=graphs.engine, graph=name, precision=precision, image_size=graphs.image_size,
            checkpoint=graphs.checkpoint, checkpoint_sha256=sha or graphs.checkpoint_sha256,
            onnx=f"{graphs.engine}_{name}_{precision}.onnx", onnx_sha256="0" * 64, inputs={}, outputs={},
            build_command=build_command(graphs.engine, graphs.checkpoint, precision), plan=plan,
            plan_sha256=sha256_bytes(b"not a real plan"), tensorrt_version=trt, gpu_name=gpu, compute_capability=cc))
    manifest.save()


# ---------------------------------------------------------------------------------------------


class TestResolveBackend:
    def test_auto_on_cpu_logs_choice_and_reason(self, caplog, tmp_path):
        from livehead.runtime import resolve_backend

        with caplog.at_level(logging.INFO, logger="livehead.runtime"):
            choice = resolve_backend("auto", "cpu", engine="fomm", engines_dir=tmp_path)
        assert (choice.backend, choice.device) == ("torch", "cpu")
        assert "not onnxruntime because no exported fomm fp32 ONNX graphs" in choice.reason
        assert any("backend: torch on cpu (auto: PyTorch eager" in r.getMessage() for r in caplog.records)

    def test_auto_on_cpu_prefers_onnxruntime_with_exported_graphs(self, caplog, tmp_path):
        from livehead.runtime import resolve_backend
        from livehead.runtime.manifest import ManifestEntry, read_manifest, sha256_bytes

        manifest = read_manifest(tmp_path)
        (tmp_path / "fomm_generator_fp32.onnx").write_bytes(b"onnx bytes")
        manifest.put(ManifestEntry(engine="fomm", graph="generator", precision="fp32", image_size=256,
                                   checkpoint="c.pth.tar", checkpoint_sha256="a" * 64, onnx="fomm_generator_fp32.onnx",
                                   onnx_sha256=sha256_bytes(b"onnx bytes"), inputs={}, outputs={}, build_command="x"))
        manifest.save()
        with caplog.at_level(logging.INFO, logger="livehead.runtime"):
            choice = resolve_backend("auto", "cpu", engine="fomm", engines_dir=tmp_path, checkpoint_sha256="a" * 64)
        assert choice.backend == "onnxruntime"
        assert any("backend: onnxruntime on cpu (auto" in r.getMessage() for r in caplog.records)
        other = resolve_backend("auto", "cpu", engine="fomm", engines_dir=tmp_path, checkpoint_sha256="b" * 64)
        assert other.backend == "torch" and "checkpoint sha256" in other.reason

    def test_explicit_tensorrt_is_never_replaced(self, no_tensorrt, monkeypatch):
        from livehead.runtime import registry as base, resolve_backend

        with pytest.raises(LiveHeadError, match="needs a CUDA GPU"):
            resolve_backend("tensorrt", "cpu")
        monkeypatch.setattr(base, "cuda_available", lambda: True)  # pretend a GPU, TensorRT still missing
        with pytest.raises(LiveHeadError, match="pip install tensorrt-cu12"):
            resolve_backend("tensorrt", "cuda")

    def test_explicit_tensorrt_with_foreign_plans(self, fake_tensorrt, monkeypatch, tmp_path):
        from livehead.runtime import registry as base, resolve_backend
        from livehead.runtime import manifest as manifest_mod

        gs = types.SimpleNamespace(engine="fomm", image_size=256, checkpoint="vox-cpk.pth.tar",
                                   checkpoint_sha256="a" * 64, graphs={"generator": None})
        _write_plan_manifest(tmp_path, gs, gpu="NVIDIA A100-SXM4-80GB", cc="8.0")
        monkeypatch.setattr(base, "cuda_available", lambda: True)
        monkeypatch.setattr(manifest_mod, "current_machine", lambda *a: manifest_mod.MachineInfo(
            "NVIDIA GeForce RTX 4090", "8.9", "11.4.0.106"))
        with pytest.raises(EngineMismatchError, match="python build_engines.py --engine fomm --checkpoint vox-cpk.pth.tar"):
            resolve_backend("tensorrt", "cuda", engine="fomm", precision="fp16", engines_dir=tmp_path,
                            checkpoint_sha256="a" * 64)
        auto = resolve_backend("auto", "cuda", engine="fomm", precision="fp16", engines_dir=tmp_path,
                               checkpoint_sha256="a" * 64)
        assert auto.backend == "torch" and "RTX 4090" in auto.reason  # auto says why not tensorrt

    def test_device_cuda_without_gpu(self, monkeypatch):
        from livehead.runtime import registry as base, resolve_backend

        monkeypatch.setattr(base, "cuda_available", lambda: False)
        with pytest.raises(LiveHeadError, match="--device cpu"):
            resolve_backend("torch", "cuda")

    def test_fp16_on_cpu_is_an_error(self):
        from livehead.runtime import resolve_backend

        with pytest.raises(LiveHeadError, match="fp16 needs a CUDA GPU"):
            resolve_backend("torch", "cpu", precision="fp16")

    def test_onnxruntime_cuda_without_provider(self, monkeypatch):
        import onnxruntime

        from livehead.runtime import registry as base, resolve_backend

        monkeypatch.setattr(base, "cuda_available", lambda: True)
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
        with pytest.raises(LiveHeadError, match="onnxruntime-gpu"):
            resolve_backend("onnxruntime", "cuda")

    def test_unknown_backend_lists_registered(self):
        from livehead.runtime import resolve_backend

        with pytest.raises(LiveHeadError, match="auto, onnxruntime, tensorrt, torch"):
            resolve_backend("tvm", "cpu")


class TestRegistry:
    def test_register_a_fake_backend(self):
        from livehead.runtime import create_runner, register_backend, resolve_backend, unregister_backend

        calls = []

        class Recording:
            backend, device, precision = "recording", "cpu", "fp32"

            def __init__(self, **kwargs):
                calls.append(kwargs)

            def run(self, graph, inputs):
                return {"echo": inputs["x"]}

        register_backend("recording", Recording)
        try:
            assert resolve_backend("recording", "cpu").backend == "recording"
            runner = create_runner("recording", graphs="G", device="cpu", precision="fp32", cuda_graphs=False)
            assert calls == [{"graphs": "G", "device": "cpu", "precision": "fp32", "cuda_graphs": False}]
            assert runner.run("any", {"x": 1}) == {"echo": 1}
        finally:
            unregister_backend("recording")
        with pytest.raises(LiveHeadError, match="Unknown backend 'recording'"):
            create_runner("recording", graphs=None, device="cpu", precision="fp32")

    def test_auto_tries_registered_backends_in_order_and_reports_each_reason(self, tmp_path):
        from livehead.errors import LiveHeadError as Refusal
        from livehead.runtime import register_backend, resolve_backend, unregister_backend

        register_backend("refuses", object, probe=lambda request: Refusal("needs a quantum computer"),
                         auto_devices=("cpu",), priority=1)
        register_backend("accepts", object, auto_devices=("cpu",), priority=2, why="the fake that always works")
        try:
            choice = resolve_backend("auto", "cpu", engine="fomm", engines_dir=tmp_path)
            assert choice.backend == "accepts"
            assert "the fake that always works" in choice.reason
            assert "not refuses because needs a quantum computer" in choice.reason
            with pytest.raises(LiveHeadError, match="--backend refuses on cpu: needs a quantum computer"):
                resolve_backend("refuses", "cpu")
        finally:
            unregister_backend("refuses")
            unregister_backend("accepts")

    def test_auto_must_be_resolved_first(self):
        from livehead.runtime import create_runner

        with pytest.raises(LiveHeadError, match="resolve_backend"):
            create_runner("auto", graphs=None, device="cpu", precision="fp32")


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fomm_tiny():
    """The FOMM fixture's graphs at its own image size."""
    return golden("fomm").graphs()


@pytest.fixture(scope="module")
def fomm_io():
    return golden("fomm").arrays


def _golden_frames(runner, engine, io):
    """Run the per-avatar/per-frame path on every driving frame of the fixture and return
    max |pred - stored| per frame (frame 0 calibrates: zero relative motion)."""
    from livehead.runtime.frame_path import FramePath

    path = FramePath(runner, engine)
    driving = torch.from_numpy(io["driving"])
    path.prepare(torch.from_numpy(io["source"]), driving[0:1])
    return [float((path.step(driving[i:i + 1]).cpu() - torch.from_numpy(io["gen_rel_prediction"][i])).abs().max())
            for i in range(len(driving))]


class TestTorchRunner:
    def test_fomm_reproduces_the_reference(self, fomm_tiny, fomm_io):
        from livehead.runtime import create_runner

        runner = create_runner("torch", fomm_tiny, "cpu", "fp32")
        assert runner.describe() == {"backend": "torch", "device": "cpu", "precision": "fp32", "detail": "fp32, eager"}
        # FOMM end to end (kp detector -> normalize_kp -> generator) is well conditioned: README
        # float64 vs stored prediction 1.8e-5.
        assert max(_golden_frames(runner, "fomm", fomm_io)) <= 1e-4

    def test_fv2v_reproduces_the_reference(self):
        from livehead.runtime import create_runner

        fx = golden("fv2v")
        runner = create_runner("torch", fx.graphs(), "cpu", "fp32")
        errors = _golden_frames(runner, "fv2v", fx.arrays)
        assert errors[0] <= 2e-4  # frame 0 is the calibration frame: relative motion is zero
        assert max(errors) <= 2e-2  # README: face-vid2vid end to end from images ~2e-2

    def test_outputs_are_float32_and_fresh(self, fomm_tiny):
        from livehead.runtime import create_runner

        runner = create_runner("torch", fomm_tiny, "cpu", "fp32")
        x = fomm_tiny.example_inputs("kp_detector")
        a = runner.run("kp_detector", x)
        b = runner.run("kp_detector", x)
        assert a["kp_value"].dtype == torch.float32 and a["kp_value"] is not b["kp_value"]
        with pytest.raises(LiveHeadError, match="source_encoder"):
            runner.run("decoder", x)

    def test_fp16_needs_cuda(self, fomm_tiny):
        from livehead.runtime import create_runner

        with pytest.raises(LiveHeadError, match="fp16 needs --device cuda"):
            create_runner("torch", fomm_tiny, "cpu", "fp16")


class TestOrtRunner:
    def test_fomm_reproduces_the_reference(self, fomm_tiny, fomm_io, caplog):
        from livehead.runtime import create_runner

        with caplog.at_level(logging.INFO, logger="livehead.runtime"):
            runner = create_runner("onnxruntime", fomm_tiny, "cpu", "fp32", engines_dir=None)
        assert "exported kp_detector in memory" in caplog.text
        assert runner.describe()["detail"].startswith("providers CPUExecutionProvider")
        assert max(_golden_frames(runner, "fomm", fomm_io)) <= 1e-4


class TestTensorRTRunner:
    def test_reports_absence_cleanly(self, no_tensorrt, fomm_tiny):
        from livehead.runtime import create_runner

        with pytest.raises(LiveHeadError) as info:
            create_runner("tensorrt", fomm_tiny, "cuda", "fp16")
        message = str(info.value)
        assert "tensorrt module cannot be imported" in message
        assert "pip install tensorrt-cu12" in message and "--backend torch" in message

    def test_no_plans_names_the_build_command(self, fake_tensorrt, fomm_tiny, tmp_path):
        from livehead.runtime import create_runner

        with pytest.raises(EngineMismatchError) as info:
            create_runner("tensorrt", fomm_tiny, "cuda", "fp16", engines_dir=tmp_path)
        assert "has no fp16 TensorRT plan for fomm/kp_detector" in str(info.value)
        assert f"python build_engines.py --engine fomm --checkpoint {fomm_tiny.checkpoint} --precision fp16" in str(info.value)

    @pytest.mark.parametrize("where,expect", [
        (dict(gpu="NVIDIA A100-SXM4-80GB", cc="8.0"), "this machine has 'NVIDIA H100 80GB HBM3'"),
        (dict(cc="8.9"), "built for compute capability sm_89, this GPU is sm_90"),
        (dict(trt="10.13.3.9"), "built with TensorRT 10.13.3.9, this machine has 11.4.0.106"),
        (dict(sha="f" * 64), "the checkpoint in use has sha256"),
    ])
    def test_mismatched_plans_are_refused(self, fake_tensorrt, fomm_tiny, tmp_path, where, expect):
        from livehead.runtime import create_runner
        from livehead.runtime.manifest import MachineInfo

        _write_plan_manifest(tmp_path, fomm_tiny, **where)
        here = MachineInfo("NVIDIA H100 80GB HBM3", "9.0", "11.4.0.106")
        with pytest.raises(EngineMismatchError) as info:
            create_runner("tensorrt", fomm_tiny, "cuda", "fp16", engines_dir=tmp_path, machine=here)
        message = str(info.value)
        assert expect in message
        assert "Rebuild it here with: python build_engines.py --engine fomm --checkpoint" in message

    def test_matching_plans_still_need_a_gpu(self, fake_tensorrt, fomm_tiny, tmp_path):
        from livehead.runtime import create_runner
        from livehead.runtime.manifest import MachineInfo

        if torch.cuda.is_available():
            pytest.skip("this check is for machines without CUDA")
        _write_plan_manifest(tmp_path, fomm_tiny)
        here = MachineInfo("NVIDIA H100 80GB HBM3", "9.0", "11.4.0.106")
        with pytest.raises(LiveHeadError, match="needs --device cuda"):
            create_runner("tensorrt", fomm_tiny, "cuda", "fp16", engines_dir=tmp_path, machine=here)


def test_import_livehead_runtime_is_light():
    import subprocess

    code = ("import sys, livehead.runtime, livehead.export; "
            "bad = [m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
