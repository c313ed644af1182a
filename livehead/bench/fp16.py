"""fp16 accuracy per graph: max and mean |fp16 − fp32| of every graph's outputs.

    python -m livehead.bench.fp16 --engine fomm [--checkpoint FILE --config YAML] [--size 256] [--device cpu]

fp32 is the graph run eagerly in float32. fp16 is what the torch runner does on a GPU: autocast to
float16 with half convolution weights, the graph's fp32 islands (``GraphSpec.fp32_modules``) and
its fp32 graphs (keypoints) in float32. On a CUDA GPU that runner runs; on the CPU it is emulated:
a ``TorchDispatchMode`` applies CUDA autocast's casting lists to CPU tensors (matrix products and
convolutions take fp16 operands, accumulate in fp32 and round the result to fp16, as tensor cores
do; exp, softmax, sums and norms run in fp32; grid_sample in the widest input type; every other op
keeps its inputs' dtype, so fp16 activations stay fp16 through batch norm, ReLU, pooling and adds).
Emulated and GPU numbers differ by accumulation order only: FOMM's generator on calibrated random
weights gave max 0.38 emulated where an H200 gave 0.25, both from the same layers.

Inputs are each graph's example inputs (``GraphSet.example_inputs``: smooth random images,
keypoints in [-0.7, 0.7], Jacobians near identity, features from the producing graph in fp32), so
every graph is measured on its own. Weights: a checkpoint, or the public architecture with
calibrated random weights (the default). This measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from livehead.bench.report import write_json

__all__ = ["AutocastEmulation", "graph_errors", "main"]

_aten = torch.ops.aten
# CUDA autocast's lists (torch/csrc/autocast), at the level a dispatch mode sees them (composite ops
# arrive undecomposed under inference mode, decomposed otherwise: both are listed).
_FP16 = {_aten.conv1d.default, _aten.conv2d.default, _aten.conv3d.default, _aten._convolution.default,
         _aten.convolution.default, _aten.linear.default, _aten.matmul.default, _aten.einsum.default,
         _aten.mm.default, _aten.bmm.default, _aten.addmm.default, _aten.baddbmm.default, _aten.addbmm.default,
         _aten.mv.default, _aten.addmv.default}
_FP32 = {_aten.exp.default, _aten.expm1.default, _aten.log.default, _aten.log2.default, _aten.log10.default,
         _aten.log1p.default, _aten.reciprocal.default, _aten.rsqrt.default, _aten.pow.Tensor_Scalar,
         _aten.pow.Tensor_Tensor, _aten.pow.Scalar, _aten.softmax.int, _aten._softmax.default,
         _aten.log_softmax.int, _aten._log_softmax.default, _aten.sum.default, _aten.sum.dim_IntList,
         _aten.prod.default, _aten.prod.dim_int, _aten.cumsum.default, _aten.cumprod.default,
         _aten.linalg_vector_norm.default, _aten.norm.ScalarOpt_dim, _aten.native_layer_norm.default,
         _aten.layer_norm.default, _aten.native_group_norm.default, _aten.group_norm.default,
         _aten.logsumexp.default, _aten.softplus.default, _aten.acos.default, _aten.asin.default,
         _aten.cosh.default, _aten.sinh.default, _aten.tan.default, _aten.erfinv.default}
_WIDEST = {_aten.grid_sampler.default, _aten.grid_sampler_2d.default, _aten.grid_sampler_3d.default,
           _aten.addcdiv.default, _aten.addcmul.default, _aten.atan2.default, _aten.index_put.default,
           _aten.scatter_add.default}


def _as(dtype: torch.dtype):
    return lambda x: x.to(dtype) if isinstance(x, Tensor) and x.is_floating_point() else x


class AutocastEmulation(TorchDispatchMode):
    """CUDA autocast(float16) on CPU tensors (see the module docstring); ``fp32_depth > 0`` turns it
    off, as ``torch.autocast(enabled=False)`` does inside an fp32 island."""

    def __init__(self) -> None:
        super().__init__()
        self.fp32_depth = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.fp32_depth:
            return func(*args, **kwargs)
        if func in _FP16:  # fp16 operands, fp32 accumulation, fp16 result
            a, k = tree_map(_as(torch.float32), tree_map(_as(torch.float16), (args, kwargs)))
            return tree_map(_as(torch.float16), func(*a, **k))
        floats = [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor) and t.is_floating_point()]
        if func in _FP32 or (func in _WIDEST and any(t.dtype == torch.float32 for t in floats)):
            a, k = tree_map(_as(torch.float32), (args, kwargs))
            return func(*a, **k)
        try:
            return func(*args, **kwargs)
        except (RuntimeError, NotImplementedError):  # an op without a CPU fp16 kernel: compute wide, store fp16
            if not any(t.dtype == torch.float16 for t in floats):
                raise
            a, k = tree_map(_as(torch.float32), (args, kwargs))
            return tree_map(_as(torch.float16), func(*a, **k))


def _emulated(spec, inputs: dict[str, Tensor]) -> tuple[Tensor, ...]:
    """``spec`` (a GraphSpec) in emulated fp16: weights halved outside its fp32 islands."""
    from livehead.runtime.torch_passes import keep_fp32
    from livehead.runtime.torch_runner import _half_weights_

    module = copy.deepcopy(spec.module)
    mode = AutocastEmulation()
    islands = keep_fp32(module, spec.fp32_modules)
    _half_weights_(module, keep=islands)
    for path in spec.fp32_modules:
        island = module.get_submodule(path)
        for name in dir(type(island)):
            if name.startswith("forward") and callable(getattr(type(island), name)):
                inner = getattr(island, name)

                def counted(*a, inner=inner, **k):
                    mode.fp32_depth += 1
                    try:
                        return inner(*a, **k)
                    finally:
                        mode.fp32_depth -= 1

                object.__setattr__(island, name, counted)
    with torch.inference_mode(), mode:
        return tuple(module(*[inputs[n] for n in spec.input_names]))


def graph_errors(graphs, *, device: str, seeds: tuple[int, ...] = (0, 1)) -> list[dict[str, Any]]:
    """One row per graph and output: ``graph``, ``output``, ``precision`` (what the graph computes in
    an fp16 set), ``fp32_modules``, ``max_abs``, ``mean_abs`` (over ``seeds``), ``method``."""
    rows = []
    runner = None
    if device == "cuda":
        from livehead.runtime.torch_runner import TorchRunner

        runner = TorchRunner(graphs=copy.deepcopy(graphs), device="cuda", precision="fp16", cuda_graphs=False)
    for spec in graphs:
        worst: dict[str, list[float]] = {}
        for seed in seeds:
            inputs = graphs.example_inputs(spec.name, seed=seed)
            reference = spec(inputs)
            if spec.compute_precision("fp16") == "fp32":
                got = reference
            elif runner is not None:
                got = runner.call(spec.name, {k: v.cuda() for k, v in inputs.items()})
            else:
                got = dict(zip(spec.output_names, _emulated(spec, inputs)))
            for name in spec.output_names:
                diff = (got[name].float().cpu() - reference[name].float()).abs()
                pair = worst.setdefault(name, [0.0, 0.0])
                pair[0] = max(pair[0], float(diff.max()))
                pair[1] = max(pair[1], float(diff.mean()))
        for name, (mx, mean) in worst.items():
            rows.append({"graph": spec.name, "output": name, "precision": spec.compute_precision("fp16"),
                         "fp32_modules": list(spec.fp32_modules), "max_abs": mx, "mean_abs": mean,
                         "method": "CUDA fp16 (torch runner)" if runner is not None else "CPU emulation of CUDA autocast"})
    return rows


def _models(engine: str, checkpoint: str | None, config: str | None, size: int, seed: int):
    from livehead.models import PUBLIC_CONFIGS, build_models, load_checkpoint, load_model_config

    cfg = load_model_config(config, engine=engine) if config else next(
        c for c in PUBLIC_CONFIGS.values() if c.engine == engine)
    if checkpoint:
        return load_checkpoint(checkpoint, cfg).models, checkpoint
    from livehead.models.random_init import randomize_

    models = build_models(cfg)
    randomize_(models, seed=seed, image_size=size)
    return models, f"calibrated random weights (seed {seed})"


def main(argv: list[str] | None = None) -> int:
    """``python -m livehead.bench.fp16``: max |fp16 - fp32| per graph of an engine (CUDA, or CPU emulation of autocast)."""
    p = argparse.ArgumentParser(prog="python -m livehead.bench.fp16", description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", required=True, choices=["fomm", "fv2v"])
    p.add_argument("--checkpoint", help="weights (default: the public architecture with calibrated random weights)")
    p.add_argument("--config", help="YAML model_params (fixtures and other sizes)")
    p.add_argument("--size", type=int, default=256, help="image size the graphs run at")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="cuda: the real fp16 runner; cpu: emulated (default: cuda when there is one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--without-islands", action="store_true",
                   help="run the fp32 islands in fp16 too (to see what they are for)")
    args = p.parse_args(argv)
    from livehead.runtime.graphs import build_graphs

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    models, weights = _models(args.engine, args.checkpoint, args.config, args.size, args.seed)
    graphs = build_graphs(models, image_size=args.size)
    if args.without_islands:
        for spec in graphs:
            spec.fp32_modules = ()
    rows = graph_errors(graphs, device=device)
    print(f"{args.engine} {args.size}x{args.size}, {weights}, {rows[0]['method'] if rows else ''}")
    for r in rows:
        islands = f" (fp32: {', '.join(r['fp32_modules'])})" if r["fp32_modules"] else ""
        print(f"  {r['graph']:15s} {r['output']:18s} {r['precision']}{islands}: max {r['max_abs']:.4f}  "
              f"mean {r['mean_abs']:.5f}")
    if args.json:
        write_json({"engine": args.engine, "size": args.size, "weights": weights, "rows": rows}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
