"""bench.report: a result has exactly the documented fields, in order; strict JSON; bad files named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from livehead.bench.report import JSON_FIELDS, SCHEMA, finish, load_result, write_json
from livehead.errors import InputError


def measured() -> dict:
    return {"mode": "network", "engine": {"engine": "mesh"}, "frames": 3, "warmup": 1,
            "stages_ms": {"animate": {"median": 1.0, "p95": 2.0, "mean": 1.2, "n": 3}}, "fps": 500.0,
            "latency_ms": {"median": math.nan, "p95": math.nan, "mean": math.nan, "n": 0},
            "dropped_frames": 0, "engine_faults": 0, "duration_s": 0.006}


def context() -> dict:
    # given in another order than JSON_FIELDS on purpose
    return {"machine": {"cpu": "x"}, "memory": {"rss_mb": 1.0}, "output_size": [64, 48],
            "avatar": {"name": "a", "size": [64, 48]}, "source": {"kind": "scripted", "name": "s", "size": None},
            "requested": {"engine": "mesh"}}


class TestFinish:
    def test_fields_in_documented_order(self) -> None:
        result = finish(measured(), **context())
        assert list(result) == list(JSON_FIELDS)
        assert result["schema"] == SCHEMA and result["mode"] == "network"

    def test_undocumented_field_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"\['gpu_peak'\] are not in JSON_FIELDS"):
            finish({**measured(), "gpu_peak": 1.0}, **context())


class TestJson:
    def test_round_trip_with_nan_as_null(self, tmp_path: Path) -> None:
        path = tmp_path / "r.json"
        write_json(finish(measured(), **context()), path)
        data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))
        assert data["latency_ms"]["median"] is None
        assert load_result(str(path))["frames"] == 3

    def test_missing_file_says_how_to_write_one(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="not found.*livehead bench --json"):
            load_result(str(tmp_path / "none.json"))

    def test_not_json(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text("{oops")
        with pytest.raises(InputError, match="is not JSON"):
            load_result(str(path))
