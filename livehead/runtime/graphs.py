"""Each engine split into graphs with static shapes: per-avatar graphs and per-frame graphs.

A *graph* is a small ``nn.Module`` wrapper around the networks of :mod:`livehead.models` with
positional tensor inputs and a tuple of tensor outputs, so the same object is run eagerly by the
torch backend, exported to ONNX, and compiled by TensorRT. Batch size is 1 and every shape is
fixed by ``image_size``.

Graphs (``S`` = image size, 256 for vox; shapes for vox in brackets):

FOMM (``engine="fomm"``)

=================  ==========  ==========================================================================
graph              stage       inputs -> outputs
=================  ==========  ==========================================================================
``kp_detector``    per_frame   ``image`` (1,3,S,S) -> ``kp_value`` (1,K,2), ``kp_jacobian`` (1,K,2,2)
                               (also run once on the avatar for ``kp_source``)
``source_encoder`` per_avatar  ``source`` (1,3,S,S) -> ``source_features`` [1,256,64,64],
                               ``motion_source`` [1,3,64,64]
``generator``      per_frame   ``source_features``, ``motion_source``, ``kp_source_value``,
                               ``kp_source_jacobian``, ``kp_driving_value``, ``kp_driving_jacobian``
                               -> ``prediction`` (1,3,S,S) in [0,1]
=================  ==========  ==========================================================================

face-vid2vid (``engine="fv2v"``)

=================  ==========  ==========================================================================
``kp_detector``    per_avatar  ``image`` -> ``kp_canonical`` (1,K,3)
``he_estimator``   per_frame   ``image`` -> ``yaw``, ``pitch``, ``roll`` (1,66) logits (reference
                               names, see :class:`livehead.models.fv2v.HEEstimator`), ``t`` (1,3),
                               ``exp`` (1,3K)  (also run once on the avatar)
``source_encoder`` per_avatar  ``source`` -> ``feature_3d`` [1,32,16,64,64]
``generator``      per_frame   ``feature_3d``, ``kp_source`` (1,K,3), ``kp_driving`` (1,K,3)
                               -> ``prediction`` (1,3,S,S)
=================  ==========  ==========================================================================

Between graphs the animator runs the keypoint math of :mod:`livehead.models.keypoints` in torch
(``normalize_kp`` for both engines; ``keypoint_transformation`` for face-vid2vid): a few dozen
element operations on (1,K,3) tensors, kept out of the graphs so free-view angles and relative
motion stay plain Python arguments. All inputs and outputs are float32 in both precisions.

Precision: in an ``fp16`` set the keypoint graphs (``kp_detector``, ``he_estimator``) still run
in fp32 unless ``build_graphs(..., fp16_keypoints=True)``. They are cheap (FOMM 1.3 GMAC, HE 7.8
of face-vid2vid's 171 per frame) and they drive everything downstream: on full-size random
weights fp16 moved FOMM keypoints by up to 0.005 (0.6 px at 256) and face-vid2vid's expression
offsets by 4 % and its angles by 0.4 degrees, which becomes frame-to-frame jitter. This is what
FasterLivePortrait does with its motion extractor (fp32 inside an fp16 pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

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

    def compute_precision(self, precision: str) -> str:
        """``"fp16"`` or ``"fp32"``: what this graph computes in when the set runs at ``precision``."""
        return "fp16" if precision == "fp16" and self.fp16 else "fp32"

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
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


def random_image(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    """Smooth random image in [0, 1]: 16x-coarser uniform noise upsampled bilinearly."""
    b, c, h, w = shape
    coarse = torch.rand(b, c, max(2, h // 16), max(2, w // 16), generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def example_tensor(spec: TensorSpec, gen: torch.Generator) -> Tensor:
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


# --------------------------------------------------------------------------------------------
# Wrappers. Each takes positional tensors in ``GraphSpec.inputs`` order and returns a tuple in
# ``GraphSpec.outputs`` order.


class FommKeypoints(nn.Module):
    """FOMM KPDetector: image -> keypoints (and Jacobians)."""

    def __init__(self, kp_detector: nn.Module) -> None:
        super().__init__()
        self.kp_detector = kp_detector
        self.with_jacobian = getattr(kp_detector, "jacobian", None) is not None

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        kp = self.kp_detector(image)
        return (kp["value"], kp["jacobian"]) if self.with_jacobian else (kp["value"],)


class FommSourceEncoder(nn.Module):
    """FOMM per-avatar part of the generator (``encode_source``)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: Tensor) -> tuple[Tensor, Tensor]:
        encoding = self.generator.encode_source(source)
        return encoding.features, encoding.motion_source


class FommGenerator(nn.Module):
    """FOMM per-frame part: dense motion + warp + decoder (``decode``)."""

    def __init__(self, generator: nn.Module, with_jacobian: bool) -> None:
        super().__init__()
        self.generator = generator
        self.with_jacobian = with_jacobian

    def forward(self, *tensors: Tensor) -> tuple[Tensor]:
        from livehead.models.fomm import FommSourceEncoding

        if self.with_jacobian:
            features, motion_source, kp_s, jac_s, kp_d, jac_d = tensors
        else:
            (features, motion_source, kp_s, kp_d), jac_s, jac_d = tensors, None, None
        out = self.generator.decode(
            FommSourceEncoding(features, motion_source),
            {"value": kp_d, "jacobian": jac_d},
            {"value": kp_s, "jacobian": jac_s},
        )
        return (out["prediction"],)


