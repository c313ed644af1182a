"""PyTorch runner: the reference backend, and the GPU path we can measure without TensorRT.

On CPU it runs the graph modules eagerly in fp32. On CUDA:

* ``fp16``: autocast(float16) with the Conv/Linear weights pre-cast to half (so autocast's
  per-call weight casts are no-ops). Autocast keeps softmax, exp and the reductions in fp32 and
  runs grid_sample in the widest input type (the fp32 sampling grid), which gives the same fp32
  islands as the fp16 ONNX variant (:mod:`livehead.runtime.precision`). Outputs are cast to fp32.
* per-frame graphs are captured as CUDA graphs after a warm-up on a side stream (launch overhead
  dominates FOMM's ~45 small convolutions, ``../shared/docs/tensorrt.md`` section 4); inputs are
  copied into static buffers and each ``run`` replays the graph. A capture failure is logged once
  and that graph runs eagerly.
* TF32 stays off for fp32 so that fp32 means fp32 (the fixtures' tolerances assume it).
* 3D convolutions run as stacked 2D ones (:mod:`livehead.runtime.torch_passes`): face-vid2vid's
  fp16 3D convolutions otherwise land in PyTorch's memory-hungry ``vol2col`` fallback.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Mapping

import torch
from torch import nn

from livehead.errors import LiveHeadError

log = logging.getLogger("livehead.runtime")


def _half_weights_(module: nn.Module, keep: set[int] = frozenset()) -> int:
    """Cast Conv/Linear parameters to fp16 in place; BN, buffers (coordinate grids, anti-alias
    kernels) and the modules whose ids are in ``keep`` (fp32 islands) stay fp32. Returns the number
    of layers converted."""
    from livehead.runtime.torch_passes import Conv3dAsConv2d

    n = 0
    for m in module.modules():
        if id(m) not in keep and isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear,
                          Conv3dAsConv2d)):
            m.half()
            n += 1
    return n


class _Captured:
    """One per-frame graph captured as a CUDA graph with static input/output buffers."""

    def __init__(self, graph: torch.cuda.CUDAGraph, inputs: dict[str, torch.Tensor], outputs: tuple[torch.Tensor, ...]):
        self.graph = graph
        self.inputs = inputs
        self.outputs = outputs


class TorchRunner:
    """Runs :class:`~livehead.runtime.graphs.GraphSet` graphs eagerly (CPU/CUDA, fp32/fp16)."""

    backend = "torch"

    def __init__(self, *, graphs, device: str, precision: str, cuda_graphs: bool = True, threads: int | None = None,
                 warmup: int = 3, conv3d_as_2d: bool | None = None, **_ignored) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise LiveHeadError("torch backend: --device cuda but torch sees no CUDA GPU; use --device cpu.")
        if precision == "fp16" and device != "cuda":
            raise LiveHeadError("torch backend: fp16 needs --device cuda (CPU fp16 is slower than fp32); "
                                "use --precision fp32.")
        self.device = device
        self.precision = precision
        self.graphs = graphs
        self._specs = dict(graphs.graphs)
        self._warmup = warmup
        self._use_cuda_graphs = cuda_graphs and device == "cuda"
        self._captured: dict[str, _Captured | None] = {}
        if threads:
            torch.set_num_threads(threads)
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = True  # static shapes: pick the fastest conv algorithms once
        from livehead.runtime.torch_passes import conv3d_as_conv2d, keep_fp32

        # 3D convolutions as 2D ones on CUDA (see livehead.runtime.torch_passes: memory and speed).
        self.conv3d_as_2d = device == "cuda" if conv3d_as_2d is None else conv3d_as_2d
        rewritten = 0
        for spec in self._specs.values():
            spec.module.to(device).eval()
            if self.conv3d_as_2d:
                rewritten += conv3d_as_conv2d(spec.module)
        fp16_specs = [spec for spec in self._specs.values() if spec.compute_precision(precision) == "fp16"]
        fp32_networks = {id(sub) for spec in self._specs.values() if spec.compute_precision(precision) == "fp32"
                         for sub in spec.module.children()}
        islands: set[int] = set()  # modules inside fp32 islands of fp16 graphs: their weights stay fp32
        for spec in fp16_specs:
            islands |= keep_fp32(spec.module, spec.fp32_modules)
        halved: set[int] = set()
        for spec in fp16_specs:
            for sub in spec.module.children():
                if id(sub) in fp32_networks:
                    raise LiveHeadError(f"torch backend: network {type(sub).__name__} is shared by an fp16 and "
                                        "an fp32 graph; cannot half its weights")
                if id(sub) not in halved:
                    halved.add(id(sub))
                    _half_weights_(sub, keep=islands)
        self._rewritten = rewritten
        self._closed = False

    def _autocast(self, name: str):
        if self._specs[name].compute_precision(self.precision) == "fp16":
            return torch.autocast("cuda", dtype=torch.float16, cache_enabled=False)
        return contextlib.nullcontext()

    def _forward(self, name: str, args: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The graph's computation (the inductor runner swaps in the compiled module)."""
        return tuple(self._specs[name].module(*args))

    def _eager(self, name: str, args: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        with torch.inference_mode(), self._autocast(name):
            return self._forward(name, args)

    def _capture(self, name: str, inputs: dict[str, torch.Tensor]) -> _Captured | None:
        spec = self._specs[name]
        static = {t.name: inputs[t.name].to(self.device, torch.float32).clone() for t in spec.inputs}
        args = [static[n] for n in spec.input_names]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(stream):
                for _ in range(self._warmup):  # cudnn.benchmark and lazy init happen outside capture
                    self._eager(name, args)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outputs = self._eager(name, args)
        except RuntimeError as exc:
            log.warning("torch backend: CUDA graph capture of %s failed (%s); running it eagerly", name, exc)
            return None
        return _Captured(graph, static, outputs)

    def _spec(self, graph: str):
        if self._closed:
            raise LiveHeadError(f"{self.backend} runner is closed")
        spec = self._specs.get(graph)
        if spec is None:
            raise LiveHeadError(f"graph {graph!r} is not in {self.graphs.engine}'s graphs ({', '.join(self._specs)})")
        return spec

    def call(self, graph: str, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``run`` without a CUDA graph of its own: the graph's module at the runner's precision on
        float32 inputs already on the runner's device. It never waits for the GPU, so a caller may
        capture several graphs and the work between them as one CUDA graph (the neural engines'
        GPU frame path does)."""
        spec = self._spec(graph)
        outs = self._eager(graph, [inputs[n] for n in spec.input_names])
        return {n: o.float() for n, o in zip(spec.output_names, outs)}

    def run(self, graph: str, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        spec = self._spec(graph)
        if self._use_cuda_graphs and spec.stage == "per_frame":
            if graph not in self._captured:
                self._captured[graph] = self._capture(graph, dict(inputs))
            cap = self._captured[graph]
            if cap is not None:
                for name, buf in cap.inputs.items():
                    buf.copy_(inputs[name], non_blocking=True)
                cap.graph.replay()
                return {n: o.to(torch.float32, copy=True) for n, o in zip(spec.output_names, cap.outputs)}
        args = [inputs[n].to(self.device, torch.float32) for n in spec.input_names]
        outs = self._eager(graph, args)
        return {n: o.float() for n, o in zip(spec.output_names, outs)}  # fresh tensors; .float() is a no-op on fp32

    def describe(self) -> dict[str, str]:
        graphs = "CUDA graphs" if self._use_cuda_graphs else "eager"
        fp32 = [n for n, s in self._specs.items() if s.compute_precision(self.precision) == "fp32"]
        islands = [f"{n}.{p}" for n, s in self._specs.items() if s.compute_precision(self.precision) == "fp16"
                   for p in s.fp32_modules]
        mode = (f"fp16 autocast, half conv weights (fp32: {', '.join(fp32 + islands) or 'none'})"
                if self.precision == "fp16" else "fp32")
        conv3d = f", {self._rewritten} Conv3d as Conv2d" if self._rewritten else ""
        return {"backend": "torch", "device": self.device, "precision": self.precision,
                "detail": f"{mode}, {graphs}{conv3d}"}

    def close(self) -> None:
        self._captured.clear()
        self._closed = True
