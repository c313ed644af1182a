"""``build_engines.py`` end to end on the tiny FOMM fixture: ONNX-only builds, the report when
TensorRT is missing, and the TensorRT build path against a stand-in ``tensorrt`` module that
implements the TensorRT 11 calls build_engines makes (no GPU here); plus ``gpu_bench`` without a GPU.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest

from _media import needs_extra

torch = needs_extra("neural", "torch")  # before the imports below, which need torch

from livehead.errors import EngineMismatchError

from golden import golden
from helpers import REPO



pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _args(out: Path, precision: str, *extra: str, engine: str = "fomm") -> list[str]:
    fx = golden(engine)
    return ["--engine", engine, "--checkpoint", str(fx.checkpoint_path), "--config", str(fx.yaml_path),
            "--precision", precision, "--out", str(out), *extra]


def make_fake_tensorrt(version: str = "11.4.0.106"):
    """The subset of the TensorRT 11 Python API that build_engines and the runner use. The
    "plan" is the JSON of the parsed ONNX file's I/O, so the engine read back has real names."""
    import onnx

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class DataType:
        FLOAT, HALF, INT32, BOOL, INT8, INT64 = "FLOAT", "HALF", "INT32", "BOOL", "INT8", "INT64"

    class TensorIOMode:
        INPUT, OUTPUT = "INPUT", "OUTPUT"

    class NetworkDefinitionCreationFlag:
        STRONGLY_TYPED = 0

    class MemoryPoolType:
        WORKSPACE = 0

    class BuilderFlag:
        TF32 = 1

    class IProgressMonitor:
        def __init__(self):
            pass

    class Network:
        io: list = []

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            self.network = network

        def parse_from_file(self, path):
            model = onnx.load(path)
            modes = [a.s.decode() for n in model.graph.node if n.op_type == "GridSample" for a in n.attribute
                     if a.name == "mode"]
            trt.calls.append(("parse", Path(path).name, modes))
            elem = {1: "FLOAT", 10: "HALF"}
            self.network.io = [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim],
                                elem[v.type.tensor_type.elem_type], mode)
                               for vs, mode in ((model.graph.input, "INPUT"), (model.graph.output, "OUTPUT")) for v in vs]
            return True

    class TimingCache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return self.data + b"+timing"

    class Config:
        progress_monitor = None
        builder_optimization_level = 3

        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("workspace", size))

        def clear_flag(self, flag):
            trt.calls.append(("clear_flag", flag))

        def create_timing_cache(self, data):
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            trt.calls.append(("timing_cache", cache.data, ignore_mismatch))
            return True

        def get_timing_cache(self):
            return self.cache

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            trt.calls.append(("create_network", flags))
            return Network()

        def create_builder_config(self):
            return Config()

        def build_serialized_network(self, network, config):
            monitor = config.progress_monitor
            if monitor is not None:
                monitor.phase_start("Building engine", None, 2)
                monitor.phase_start("Tactic selection", "Building engine", 3)
                for step in range(3):
                    assert monitor.step_complete("Tactic selection", step) is True
                monitor.phase_finish("Tactic selection")
                monitor.phase_finish("Building engine")
            return json.dumps(network.io).encode()

    class Engine:
        def __init__(self, io):
            self.io = io
            self.num_io_tensors = len(io)

        def get_tensor_name(self, i):
            return self.io[i][0]

        def _row(self, name):
            return next(r for r in self.io if r[0] == name)

        def get_tensor_shape(self, name):
            return self._row(name)[1]

        def get_tensor_dtype(self, name):
            return self._row(name)[2]

        def get_tensor_mode(self, name):
            return self._row(name)[3]

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, plan):
            return Engine(json.loads(plan))

    for obj in (Logger, DataType, TensorIOMode, NetworkDefinitionCreationFlag, MemoryPoolType, BuilderFlag,
                IProgressMonitor, OnnxParser, Builder, Runtime):
        setattr(trt, obj.__name__, obj)
    return trt


