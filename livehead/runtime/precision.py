"""fp16 variants of exported graphs, with fp32 islands where precision matters.

TensorRT 11 builds strongly typed networks only: the ONNX graph's own dtypes decide every layer's
precision and the old ``BuilderFlag.FP16`` is gone (an fp32 graph silently builds an fp32
engine: roboflow/rf-detr#1453). So the fp16 variant is written here, in the graph.

Which nodes stay fp32 (the *islands*):

* sinks that need range or sub-pixel resolution: ``Softmax``/``LogSoftmax`` (heatmaps with
  temperature 0.1, i.e. logits x 10; the dense-motion masks), ``Exp`` (keypoint Gaussians),
  ``GridSample`` (run entirely in fp32: a normalised coordinate in fp16 loses sub-pixel
  resolution, pytorch#89836, and TensorRT has had wrong results for grid_sample forced to a
  different type than its neighbours, pytorch/TensorRT#4074), ``InstanceNormalization``
  (variance of activations > 256 overflows fp16) and every graph output;
* everything those sinks depend on, walking back through the graph until a learned layer (Conv,
  ConvTranspose, MatMul or Gemm with a constant weight) is reached; a MatMul of two computed
  tensors (the Jacobian products of the sparse motions) stays in the island. That pulls in the keypoint grids, the sparse motions
  and the deformation (all built from fp32 keypoint inputs and constant grids), the softmax
  temperature division, the keypoint expectations and the Jacobian reductions.

Everything else (the convolutions and the elementwise ops between them) runs in fp16. Casts are
inserted at island borders; graph inputs and outputs stay fp32 (callers and the runners see the
same I/O dtypes for both variants). Inputs whose type is fixed by the op schema (Resize
``roi``/``scales``, shape tensors) are never converted (onnxconverter-common#306).
"""

from __future__ import annotations

import copy

import numpy as np

from livehead.runtime.passes import _unique

FP32_SINK_OPS = frozenset({"Softmax", "LogSoftmax", "Exp", "GridSample", "InstanceNormalization"})
HEAVY_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm"})
FP16_MAX = 65504.0


def _float_types():
    from onnx import TensorProto

    return {TensorProto.FLOAT, TensorProto.FLOAT16}


def fp32_nodes(model, *, sinks=FP32_SINK_OPS, heavy=HEAVY_OPS, elem: dict[str, int] | None = None) -> set[int]:
    """Indices of the nodes that stay fp32 (see the module docstring). ``elem`` maps value names
    to ONNX element types (inferred when not given)."""
    graph = model.graph
    producer = {o: i for i, node in enumerate(graph.node) for o in node.output}
    if elem is None:
        elem = _elem_types(model)
    floats = _float_types()
    constants = {init.name for init in graph.initializer} | {
        n.output[0] for n in graph.node if n.op_type == "Constant"}
    keep: set[int] = set()
    pending: list[str] = []

    def need_fp32(value: str) -> None:
        if value and elem.get(value) in floats:
            pending.append(value)

    for i, node in enumerate(graph.node):
        if node.op_type in sinks:
            keep.add(i)
            if node.op_type == "GridSample":
                need_fp32(node.input[1])  # the sampling coordinates, not the sampled features
            elif node.op_type != "InstanceNormalization":
                for name in node.input:
                    need_fp32(name)
    for out in graph.output:
        need_fp32(out.name)
    seen: set[str] = set()
    while pending:
        value = pending.pop()
        if value in seen:
            continue
        seen.add(value)
        idx = producer.get(value)
        if idx is None:  # graph input, initializer
            continue
        node = graph.node[idx]
        if node.op_type in heavy and any(name in constants for name in node.input[1:]):
            continue  # a learned layer: it runs in fp16 and its output is cast
        if idx not in keep:
            keep.add(idx)
        for name in node.input:
            need_fp32(name)
    return keep


def _elem_types(model, strict: bool = False) -> dict[str, int]:
    from livehead.runtime.passes import infer_types

    return {name: elem for name, (elem, _) in infer_types(model, strict=strict).items()}


def _typed_slots(node, opset: int) -> tuple[set[int], set[int]]:
    """Input and output positions whose element type follows the node's compute precision: those
    sharing a type variable with an output (or, for Cast, only the output)."""
    import onnx.defs

    if node.op_type == "Cast":
        return set(), {0}
    if node.op_type == "GridSample":  # X and grid have separate type variables; run both in one type
        return {0, 1}, {0}
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
    out_types = {p.type_str for p in schema.outputs}
    formal_in = list(schema.inputs)
    ins = set()
    for i in range(len(node.input)):
        param = formal_in[min(i, len(formal_in) - 1)] if formal_in else None
        if param is not None and param.type_str in out_types and not param.type_str.startswith("tensor("):
            ins.add(i)
    outs = set()
    formal_out = list(schema.outputs)
    for i in range(len(node.output)):
        param = formal_out[min(i, len(formal_out) - 1)]
        if not param.type_str.startswith("tensor("):
            outs.add(i)
    return ins, outs


