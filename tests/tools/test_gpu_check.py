"""tools/gpu_check.py, the parts that run without a GPU: it refuses to measure without CUDA (status 2,
saying why), records the media on a machine with MediaPipe, and walks its whole measuring code on
the CPU (``run --cpu-smoke``) through the recorded tracking, writing documented bench JSON and the
summary table."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from _media import MEDIA, REFERENCE, needs_extra
from helpers import REPO
from livehead.bench.report import JSON_FIELDS

needs_extra("neural", "torch")  # the GPU check measures the neural engines: a light install skips it


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "tools" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


def test_without_cuda_it_says_so_and_exits_2(gpu_check, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert gpu_check.main(["run", "--out", str(tmp_path)]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_make_gpu_check_without_cuda_fails_saying_so():
    """The make target runs the script (with this interpreter) and passes its refusal on."""
    import shutil
    import subprocess

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    done = subprocess.run(["make", "-s", "gpu-check", f"GPU_PYTHON={sys.executable}"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0 and "no CUDA GPU" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def prepared(gpu_check, tmp_path_factory):
    if not (MEDIA / gpu_check.CLIP).is_file() or not (MEDIA / gpu_check.PHOTO).is_file():
        pytest.skip(f"needs {gpu_check.CLIP} and {gpu_check.PHOTO} in {MEDIA} (../shared/media beside the repository)")
    out = tmp_path_factory.mktemp("gpu-check-media")
    gpu_check.prepare(MEDIA, REFERENCE, out)
    return out


def test_prepare_records_what_the_gpu_machine_needs(prepared, gpu_check):
    import numpy as np

    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["clip"] == gpu_check.CLIP and manifest["frames"] > 0
    tracking = np.load(prepared / "tracking.npz")
    assert len(tracking["thumbs"]) == manifest["frames"] and tracking["landmarks"].shape[1:] == (478, 3)
    assert np.isfinite(tracking["landmarks"]).all(axis=(1, 2)).mean() > 0.9, "the talking clip shows a face"
    assert (prepared / "avatar.npz").is_file()


def test_cpu_smoke_run_writes_results_and_a_summary(prepared, gpu_check, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEHEAD_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path / "data"))  # run() points it at its own folder
    out = tmp_path / "results"
    assert gpu_check.main(["run", "--cpu-smoke", "--media", str(prepared), "--out", str(out)]) == 0
    for name in ("fomm_torch_fp32_network", "fomm_torch_fp32_pipeline"):
        data = json.loads((out / f"{name}.json").read_text())
        assert set(data) == set(JSON_FIELDS) and data["engine"]["engine"] == "fomm" and data["engine_faults"] == 0
    pipeline = json.loads((out / "fomm_torch_fp32_pipeline.json").read_text())
    assert "replayed" in pipeline["source"]["name"] and pipeline["stages_ms"]["smoothing"]["n"] > 0  # faces found
    summary = (out / "summary.md").read_text()
    assert "| fomm | torch fp32 |" in summary and "host syncs" in summary
    bundle = json.loads((out / "results.json").read_text())
    assert not bundle["errors"] and "fomm_torch_fp32 network" in bundle["results"]


def test_replayed_tracking_matches_live_tracking(prepared, driver_frames):
    """Frames of the recorded clip get the landmarks MediaPipe gave them when recorded."""
    import cv2
    import numpy as np

    from livehead.bench.replay import ReplayTracker
    from livehead.stages.tracking import FaceTracker

    replay = ReplayTracker(prepared / "tracking.npz")
    cap = cv2.VideoCapture(str(prepared / "liveportrait_d20.mp4"))
    with FaceTracker() as live:
        for i in range(5):
            ok, bgr = cap.read()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            expected, got = live.track(rgb, i / 25.0), replay.track(rgb, i / 25.0)
            np.testing.assert_allclose(got.landmarks, expected.landmarks, atol=1e-3)
    cap.release()
    with pytest.raises(ValueError, match="recording"):
        replay.track(driver_frames[0], 0.0)  # another clip's frame size