class Fv2vCanonicalKeypoints(nn.Module):
    """face-vid2vid KPDetector: image -> canonical 3D keypoints."""

    def __init__(self, kp_detector: nn.Module) -> None:
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image: Tensor) -> tuple[Tensor]:
        return (self.kp_detector(image)["value"],)


class Fv2vHeadPose(nn.Module):
    """face-vid2vid HEEstimator: image -> pose logits, translation, expression."""

    def __init__(self, he_estimator: nn.Module) -> None:
        super().__init__()
        self.he_estimator = he_estimator

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        he = self.he_estimator(image)
        return he["yaw"], he["pitch"], he["roll"], he["t"], he["exp"]


class Fv2vSourceEncoder(nn.Module):
    """face-vid2vid per-avatar appearance volume (``encode_source``)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, source: Tensor) -> tuple[Tensor]:
        return (self.generator.encode_source(source),)


class Fv2vGenerator(nn.Module):
    """face-vid2vid per-frame part: 3D dense motion + warp + SPADE decoder (``decode``)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, feature_3d: Tensor, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor]:
        out = self.generator.decode(feature_3d, {"value": kp_driving, "jacobian": None},
                                    {"value": kp_source, "jacobian": None})
        return (out["prediction"],)


# --------------------------------------------------------------------------------------------


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


def build_graphs(models, *, image_size: int = 256, checkpoint: str | None = None,
                 checkpoint_sha256: str = "random-weights", config_name: str = "",
                 fp16_keypoints: bool = False) -> GraphSet:
    """Wrap a :class:`livehead.models.ModelSet` into its per-avatar and per-frame graphs.

    The networks are prepared in place (:func:`prepare_for_inference`): eval mode, spectral norm
    folded, no grad. Shapes are derived on the meta device, so this is cheap even at full size.
    ``fp16_keypoints`` lets the keypoint graphs run in fp16 too (see the module docstring).
    """
    prepare_for_inference(models)
    s = image_size
    image = TensorSpec("image", (1, 3, s, s), "image")
    source = TensorSpec("source", (1, 3, s, s), "image")
    graphs: dict[str, GraphSpec] = {}

    def add(name: str, stage: Stage, module: nn.Module, inputs: list[TensorSpec], out_names: list[str],
            out_kinds: list[Kind], doc: str, produced_by: str | None = None) -> GraphSpec:
        module.eval()  # wrappers are new modules (training=True by default); the networks inside are eval already
        shapes = output_shapes(module, inputs)
        outputs = tuple(TensorSpec(n, sh, k, produced_by=produced_by) for n, sh, k in zip(out_names, shapes, out_kinds))
        spec = GraphSpec(name, stage, module, tuple(inputs), outputs, doc)
        graphs[name] = spec
        return spec

    if models.engine == "fomm":
        kp = FommKeypoints(models.kp_detector)
        jac = kp.with_jacobian
        kp_spec = add("kp_detector", "per_frame", kp, [image], ["kp_value", "kp_jacobian"][: 2 if jac else 1],
                      ["kp_value", "kp_jacobian"][: 2 if jac else 1], "keypoints (+ Jacobians) of an image")
        if getattr(models.generator, "dense_motion_network", None) is None:
            raise ValueError("FOMM export needs a generator with a dense-motion network (dense_motion_params)")
        enc = add("source_encoder", "per_avatar", FommSourceEncoder(models.generator), [source],
                  ["source_features", "motion_source"], ["feature", "image"], "per-avatar source encoding",
                  produced_by="source_encoder")
        kv, kj = kp_spec.outputs[0].shape, (kp_spec.outputs[1].shape if jac else None)
        gen_inputs = [*enc.outputs, TensorSpec("kp_source_value", kv, "kp_value")]
        if jac:
            gen_inputs.append(TensorSpec("kp_source_jacobian", kj, "kp_jacobian"))
        gen_inputs.append(TensorSpec("kp_driving_value", kv, "kp_value"))
        if jac:
            gen_inputs.append(TensorSpec("kp_driving_jacobian", kj, "kp_jacobian"))
        add("generator", "per_frame", FommGenerator(models.generator, jac), gen_inputs, ["prediction"], ["image"],
            "dense motion, warp, occlusion and decoder")
    elif models.engine == "fv2v":
        add("kp_detector", "per_avatar", Fv2vCanonicalKeypoints(models.kp_detector), [image], ["kp_canonical"],
            ["kp_value"], "canonical 3D keypoints of the avatar")
        add("he_estimator", "per_frame", Fv2vHeadPose(models.he_estimator), [image],
            ["yaw", "pitch", "roll", "t", "exp"], ["logits", "logits", "logits", "vector", "vector"],
            "head pose bins (reference names), translation, expression")
        enc = add("source_encoder", "per_avatar", Fv2vSourceEncoder(models.generator), [source], ["feature_3d"],
                  ["feature"], "per-avatar appearance volume", produced_by="source_encoder")
        k = graphs["kp_detector"].outputs[0].shape
        add("generator", "per_frame", Fv2vGenerator(models.generator),
            [*enc.outputs, TensorSpec("kp_source", k, "kp_value"), TensorSpec("kp_driving", k, "kp_value")],
            ["prediction"], ["image"], "3D dense motion, warp, occlusion and SPADE decoder")
    else:
        raise ValueError(f"unknown engine {models.engine!r}; expected 'fomm' or 'fv2v'")
    if not fp16_keypoints:
        for name in ("kp_detector", "he_estimator"):
            if name in graphs:
                graphs[name].fp16 = False
    return GraphSet(engine=models.engine, image_size=image_size, graphs=graphs, checkpoint=checkpoint,
                    checkpoint_sha256=checkpoint_sha256, config_name=config_name)
