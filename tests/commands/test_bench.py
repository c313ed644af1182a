"""``livehead bench``: the output format (not the speed, which never gates CI)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from _media import needs_extra
from livehead.bench.report import JSON_FIELDS, SCHEMA
from livehead.cli import main as livehead_main
from livehead.pipeline.stats import STAGES


def check_summary(s: dict) -> None:
    assert set(s) == {"median", "p95", "mean", "n"}
    assert s["n"] > 0 and 0.0 <= s["median"] <= s["p95"]


@pytest.fixture(scope="module")
def pipeline_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "pipeline.json"
    code = livehead_main(["bench", "--source", "scripted", "--frames", "8", "--warmup", "2", "--size", "640x360",
                          "--json", str(path)])
    assert code == 0
    return path


@pytest.fixture(scope="module")
def network_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "network.json"
    assert livehead_main(["bench", "--network-only", "--frames", "5", "--warmup", "1", "--size", "640x360",
                          "--json", str(path)]) == 0
    return path


class TestBenchJson:
    def test_documented_fields(self, pipeline_json: Path) -> None:
        data = json.loads(pipeline_json.read_text())
        assert list(data) == [k for k in JSON_FIELDS if k in data]
        assert set(data) == set(JSON_FIELDS)
        assert data["schema"] == SCHEMA and data["mode"] == "pipeline"
        assert data["engine"]["engine"] == "mesh"
        assert data["source"]["kind"] == "scripted"
        assert data["output_size"] == [640, 360]
        assert data["frames"] >= 8 and data["warmup"] == 2

    def test_every_stage_is_timed(self, pipeline_json: Path) -> None:
        data = json.loads(pipeline_json.read_text())
        assert set(STAGES) <= set(data["stages_ms"])
        for stage in STAGES:
            check_summary(data["stages_ms"][stage])
        check_summary(data["latency_ms"])
        assert data["fps"] > 0 and math.isfinite(data["fps"])

    def test_memory(self, pipeline_json: Path) -> None:
        mem = json.loads(pipeline_json.read_text())["memory"]
        assert mem["rss_mb"] > 10 and mem["peak_rss_mb"] >= 10
        assert set(mem) == {"rss_mb", "peak_rss_mb", "gpu_allocated_mb", "gpu_peak_mb", "gpu_reserved_mb"}

    def test_network_only(self, network_json: Path) -> None:
        data = json.loads(network_json.read_text())
        assert data["mode"] == "network" and set(data) == set(JSON_FIELDS)
        assert list(data["stages_ms"]) == ["animate"]
        check_summary(data["stages_ms"]["animate"])
        assert data["latency_ms"]["n"] == 0 and data["latency_ms"]["median"] is None


class TestCompare:
    def test_prints_ratios(self, pipeline_json: Path, network_json: Path, capsys: pytest.CaptureFixture) -> None:
        assert livehead_main(["bench", "--compare", str(pipeline_json), str(network_json)]) == 0
        out = capsys.readouterr().out
        assert "b / a" in out and "animate median ms" in out and "fps" in out

    def test_same_file_ratio_is_one(self, pipeline_json: Path) -> None:
        from rich.console import Console

        from livehead.bench.report import compare

        ratios = compare(str(pipeline_json), str(pipeline_json), Console(file=io.StringIO()))
        assert ratios["fps"] == pytest.approx(1.0)
        assert ratios["animate median ms"] == pytest.approx(1.0)

    def test_rejects_other_json(self, tmp_path: Path, pipeline_json: Path, capsys: pytest.CaptureFixture) -> None:
        other = tmp_path / "other.json"
        other.write_text('{"hello": 1}')
        assert livehead_main(["bench", "--compare", str(pipeline_json), str(other)]) == 2
        assert "not a livehead bench result" in capsys.readouterr().err


class TestNeuralEngines:
    def test_random_weights_bench_reports_the_engine_asked_for(self, tmp_path: Path) -> None:
        """fomm without a checkpoint: the public architecture with calibrated random weights (at the
        smallest input the architecture takes, 128 px, to keep the CPU run short)."""
        needs_extra("neural", "torch")
        path = tmp_path / "fomm.json"
        code = livehead_main(["bench", "--random-weights", "--engine", "fomm", "--device", "cpu", "--frames", "3",
                              "--warmup", "0", "--crop-size", "128", "--source", "scripted", "--size", "320x180",
                              "--json", str(path)])
        assert code == 0
        data = json.loads(path.read_text())
        assert data["engine"]["engine"] == "fomm" and data["engine"]["device"] == "cpu"
        assert "random weights" in data["engine"]["detail"] and data["requested"]["random_weights"] is True
        assert data["engine_faults"] == 0 and data["frames"] >= 3
        assert data["startup"]["engine_s"] > 0 and len(data["startup"]["first_frames_ms"]) == 3

    def test_an_engine_that_faults_is_never_reported_under_its_name(self, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
        """Every render raises: the pipeline hands over to mesh, and bench says so and fails."""
        from livehead.animators.mesh.animator import MeshAnimator
        from livehead.animators.registry import ANIMATORS

        class Faulty(MeshAnimator):
            def describe(self) -> dict[str, str]:
                return {**super().describe(), "engine": "fomm"}

            def render(self, state, driving):
                raise RuntimeError("forced engine fault")

        monkeypatch.setitem(ANIMATORS, "fomm", lambda **options: Faulty())
        code = livehead_main(["bench", "--engine", "fomm", "--frames", "12", "--warmup", "0", "--source", "scripted",
                              "--size", "320x180"])
        out = capsys.readouterr().out
        assert code == 1
        assert "NOT fomm" in out and "engine mesh ran instead" in out
