"""fomm / fv2v engines end to end with the tiny golden-fixture checkpoints on real media."""

import cv2
import numpy as np
import pytest

from livehead.animators import create_animator
from livehead.animators.mesh.animator import MeshAnimator
from livehead.avatars.photo import load_avatar
from livehead.stages.capture import VideoFileSource
from livehead.errors import LiveHeadError
from livehead.pipeline import Pipeline
from livehead.pipeline.processor import FrameProcessor
from livehead.sinks import NullSink
from livehead.stages.tracking import FaceTracker

from _media import media, needs_extra
from golden import golden
from harness import config, run_frames

SIZE = (320, 180)
CROP = {"fomm": 128, "fv2v": 64}  # fv2v's full-width HEEstimator/SPADE decoder is slow on a CPU


def tiny(engine):
    needs_extra("neural", "torch")
    fx = golden(engine)
    return create_animator(engine, checkpoint=str(fx.checkpoint_path), model_config=str(fx.yaml_path),
                           device="cpu", crop_size=CROP[engine])


def driver_frames(n):
    cap = cv2.VideoCapture(str(media("dreamtalk_W011_front_neutral_level1_001.mp4")))
    frames = []
    with FaceTracker() as tracker:
        for i in range(n):
            ok, bgr = cap.read()
            assert ok
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append((rgb, tracker.track(rgb, i / 25.0), i / 25.0))
    cap.release()
    return frames


def render(engine, frames):
    cfg = config(**{"output.size": SIZE})
    avatar = load_avatar(media("aniportrait_Aragaki.png"), working_size=SIZE)
    proc = FrameProcessor(cfg, engine, engine.prepare(avatar))
    rgb, obs, t = (list(column) for column in zip(*frames))
    return avatar, run_frames(proc, rgb + [None], observations=obs + [None], times=t + [10.0]).results


@pytest.mark.parametrize("name,n", [("fomm", 3), ("fv2v", 1)])
def test_tiny_engine_renders_finite_deterministic_frames(name, n):
    frames = driver_frames(n)
    engine = tiny(name)
    assert engine.describe() | {"detail": ""} == {"engine": name, "backend": "torch", "device": "cpu",
                                                    "precision": "fp32", "detail": ""}
    avatar, first = render(engine, frames)
    _, second = render(tiny(name), frames)
    for a, b in zip(first, second):
        assert a.avatar_frame.shape == avatar.image.shape and a.avatar_frame.dtype == np.uint8
        assert a.output.shape == (SIZE[1], SIZE[0], 3)
        np.testing.assert_array_equal(a.avatar_frame, b.avatar_frame)  # deterministic
    assert np.abs(first[0].avatar_frame.astype(int) - avatar.image).mean() > 1.0  # and the face did change


def test_switching_engines_keeps_the_stream_running():
    cfg = config(**{"output.size": SIZE, "capture.realtime": False})
    avatar = load_avatar(media("aniportrait_Aragaki.png"), working_size=SIZE)
    mesh = MeshAnimator()
    sink = NullSink()
    source = VideoFileSource(path=media("dreamtalk_W011_front_neutral_level1_001.mp4"), loop=True)
    with Pipeline(cfg, source=source, animator=mesh, states=[mesh.prepare(avatar)], sinks=[sink], throttle=False) as p:
        p.run(max_frames=5)
        before = sink.frames
        p.switch_engine(tiny("fomm")).join(60)
        p.run(max_frames=before + 3)
        assert p.animator.describe()["engine"] == "fomm"
        assert sink.frames >= before + 3


def test_requested_cuda_without_gpu_is_an_error_not_a_fallback(tmp_path):
    """--device cuda on a CPU machine is refused first, before the (here absent) checkpoint is read."""
    torch = needs_extra("neural", "torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(LiveHeadError, match="no CUDA GPU"):
        create_animator("fomm", checkpoint=str(tmp_path / "vox-cpk.pth.tar"), device="cuda")


def test_neural_engine_without_the_extra_names_the_pip_line(monkeypatch):
    """A light install (no torch) asking for fomm/fv2v is told the exact pip line, not an ImportError."""
    import importlib.util

    from livehead.extras import MissingExtraError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    for engine in ("fomm", "fv2v"):
        with pytest.raises(MissingExtraError, match=rf'(?s)--engine {engine} needs .*-m pip install "livehead\[neural\]"'):
            create_animator(engine, device="cpu")


def test_missing_checkpoint_says_where_to_put_it(tmp_path, monkeypatch):
    needs_extra("neural", "torch")
    monkeypatch.setenv("LIVEHEAD_DATA_DIR", str(tmp_path))
    with pytest.raises(LiveHeadError, match="livehead models"):
        create_animator("fomm", device="cpu")


def test_onnxruntime_backend_renders_like_torch():
    """The same engine on ONNX Runtime (graphs exported in memory) gives the torch picture."""
    needs_extra("neural", "onnxruntime")
    frames = driver_frames(2)
    fx = golden("fomm")
    ckpt, cfg = str(fx.checkpoint_path), str(fx.yaml_path)
    ort_engine = create_animator("fomm", checkpoint=ckpt, model_config=cfg, device="cpu", backend="onnxruntime",
                                 crop_size=CROP["fomm"])
    assert ort_engine.describe()["backend"] == "onnxruntime"
    _, with_ort = render(ort_engine, frames)
    _, with_torch = render(tiny("fomm"), frames)
    for a, b in zip(with_ort, with_torch):
        assert np.abs(a.avatar_frame.astype(int) - b.avatar_frame).max() <= 2


def test_avatar_library_caches_the_engine_state(tmp_path):
    """Second start: the encodings come from the on-disk cache (tensors only) and render the same."""
    import shutil

    from livehead.avatars.library import AvatarLibrary

    folder = tmp_path / "avatars"
    folder.mkdir()
    shutil.copy(media("aniportrait_Aragaki.png"), folder / "a.png")
    engine = tiny("fomm")
    first = AvatarLibrary(animator=engine, working_size=SIZE, folder=folder, cache_dir=tmp_path / "cache")
    first.prepare_now()
    assert len(list((tmp_path / "cache").glob("*.state"))) == 1

    engine.prepare = None  # a second start must not need the networks' per-avatar pass
    second = AvatarLibrary(animator=engine, working_size=SIZE, folder=folder, cache_dir=tmp_path / "cache")
    second.prepare_now()
    (a,), (b,) = first.ready(), second.ready()
    np.testing.assert_array_equal(a.box, b.box)
    for key in ("value", "jacobian"):
        assert torch_equal(a.cache["kp_source"][key], b.cache["kp_source"][key])


def torch_equal(x, y):
    import torch

    return bool(torch.equal(x.cpu(), y.cpu()))
