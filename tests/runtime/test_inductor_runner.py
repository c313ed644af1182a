"""Backend ``inductor``: compiles per-frame graphs with torch.compile (here on the CPU, with the C++
compiler), matches torch eager, caches its artefacts in the folder it is given, and falls back to
eager with the reason logged once when a compile fails. Graphs are kept tiny: CI has two cores."""

from __future__ import annotations

import logging
import os

import pytest
from _media import needs_extra

torch = needs_extra("neural", "torch")  # a light install skips this module
from torch import nn

from livehead.errors import LiveHeadError
from livehead.runtime import create_runner, resolve_backend
from livehead.runtime.backend import BackendRequest
from livehead.runtime.graphs import GraphSet, GraphSpec, TensorSpec
from livehead.runtime.inductor_runner import CACHE_ENV, use_cache_dir


class Tiny(nn.Module):
    """Conv → BN → ReLU → conv, the shape of the networks' blocks (static 1×3×16×16 input)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.sigmoid(self.out(torch.relu(self.norm(self.conv(image))))),)


def tiny_graphs() -> GraphSet:
    module = Tiny().eval()
    spec = GraphSpec("step", "per_frame", module, (TensorSpec("image", (1, 3, 16, 16), "image"),),
                     (TensorSpec("out", (1, 2, 16, 16), "image"),))
    encoder = GraphSpec("encode", "per_avatar", module, spec.inputs, spec.outputs)
    return GraphSet(engine="tiny", image_size=16, graphs={"step": spec, "encode": encoder})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # restored after the test
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def image():
    return torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def test_compiled_graph_matches_eager_and_fills_the_cache(cache, image):
    graphs = tiny_graphs()
    expected = graphs["step"]({"image": image})["out"]
    runner = create_runner("inductor", graphs, "cpu", "fp32")
    got = runner.run("step", {"image": image})["out"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(runner.call("step", {"image": image})["out"], expected, atol=1e-5, rtol=1e-5)
    info = runner.describe()
    assert info["backend"] == "inductor" and "of step" in info["detail"] and str(cache) in info["detail"]
    assert "encode" not in runner._compiled  # per-avatar graphs stay eager
    assert any(cache.rglob("*")), "compiled artefacts are cached on disk"


def test_a_failing_compile_runs_eagerly_and_says_why_once(cache, image, caplog):
    def broken(gm, example_inputs):
        raise RuntimeError("forced compiler failure")

    graphs = tiny_graphs()
    expected = graphs["step"]({"image": image})["out"]
    runner = create_runner("inductor", graphs, "cpu", "fp32", compiler=broken)
    with caplog.at_level(logging.WARNING, logger="livehead.runtime"):
        for _ in range(3):
            torch.testing.assert_close(runner.run("step", {"image": image})["out"], expected)
    warnings = [r for r in caplog.records if "compiling graph step failed" in r.getMessage()]
    assert len(warnings) == 1 and "forced compiler failure" in warnings[0].getMessage()
    assert "forced compiler failure" in runner.describe()["detail"] and "step" in runner.fallbacks


def test_use_cache_dir_respects_the_users_setting(tmp_path, monkeypatch):
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert use_cache_dir(tmp_path / "ours") == str(tmp_path / "mine")
    monkeypatch.setenv(CACHE_ENV, default_cache_dir())  # what torch writes there itself when it first looks
    assert use_cache_dir(tmp_path / "ours") == str((tmp_path / "ours").resolve())
    monkeypatch.delenv(CACHE_ENV)
    try:
        assert use_cache_dir(tmp_path / "ours") == str((tmp_path / "ours").resolve())
        assert (tmp_path / "ours").is_dir()
    finally:
        os.environ.pop(CACHE_ENV, None)


class TestProbe:
    def test_fp16_on_cpu_is_refused(self):
        from livehead.runtime import probes

        why = probes.inductor(BackendRequest(device="cpu", precision="fp16"))
        assert isinstance(why, LiveHeadError) and "fp16" in str(why)

    def test_needs_a_cpp_compiler_on_cpu(self, monkeypatch):
        import shutil

        from livehead.runtime import probes

        monkeypatch.setattr(shutil, "which", lambda name: None)
        why = probes.inductor(BackendRequest(device="cpu"))
        assert isinstance(why, LiveHeadError) and "C++ compiler" in str(why)

    def test_by_name_on_cpu(self):
        choice = resolve_backend("inductor", "cpu")
        assert choice.backend == "inductor" and choice.device == "cpu"

    def test_auto_on_cuda_tries_tensorrt_then_inductor_then_torch(self):
        from livehead.runtime import auto_candidates

        names = [b.name for b in auto_candidates("cuda")]
        assert names.index("tensorrt") < names.index("inductor") < names.index("torch")
        assert "inductor" not in [b.name for b in auto_candidates("cpu")]
