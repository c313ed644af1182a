"""Graph rewrites on exported ONNX models: BatchNorm folding and the TensorRT GridSample copy.

Every pass takes an ``onnx.ModelProto``, returns a new one (the input is never modified) and
keeps the graph's inputs and outputs. Parity tests run the result against PyTorch.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

_CONV_OPS = ("Conv", "ConvTranspose")


@dataclass(frozen=True)
class FoldReport:
    """How many BatchNormalization nodes :func:`fold_batchnorm` removed, and how."""
    folded_into_conv: int  # Conv -> BatchNormalization pairs merged into the conv
    to_affine: int  # BatchNormalization nodes with no conv before them, rewritten as Mul + Add


def _initializers(graph) -> dict:
    return {init.name: init for init in graph.initializer}


def _unique(name: str, taken: set[str]) -> str:
    candidate, i = name, 0
    while candidate in taken:
        i += 1
        candidate = f"{name}_{i}"
    taken.add(candidate)
    return candidate


def typed_skeleton(model, keep_elements: int = 4096):
    """A copy of ``model`` for shape/type inference: initializers larger than ``keep_elements``
    become typed graph inputs (their values are not needed; the small ones, e.g. Reshape shapes,
    are). Shape inference on the skeleton of a 400 MB generator takes milliseconds instead of
    seconds of protobuf copying."""
    import onnx
    from onnx import helper

    skeleton = onnx.ModelProto()
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    graph = skeleton.graph
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    graph.value_info.extend(model.graph.value_info)
    for init in model.graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        if n > keep_elements:
            graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            graph.initializer.append(init)
    return skeleton


def infer_types(model, *, strict: bool = False) -> dict[str, tuple[int, tuple[int, ...] | None]]:
    """``{value name: (elem_type, shape or None)}`` for every input, output, initializer and
    intermediate value of ``model`` (ONNX shape inference on :func:`typed_skeleton`)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(typed_skeleton(model), check_type=strict, strict_mode=strict)
    out: dict[str, tuple[int, tuple[int, ...] | None]] = {}
    for vi in [*inferred.graph.input, *inferred.graph.output, *inferred.graph.value_info]:
        tt = vi.type.tensor_type
        shape = tuple(d.dim_value for d in tt.shape.dim) if tt.HasField("shape") else None
        out[vi.name] = (tt.elem_type, shape)
    for init in inferred.graph.initializer:
        out[init.name] = (init.data_type, tuple(init.dims))
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = (a.t.data_type, tuple(a.t.dims))
    return out


