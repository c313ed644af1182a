"""The graph contract: static-shape tensor specs, graphs, graph sets, and the per-engine builder registry.

A *graph* is a small ``nn.Module`` wrapper around networks of :mod:`livehead.models` with positional
tensor inputs and a tuple of tensor outputs, so the same object is run eagerly by the torch backend,
exported to ONNX, and compiled by TensorRT. Batch size is 1 and every shape is fixed by the image size.
Each engine's builder adds its graphs through a :class:`GraphBuilder`; the registry in
:mod:`livehead.runtime.graphs` looks the engine up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from livehead.models.random_init import random_image

Stage = Literal["per_avatar", "per_frame"]
# How example inputs are made for a tensor: parity tests and benchmarks use them.
Kind = Literal["image", "feature", "kp_value", "kp_jacobian", "logits", "vector"]


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, static shape, how to make a realistic example."""

    name: str
    shape: tuple[int, ...]
    kind: Kind
    dtype: str = "float32"
    produced_by: str | None = None  # for per-frame inputs computed by a per-avatar graph


@dataclass
class GraphSpec:
    """A graph: the wrapper module plus its I/O contract."""

    name: str
    stage: Stage
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    doc: str = ""
    fp16: bool = True  # runs in fp16 (with fp32 islands) when the set's precision is fp16
    # submodules (paths inside ``module``) that compute in fp32 even in fp16: where fp16 rounding shows
    fp32_modules: tuple[str, ...] = ()

    def compute_precision(self, precision: str) -> str:
        """``"fp16"`` or ``"fp32"``: what this graph computes in when the set runs at ``precision``."""
        return "fp16" if precision == "fp16" and self.fp16 else "fp32"

    @property
    def input_names(self) -> list[str]:
        """Input tensor names, in call order."""
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Output tensor names, in return order."""
        return [t.name for t in self.outputs]

    def __call__(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Run eagerly (no grad): ``{input name: tensor}`` -> ``{output name: tensor}``."""
        with torch.inference_mode():
            outs = self.module(*[inputs[n] for n in self.input_names])
        return dict(zip(self.output_names, outs))


@dataclass
class GraphSet:
    """All graphs of one engine for one checkpoint and image size."""

    engine: str
    image_size: int
    graphs: dict[str, GraphSpec]
    checkpoint: str | None = None  # path as given (None for random weights)
    checkpoint_sha256: str = "random-weights"
    config_name: str = ""
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> GraphSpec:
        try:
            return self.graphs[name]
        except KeyError:
            raise KeyError(f"{self.engine} has no graph {name!r}; it has {', '.join(self.graphs)}") from None

    def __iter__(self):
        return iter(self.graphs.values())

    def names(self, stage: Stage | None = None) -> list[str]:
        """Graph names, all or those of one ``stage`` ("per_avatar" / "per_frame")."""
        return [n for n, g in self.graphs.items() if stage is None or g.stage == stage]

    def example_inputs(self, name: str, *, seed: int = 0, device: str | torch.device = "cpu") -> dict[str, Tensor]:
        """Realistic inputs for graph ``name``: smooth random images in [0, 1], keypoints in
        [-0.7, 0.7], Jacobians near identity, and features made by running the per-avatar graph
        that produces them on a random image (so their statistics are the real ones)."""
        gen = torch.Generator().manual_seed(seed)
        spec = self[name]
        out: dict[str, Tensor] = {}
        produced: dict[str, dict[str, Tensor]] = {}
        for t in spec.inputs:
            if t.produced_by is not None:
                if t.produced_by not in produced:
                    producer = self[t.produced_by]
                    src = {i.name: random_image(i.shape, gen) for i in producer.inputs}
                    produced[t.produced_by] = producer(src)
                out[t.name] = produced[t.produced_by][t.name].clone()
            else:
                out[t.name] = example_tensor(t, gen)
        return {k: v.to(device) for k, v in out.items()}


def example_tensor(spec: TensorSpec, gen: torch.Generator) -> Tensor:
    """A plausible random input for ``spec`` (image in [0, 1], keypoints in [-0.7, 0.7], Jacobians near identity, ...), for export and parity checks."""
    if spec.kind == "image":
        return random_image(spec.shape, gen)
    if spec.kind == "kp_value":
        return (torch.rand(spec.shape, generator=gen) * 2 - 1) * 0.7
    if spec.kind == "kp_jacobian":
        eye = torch.eye(spec.shape[-1]).expand(spec.shape)
        return eye + 0.1 * torch.randn(spec.shape, generator=gen)
    if spec.kind == "logits":
        return torch.randn(spec.shape, generator=gen)
    return torch.randn(spec.shape, generator=gen)


def output_shapes(module: nn.Module, inputs: list[TensorSpec]) -> list[tuple[int, ...]]:
    """Output shapes of ``module`` without computing anything: run it on the meta device with
    meta copies of its parameters and buffers (``torch.func.functional_call``)."""
    state = {k: v.to("meta") for k, v in [*module.named_parameters(), *module.named_buffers()]}
    args = tuple(torch.empty(t.shape, device="meta") for t in inputs)
    with torch.no_grad():
        outs = torch.func.functional_call(module, state, args)
    return [tuple(o.shape) for o in outs]


def prepare_for_inference(models) -> None:
    """Eval mode and spectral norm folded into plain convs, in place (same outputs; the folded
    state dict no longer loads the original checkpoints, so fold after loading)."""
    from livehead.models.blocks import fold_spectral_norm

    for _, module in models.items():
        module.eval()
        fold_spectral_norm(module)
        for p in module.parameters():
            p.requires_grad_(False)



class GraphBuilder:
    """Collects one engine's graphs; an engine's builder calls :meth:`add` for each graph in run order."""

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size
        self.graphs: dict[str, GraphSpec] = {}

    def image(self, name: str) -> TensorSpec:
        """A ``(1, 3, S, S)`` image input named ``name``."""
        s = self.image_size
        return TensorSpec(name, (1, 3, s, s), "image")

    def add(self, name: str, stage: Stage, module: nn.Module, inputs: list[TensorSpec], out_names: list[str],
            out_kinds: list[Kind], doc: str, produced_by: str | None = None,
            fp32_modules: tuple[str, ...] = ()) -> GraphSpec:
        """Register graph ``name``; output shapes are derived on the meta device (cheap at full size)."""
        module.eval()  # wrappers are new modules (training=True by default); the networks inside are eval already
        shapes = output_shapes(module, inputs)
        outputs = tuple(TensorSpec(n, sh, k, produced_by=produced_by) for n, sh, k in zip(out_names, shapes, out_kinds))
        spec = GraphSpec(name, stage, module, tuple(inputs), outputs, doc, fp32_modules=tuple(fp32_modules))
        self.graphs[name] = spec
        return spec
