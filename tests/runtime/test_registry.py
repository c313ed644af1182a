"""Every registered backend, whichever it is: its probe answers a cpu or cuda request with None (it
can run) or an error whose message names the fix, and each backend that can run on this machine
gives the torch backend's numbers on the graphs of the tiny golden fixture checkpoints.

Parity tolerance: float32 results of two runtimes differ by operation order only; measured up to
1.2e-4 on [0, 1] images and 3e-4 on pose logits of magnitude ≈ 30, so the bar is 5e-4 scaled by
the output's magnitude (at least 1).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from _media import needs_extra, reference

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.errors import LiveHeadError
from livehead.runtime import BACKENDS, BackendRequest, auto_candidates, create_runner


GRAPH_SIZE = 64  # image size the fixture graphs are built at: parity holds at any size, small is quick
TOLERANCE = 5e-4
# what a fix looks like: a flag to use, a package to install, a command to run
FIX = re.compile(r"--[a-z]|pip install|build_engines\.py|sudo |apt install")


def registered_backends() -> list[str]:
    """Every name ``--backend`` accepts (``auto_candidates`` registers the built-ins first)."""
    auto_candidates("cpu")
    return sorted(BACKENDS)


BACKEND_NAMES = registered_backends()
REQUESTS = [dict(device=d, precision=p, auto=a) for d, p, a in
            itertools.product(("cpu", "cuda"), ("fp32", "fp16"), (False, True))]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", BACKEND_NAMES)
@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r['device']}-{r['precision']}-{'auto' if r['auto'] else 'named'}")
def test_probe_answers_none_or_a_reason_with_the_fix(name, request_, tmp_path):
    """``tmp_path`` is an empty engines folder, as on a fresh install."""
    why = BACKENDS[name].probe(BackendRequest(engine="fomm", engines_dir=tmp_path, **request_))
    if why is None:
        return
    assert isinstance(why, LiveHeadError), f"{name} probe returned {why!r}, not None or a LiveHeadError"
    assert FIX.search(str(why)), f"{name} probe's reason names no fix: {why}"


@pytest.fixture(scope="module", params=["fomm", "fv2v"])
def fixture_graphs(request):
    """The graphs of a tiny golden fixture checkpoint at ``GRAPH_SIZE``."""
    from livehead.models import load_checkpoint
    from livehead.models.configs import load_model_config
    from livehead.runtime.graphs import build_graphs

    engine = request.param
    loaded = load_checkpoint(reference(f"{engine}_tiny.pth.tar"),
                             load_model_config(reference(f"{engine}_tiny.yaml"), engine=engine))
    return build_graphs(loaded.models, image_size=GRAPH_SIZE, checkpoint=str(loaded.path),
                        checkpoint_sha256=loaded.sha256)


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_every_backend_that_runs_here_matches_torch(name, fixture_graphs, tmp_path):
    why = BACKENDS[name].probe(BackendRequest(device="cpu", engine=fixture_graphs.engine, engines_dir=Path(tmp_path)))
    if why is not None:
        pytest.skip(f"{name} cannot run on this machine: {why}")
    runner = create_runner(name, fixture_graphs, "cpu", "fp32", engines_dir=None)  # ONNX exported in memory
    torch_runner = create_runner("torch", fixture_graphs, "cpu", "fp32")
    try:
        assert runner.describe()["backend"] == name
        for graph in fixture_graphs.names():
            inputs = fixture_graphs.example_inputs(graph)
            got, expected = runner.run(graph, inputs), torch_runner.run(graph, inputs)
            assert set(got) == set(expected), f"{graph}: outputs {sorted(got)} vs torch {sorted(expected)}"
            for key, value in expected.items():
                assert got[key].shape == value.shape and got[key].dtype == torch.float32, f"{graph}.{key}"
                error = float((got[key].cpu() - value.cpu()).abs().max())
                bar = TOLERANCE * max(1.0, float(value.abs().max()))
                assert error <= bar, f"{graph}.{key}: {name} differs from torch by {error:.2e} (bar {bar:.2e})"
    finally:
        runner.close()
        torch_runner.close()