def convert_to_fp16(model, *, sinks=FP32_SINK_OPS, heavy=HEAVY_OPS):
    """fp16 copy of an fp32 graph with fp32 islands; returns ``(model, report)``.

    ``report`` has ``fp16_nodes``, ``fp32_nodes``, ``casts`` (inserted Cast nodes) and
    ``fp32_ops`` (op type -> count of nodes kept fp32). Raises ``ValueError`` when an fp16
    initializer would overflow (|x| > 65504) or the result fails ONNX's strict type inference.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = copy.deepcopy(model)
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    elem = _elem_types(model, strict=True)
    keep = fp32_nodes(model, sinks=sinks, heavy=heavy, elem=elem)
    floats = _float_types()
    inits = {init.name: init for init in graph.initializer}
    consts = {node.output[0]: node for node in graph.node if node.op_type == "Constant"}
    taken = set(elem) | {o for n in graph.node for o in n.output} | {n.name for n in graph.node}

    def unique(name: str) -> str:
        return _unique(name, taken)

    current: dict[str, int] = {}  # value -> element type after conversion
    for vi in graph.input:
        current[vi.name] = vi.type.tensor_type.elem_type
    for name, init in inits.items():
        current[name] = init.data_type
    converted_consts: dict[tuple[str, int], str] = {}
    casts: dict[tuple[str, int], str] = {}
    new_nodes = []
    fp32_ops: dict[str, int] = {}
    n16 = n32 = 0

    def constant_as(name: str, dtype: int) -> str:
        key = (name, dtype)
        if key in converted_consts:
            return converted_consts[key]
        if name in inits:
            array = numpy_helper.to_array(inits[name])
        else:
            array = numpy_helper.to_array(next(a.t for a in consts[name].attribute if a.name == "value"))
        if dtype == TensorProto.FLOAT16:
            if array.size and np.abs(array).max() > FP16_MAX:
                raise ValueError(f"constant {name!r} has values beyond the fp16 range (max |x| = "
                                 f"{float(np.abs(array).max()):.3g}); keep its consumer in fp32")
            array = array.astype(np.float16)
        else:
            array = array.astype(np.float32)
        new_name = unique(f"{name}_fp16" if dtype == TensorProto.FLOAT16 else f"{name}_fp32")
        graph.initializer.append(numpy_helper.from_array(array, new_name))
        current[new_name] = dtype
        converted_consts[key] = new_name
        return new_name

    def cast(value: str, dtype: int) -> str:
        key = (value, dtype)
        if key not in casts:
            suffix = "fp16" if dtype == TensorProto.FLOAT16 else "fp32"
            out = unique(f"{value}_{suffix}")
            new_nodes.append(helper.make_node("Cast", [value], [out], to=dtype, name=unique(f"cast_{out}")))
            current[out] = dtype
            casts[key] = out
        return casts[key]

    for idx, node in enumerate(graph.node):
        if node.op_type == "Constant":
            current[node.output[0]] = elem.get(node.output[0], 0)
            new_nodes.append(node)
            continue
        in_slots, out_slots = _typed_slots(node, opset)
        touches_float = any(elem.get(node.input[i]) in floats for i in in_slots if node.input[i]) or any(
            elem.get(node.output[i]) in floats for i in out_slots)
        if not touches_float:
            for o in node.output:
                current[o] = elem.get(o, 0)
            new_nodes.append(node)
            continue
        dtype = TensorProto.FLOAT if idx in keep else TensorProto.FLOAT16
        if idx in keep:
            n32 += 1
            fp32_ops[node.op_type] = fp32_ops.get(node.op_type, 0) + 1
        else:
            n16 += 1
        for i in in_slots:
            name = node.input[i]
            if not name or current.get(name, elem.get(name)) not in floats:
                continue
            if current.get(name) == dtype:
                continue
            node.input[i] = constant_as(name, dtype) if (name in inits or name in consts) else cast(name, dtype)
        if node.op_type == "Cast":
            to = next(a for a in node.attribute if a.name == "to")
            if to.i in floats:
                to.i = dtype
        for a in node.attribute:
            if node.op_type == "ConstantOfShape" and a.name == "value" and a.t.data_type in floats:
                value = numpy_helper.to_array(a.t).astype(np.float16 if dtype == TensorProto.FLOAT16 else np.float32)
                a.t.CopyFrom(numpy_helper.from_array(value, a.t.name))
            elif a.name in ("dtype", "to") and node.op_type not in ("Cast", "CastLike"):
                raise ValueError(f"{node.op_type} node {node.name!r} has a dtype attribute this pass does not convert")
        for i, o in enumerate(node.output):
            current[o] = dtype if (i in out_slots and elem.get(o) in floats) else elem.get(o, 0)
        new_nodes.append(node)

    # Graph outputs keep fp32: rename an fp16 producer's output and cast back under the old name.
    for out in graph.output:
        if current.get(out.name) == TensorProto.FLOAT16:
            inner = unique(f"{out.name}_fp16")
            for node in new_nodes:
                for i, o in enumerate(node.output):
                    if o == out.name:
                        node.output[i] = inner
                for i, name in enumerate(node.input):
                    if name == out.name:
                        node.input[i] = inner
            new_nodes.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT,
                                              name=unique(f"cast_{out.name}")))
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.value_info[:]
    from livehead.runtime.passes import remove_unused_initializers

    remove_unused_initializers(model)
    from livehead.runtime.passes import typed_skeleton

    try:
        _elem_types(model, strict=True)  # type-checks every node
        onnx.checker.check_model(typed_skeleton(model))
    except Exception as exc:  # onnx raises several exception types here
        raise ValueError(f"the fp16 graph failed ONNX type checking: {exc}") from exc
    report = {"fp16_nodes": n16, "fp32_nodes": n32, "casts": len(casts), "fp32_ops": dict(sorted(fp32_ops.items()))}
    return model, report
