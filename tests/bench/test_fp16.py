"""bench.fp16: the CPU emulation of CUDA autocast follows autocast's casting rules, and on the golden
fixture the fp16 graphs stay within the issue's bound (max |fp16 − fp32| ≤ 0.05) per graph."""

from __future__ import annotations

from _media import needs_extra, reference

torch = needs_extra("neural", "torch")  # a light install skips this module
import torch.nn.functional as F

from livehead.bench.fp16 import AutocastEmulation, graph_errors



class TestAutocastEmulation:
    def test_casting_rules(self):
        x, w = torch.rand(1, 2, 6, 6), torch.rand(3, 2, 3, 3)
        with AutocastEmulation() as mode:
            conv = F.conv2d(x, w)  # fp16 list
            soft = torch.softmax(conv, dim=1)  # fp32 list
            relu = torch.relu(conv)  # other: keeps its input's dtype
            grid = torch.zeros(1, 2, 2, 2)
            sampled = F.grid_sample(conv, grid, align_corners=False)  # widest input type
            mode.fp32_depth += 1
            island = F.conv2d(x, w)
        assert conv.dtype == torch.float16 and relu.dtype == torch.float16
        assert soft.dtype == torch.float32 and sampled.dtype == torch.float32 and island.dtype == torch.float32
        expected = F.conv2d(x.half().float(), w.half().float())
        torch.testing.assert_close(conv.float(), expected, atol=2e-3, rtol=1e-3)  # fp32 accumulate, fp16 result


def test_fomm_fixture_stays_within_the_bound():
    from livehead.models import load_checkpoint, load_model_config
    from livehead.runtime.graphs import build_graphs

    cfg = load_model_config(str(reference("fomm_tiny.yaml")), engine="fomm")
    graphs = build_graphs(load_checkpoint(str(reference("fomm_tiny.pth.tar")), cfg).models, image_size=128)
    rows = {(r["graph"], r["output"]): r for r in graph_errors(graphs, device="cpu", seeds=(0,))}
    assert rows[("kp_detector", "kp_value")]["precision"] == "fp32" and rows[("kp_detector", "kp_value")]["max_abs"] == 0
    generator = rows[("generator", "prediction")]
    assert generator["precision"] == "fp16" and generator["fp32_modules"] == ["generator.dense_motion_network"]
    assert 0 < generator["max_abs"] <= 0.05  # fp16 did run (non-zero), within the bound
    assert all(r["max_abs"] <= 0.05 for r in rows.values() if r["output"] != "source_features")
