"""bench.resources: the machine fields bench results are read with, and memory without CUDA."""

from __future__ import annotations

import sys

from livehead.bench.resources import cuda_torch, machine, memory


class TestMachine:
    def test_load_at_start_and_end_instead_of_one_reading(self) -> None:
        info = machine(1.25)
        assert list(info)[:7] == ["platform", "python", "cpu", "cpu_count", "load_avg_start", "load_avg_end", "gpu"]
        assert "load_avg_1min" not in info
        assert info["load_avg_start"] == 1.25
        assert info["load_avg_end"] is None or info["load_avg_end"] >= 0.0
        assert info["cpu_count"] >= 1 and info["cpu"]

    def test_does_not_import_torch(self) -> None:
        had_torch = "torch" in sys.modules
        machine(None)
        assert ("torch" in sys.modules) == had_torch


class TestMemory:
    def test_gpu_fields_are_null_without_cuda_in_use(self) -> None:
        mem = memory()
        assert mem["rss_mb"] > 1 and mem["peak_rss_mb"] >= mem["rss_mb"] * 0.5
        if cuda_torch() is None:
            assert mem["gpu_allocated_mb"] is None and mem["gpu_peak_mb"] is None and mem["gpu_reserved_mb"] is None