def remove_unused_initializers(model) -> None:
    """Drop initializers no node (or graph output) reads. In place."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def fold_batchnorm(model):
    """Fold inference-mode ``BatchNormalization`` nodes away; returns ``(model, FoldReport)``.

    * ``Conv``/``ConvTranspose`` -> ``BatchNormalization`` where the conv output feeds only that
      BN: the BN scale and shift are multiplied into the conv's weight and bias.
    * Any other BN (the pre-activation ``BN -> ReLU -> conv`` of residual blocks, which has no conv
      before it): rewritten as ``Mul`` + ``Add`` with precomputed per-channel ``scale``/``shift``.

    After this pass no ``BatchNormalization`` remains, so no running statistics are combined at
    run time, and the fp16 pass only sees plain elementwise ops (TensorRT's strongly typed parser
    needed a fix for mixed-precision BN nodes in 10.7). The torch.onnx dynamo exporter's optimizer
    already merges most conv -> BN pairs; this pass guarantees the rest. BN statistics must be
    initializers; a BN in training mode is an error.
    """
    import onnx
    from onnx import numpy_helper

    model = copy.deepcopy(model)
    graph = model.graph
    inits = _initializers(graph)
    taken = {i.name for i in graph.initializer} | {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    consumers: dict[str, list] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    producer = {o: node for node in graph.node for o in node.output}
    graph_outputs = {o.name for o in graph.output}
    ranks = {name: len(shape) for name, (_, shape) in infer_types(model).items() if shape is not None}

    def const(name: str) -> np.ndarray:
        if name not in inits:
            raise ValueError(f"BatchNormalization parameter {name!r} is not an initializer; export in eval mode")
        return numpy_helper.to_array(inits[name]).astype(np.float64)

    def add_init(base: str, array: np.ndarray, dtype) -> str:
        name = _unique(base, taken)
        tensor = numpy_helper.from_array(array.astype(dtype), name)
        graph.initializer.append(tensor)
        inits[name] = tensor
        return name

    new_nodes = []
    removed = set()
    folded = affine = 0
    for node in graph.node:
        if node.op_type != "BatchNormalization":
            new_nodes.append(node)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("training_mode", 0) or len(node.output) > 1:
            raise ValueError(f"BatchNormalization {node.name!r} is in training mode; export the model in eval()")
        eps = float(attrs.get("epsilon", 1e-5))
        x, scale_name, bias_name, mean_name, var_name = node.input[:5]
        gamma, beta, mean, var = const(scale_name), const(bias_name), const(mean_name), const(var_name)
        scale = gamma / np.sqrt(var + eps)  # per channel
        shift = beta - mean * scale
        out_dtype = numpy_helper.to_array(inits[scale_name]).dtype
        conv = producer.get(x)
        can_fold = (
            conv is not None and conv.op_type in _CONV_OPS and len(consumers[x]) == 1 and x not in graph_outputs
            and conv.input[1] in inits and (len(conv.input) < 3 or not conv.input[2] or conv.input[2] in inits)
        )
        if can_fold and conv.op_type == "ConvTranspose":
            group = next((onnx.helper.get_attribute_value(a) for a in conv.attribute if a.name == "group"), 1)
            can_fold = group == 1
        if can_fold:
            w = numpy_helper.to_array(inits[conv.input[1]])
            shape = [1] * w.ndim
            axis = 0 if conv.op_type == "Conv" else 1  # ConvTranspose weight is (C_in, C_out/group, k...)
            shape[axis] = -1
            w_new = w.astype(np.float64) * scale.reshape(shape)
            b_old = const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros_like(scale)
            b_new = b_old * scale + shift
            w_name = add_init(f"{conv.input[1]}_bnfold", w_new, w.dtype)
            b_name = add_init(f"{conv.input[1]}_bnfold_bias", b_new, w.dtype)
            inputs = list(conv.input) + [""] * (3 - len(conv.input))
            inputs[1], inputs[2] = w_name, b_name
            del conv.input[:]
            conv.input.extend(inputs)
            conv.output[0] = node.output[0]  # the conv now produces the BN's output directly
            removed.add(x)
            folded += 1
            continue
        rank = ranks.get(x)
        if rank is None:
            raise ValueError(f"rank of BatchNormalization input {x!r} unknown; run shape inference on a static graph")
        bshape = [-1] + [1] * (rank - 2)
        s_name = add_init(f"{node.name or x}_bn_scale", scale.reshape(bshape), out_dtype)
        t_name = add_init(f"{node.name or x}_bn_shift", shift.reshape(bshape), out_dtype)
        mid = _unique(f"{node.output[0]}_scaled", taken)
        base = node.name or node.output[0]
        new_nodes.append(onnx.helper.make_node("Mul", [x, s_name], [mid], name=_unique(f"{base}_mul", taken)))
        new_nodes.append(onnx.helper.make_node("Add", [mid, t_name], [node.output[0]], name=_unique(f"{base}_add", taken)))
        affine += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    # value_info of the tensors that disappeared (the conv outputs) would now be dangling.
    keep_vi = [vi for vi in graph.value_info if vi.name not in removed]
    del graph.value_info[:]
    graph.value_info.extend(keep_vi)
    remove_unused_initializers(model)
    return model, FoldReport(folded_into_conv=folded, to_affine=affine)


def count_ops(model) -> dict[str, int]:
    """``{op_type: count}`` of an ONNX model's nodes."""
    counts: dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        counts[node.op_type] += 1
    return dict(counts)


# ONNX GridSample-20 spelling -> the spelling the TensorRT parser recognises (onnxOpImporters.cpp).
_TRT_GRIDSAMPLE_MODES = {"linear": "bilinear", "cubic": "bicubic", "bilinear": "bilinear", "bicubic": "bicubic",
                         "nearest": "nearest"}


def gridsample_modes_for_tensorrt(model):
    """Copy of ``model`` whose GridSample ``mode`` attributes use the TensorRT parser's spelling.

    Why: ONNX GridSample-20 renamed the modes to "linear"/"cubic" and torch writes "linear", but
    the TensorRT parser only knows "bilinear"/"bicubic" and silently falls back to NEAREST for
    anything else (NVIDIA/TensorRT#4646; onnx-tensorrt PR #1060 still open). The copy is for
    TensorRT only: ONNX Runtime rejects "bilinear" at opset 20. A node without a ``mode``
    attribute gets an explicit one ("linear" is the ONNX default, the parser's default is nearest).
    Returns ``(model_copy, number_of_nodes_rewritten)``.
    """
    import onnx

    model = copy.deepcopy(model)
    changed = 0
    for node in model.graph.node:
        if node.op_type != "GridSample":
            continue
        attr = next((a for a in node.attribute if a.name == "mode"), None)
        if attr is None:
            node.attribute.append(onnx.helper.make_attribute("mode", "bilinear"))
            changed += 1
            continue
        mode = attr.s.decode()
        if mode not in _TRT_GRIDSAMPLE_MODES:
            raise ValueError(f"GridSample node {node.name!r} has unknown mode {mode!r}")
        if _TRT_GRIDSAMPLE_MODES[mode] != mode:
            attr.s = _TRT_GRIDSAMPLE_MODES[mode].encode()
            changed += 1
    return model, changed


def gridsample_modes(model) -> list[str]:
    """The ``mode`` of every GridSample node, in graph order ("linear" when absent)."""
    modes = []
    for node in model.graph.node:
        if node.op_type == "GridSample":
            attr = next((a for a in node.attribute if a.name == "mode"), None)
            modes.append(attr.s.decode() if attr is not None else "linear")
    return modes