class TestOnnxOnly:
    def test_fp32_export_is_reused_by_onnxruntime(self, tmp_path, caplog):
        from livehead.runtime import create_runner, resolve_backend
        from livehead.export.build import main
        from livehead.runtime.manifest import read_manifest, sha256_file

        fx = golden("fomm")
        assert main(_args(tmp_path, "fp32", "--onnx-only")) == 0
        manifest = read_manifest(tmp_path)
        assert sorted(manifest.entries) == ["fomm_generator_fp32", "fomm_kp_detector_fp32", "fomm_source_encoder_fp32"]
        for entry in manifest.entries.values():
            assert entry.checkpoint_sha256 == fx.checkpoint_sha256
            assert entry.onnx_sha256 == sha256_file(tmp_path / entry.onnx)
            assert entry.image_size == fx.image_size and entry.plan is None  # size from the YAML's frame_shape
        graphs = fx.graphs(align_corners=None)  # the YAML's engine default, as build_engines loads it
        assert resolve_backend("auto", "cpu", engine="fomm", engines_dir=tmp_path,
                               checkpoint_sha256=fx.checkpoint_sha256).backend == "onnxruntime"
        with caplog.at_level(logging.INFO, logger="livehead.runtime"):
            runner = create_runner("onnxruntime", graphs, "cpu", "fp32", engines_dir=tmp_path)
        assert "exported" not in caplog.text and str(tmp_path) in runner.describe()["detail"]
        x = graphs.example_inputs("kp_detector")
        assert float((runner.run("kp_detector", x)["kp_value"] - graphs["kp_detector"](x)["kp_value"]).abs().max()) < 1e-5

    def test_without_tensorrt_says_what_is_missing(self, tmp_path, monkeypatch, capsys):
        import onnx

        from livehead.export.build import EXIT_NO_TENSORRT, main
        from livehead.runtime.manifest import read_manifest
        from livehead.runtime.passes import gridsample_modes

        monkeypatch.setitem(sys.modules, "tensorrt", None)
        assert main(_args(tmp_path, "fp16", "--graphs", "generator,kp_detector")) == EXIT_NO_TENSORRT
        err = capsys.readouterr().err
        assert "no TensorRT plans were built: the tensorrt module cannot be imported" in err
        assert "pip install tensorrt-cu12" in err
        assert f"python build_engines.py --engine fomm --checkpoint {golden('fomm').checkpoint_path}" in err
        entry = read_manifest(tmp_path).find("fomm", "generator", "fp16")
        assert entry.plan is None and entry.trt_onnx == "fomm_generator_fp16.trt.onnx"
        model = onnx.load(tmp_path / entry.onnx)
        assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
        assert gridsample_modes(model) == ["linear", "linear"]
        assert gridsample_modes(onnx.load(tmp_path / entry.trt_onnx)) == ["bilinear", "bilinear"]
        assert entry.compute_precision == "fp16"
        kp = read_manifest(tmp_path).find("fomm", "kp_detector", "fp16")  # keypoints stay fp32 in an fp16 set
        assert kp.compute_precision == "fp32"
        assert not any(i.data_type == onnx.TensorProto.FLOAT16 for i in onnx.load(tmp_path / kp.onnx).graph.initializer)


class TestTensorRTBuild:
    def test_plans_manifest_and_refusal_elsewhere(self, tmp_path, monkeypatch, capsys):
        from livehead.runtime import create_runner
        from livehead.runtime import manifest as manifest_mod
        from livehead.export.build import main

        fx = golden("fomm")
        trt = make_fake_tensorrt()
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        here = manifest_mod.MachineInfo("NVIDIA H100 80GB HBM3", "9.0", trt.__version__)
        monkeypatch.setattr(manifest_mod, "current_machine", lambda *a: here)
        assert main(_args(tmp_path, "fp16", "--no-parity")) == 0
        captured = capsys.readouterr()
        assert "- Building engine (2 steps)" in captured.err and "done: Building engine" in captured.err
        assert ("parse", "fomm_generator_fp16.trt.onnx", ["bilinear", "bilinear"]) in trt.calls
        assert ("create_network", 1) in trt.calls  # 1 << STRONGLY_TYPED
        assert (tmp_path / "timing.cache").read_bytes().endswith(b"+timing")
        entries = manifest_mod.read_manifest(tmp_path).entries
        assert len(entries) == 3
        for entry in entries.values():
            assert (tmp_path / entry.plan).exists()
            assert (entry.tensorrt_version, entry.gpu_name, entry.compute_capability) == (
                "11.4.0.106", "NVIDIA H100 80GB HBM3", "9.0")
            assert entry.plan_sha256 == manifest_mod.sha256_file(tmp_path / entry.plan)
        graphs = fx.graphs(align_corners=None)
        elsewhere = manifest_mod.MachineInfo("NVIDIA GeForce RTX 3060", "8.6", "11.4.0.106")
        with pytest.raises(EngineMismatchError) as info:
            create_runner("tensorrt", graphs, "cuda", "fp16", engines_dir=tmp_path, machine=elsewhere)
        message = str(info.value)
        assert "RTX 3060" in message and "sm_86" in message
        assert (f"Rebuild it here with: python build_engines.py --engine fomm --checkpoint {fx.checkpoint_path} "
                f"--config {fx.yaml_path} --precision fp16 --out {tmp_path}") in message

    def test_5d_gridsample_needs_a_newer_tensorrt(self, tmp_path, monkeypatch, capsys):
        from livehead.runtime import manifest as manifest_mod
        from livehead.export.build import main

        trt = make_fake_tensorrt("11.1.0.7")
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(manifest_mod, "current_machine",
                            lambda *a: manifest_mod.MachineInfo("NVIDIA H100 80GB HBM3", "9.0", trt.__version__))
        code = main(_args(tmp_path, "fp32", "--graphs", "generator", "--no-parity", engine="fv2v"))
        assert code == 1
        assert "5D (volumetric) GridSample needs TensorRT >= 11.2, targeted 11.1" in capsys.readouterr().err
        assert not any(call[0] == "parse" for call in trt.calls)  # nothing is built from a graph that fails the check


def test_gpu_bench_without_gpu_says_so(capsys):
    from livehead.bench.gpu import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["--engine", "fomm"]) == 2
    assert "no CUDA GPU visible" in capsys.readouterr().err


def test_build_engines_help():
    result = subprocess.run([sys.executable, "build_engines.py", "--help"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert "--random-weights" in result.stdout and "--precision" in result.stdout
