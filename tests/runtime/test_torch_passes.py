"""Conv3d as stacked Conv2d (the CUDA runners' rewrite for face-vid2vid) computes the same thing."""

from __future__ import annotations

import copy

import pytest
from _media import needs_extra, reference

torch = needs_extra("neural", "torch")  # a light install skips this module
from torch import nn

from livehead.runtime.torch_passes import Conv3dAsConv2d, conv3d_as_conv2d



class TestConv3dAsConv2d:
    @pytest.mark.parametrize("kernel,padding,bias", [(3, 1, True), (7, 3, True), (1, 0, False), ((3, 1, 1), (1, 0, 0), True),
                                                      (3, 0, True)])
    def test_equals_conv3d(self, kernel, padding, bias):
        torch.manual_seed(0)
        conv = nn.Conv3d(5, 4, kernel, padding=padding, bias=bias).eval()
        x = torch.randn(2, 5, 6, 9, 7)  # batch 2 and unequal sides catch a mixed-up axis
        with torch.no_grad():
            expected = conv(x)
            got = Conv3dAsConv2d(conv)(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)

    def test_refuses_strided_convolutions(self):
        with pytest.raises(ValueError, match="stride-1"):
            Conv3dAsConv2d(nn.Conv3d(2, 2, 3, stride=2))

    def test_fv2v_generator_is_unchanged(self):
        """The tiny face-vid2vid fixture's generator graph, every Conv3d rewritten, on its example inputs."""
        from livehead.models import load_checkpoint, load_model_config
        from livehead.runtime.graphs import build_graphs

        cfg = load_model_config(str(reference("fv2v_tiny.yaml")), engine="fv2v")
        graphs = build_graphs(load_checkpoint(str(reference("fv2v_tiny.pth.tar")), cfg).models, image_size=64)
        spec = graphs["generator"]
        inputs = graphs.example_inputs("generator")
        expected = spec(inputs)["prediction"]
        rewritten = copy.deepcopy(spec.module)
        count = conv3d_as_conv2d(rewritten)
        assert count > 0 and not any(isinstance(m, nn.Conv3d) for m in rewritten.modules())
        with torch.inference_mode():
            got = rewritten(*[inputs[n] for n in spec.input_names])[0]
        torch.testing.assert_close(got, expected, atol=2e-4, rtol=0)  # the fixture's generator tolerance


class Net(nn.Module):
    """A conv, then a part that calls its island through a method other than forward (as FOMM's
    generator calls ``dense_motion_network.forward_downsampled``)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Conv2d(3, 4, 3, padding=1)
        self.island = Island()

    def forward(self, x):
        return self.island.forward_twice(self.head(x))


class Island(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x)

    def forward_twice(self, x):
        return {"out": self.conv(self.conv(x))}


class TestKeepFp32:
    def test_island_computes_in_fp32_under_autocast(self):
        from livehead.runtime.torch_passes import keep_fp32

        net = Net().eval()
        x = torch.rand(1, 3, 8, 8)
        with torch.no_grad():
            reference = net.island.forward_twice(net.head(x))["out"]
            kept = keep_fp32(net, ("island",))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                head = net.head(x)
                out = net(x)["out"]
        assert head.dtype == torch.bfloat16  # outside the island autocast still works
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, net.island.forward_twice(head.float())["out"])
        assert (out - reference).abs().max() < 0.1  # only the bf16 head differs
        assert id(net.island.conv) in kept and id(net.head) not in kept

    def test_half_weights_skip_the_islands(self):
        from livehead.runtime.torch_passes import keep_fp32
        from livehead.runtime.torch_runner import _half_weights_

        net = Net()
        kept = keep_fp32(net, ("island",))
        _half_weights_(net, keep=kept)
        assert net.head.weight.dtype == torch.float16 and net.island.conv.weight.dtype == torch.float32

    def test_wrapping_twice_is_harmless(self):
        from livehead.runtime.torch_passes import keep_fp32

        net = Net()
        keep_fp32(net, ("island",))
        first = net.island.forward_twice
        keep_fp32(net, ("island",))
        assert net.island.forward_twice is first
