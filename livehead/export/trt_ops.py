"""Which ONNX nodes the TensorRT ONNX parser accepts, per targeted TensorRT version.

TensorRT cannot be installed on our build machines, so instead of "parse and see" we check every
exported graph against the parser's own support matrix before a user ever runs the build on a
GPU. The table below is ``onnx/onnx-tensorrt`` ``docs/operators.md`` at the 10.1 GA release (the
newest copy of that file we could read, commit 96e7811), plus the parser changes announced since:
10.15 RotaryEmbedding / RMSNormalization / TensorScatter (onnx-tensorrt CHANGELOG), 11.2 DFT and
5D GridSample ("support for the DFT operator and 5D GridSample operators", TensorRT 11.2.1 release
notes). Only ops marked supported ("Y") there are listed; anything else is reported as
unsupported. Restrictions we can check from the graph itself (ranks, attributes, initializer-only
inputs, element types) are checked; see :func:`check_tensorrt_support`.

GridSample gets two extra checks because they are the export hazards of this project
(``../shared/docs/tensorrt.md`` 1.1-1.2): rank 5 needs TensorRT >= 11.2, and the parser maps only
the exact mode strings "bilinear"/"bicubic"/"nearest"; the opset-20 spelling "linear" silently
becomes nearest-neighbour sampling (NVIDIA/TensorRT#4646), so the TensorRT copy must carry
"bilinear" (:func:`livehead.runtime.passes.gridsample_modes_for_tensorrt`).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TRT_VERSION = "11.4"  # the PyPI default when this was written (tensorrt 11.4.0.106)

_F = "FP32, FP16, BF16"
_FI = "FP32, FP16, BF16, INT32, INT64"
_ALL = "FP32, FP16, BF16, INT32, INT64, BOOL"

# op -> supported element types (of the op's main tensor type). Source: operators.md 10.1 GA.
SUPPORTED_OPS: dict[str, str] = {
    "Abs": _FI, "Acos": _F, "Acosh": _F, "Add": _FI, "And": "BOOL", "ArgMax": _FI, "ArgMin": _FI,
    "Asin": _F, "Asinh": _F, "Atan": _F, "Atanh": _F, "AveragePool": _F, "BatchNormalization": _F,
    "Cast": "FP32, FP16, BF16, INT32, INT64, UINT8, BOOL", "CastLike": "FP32, FP16, BF16, INT32, INT64, UINT8, BOOL",
    "Ceil": _F, "Celu": _F, "Clip": _F, "Concat": _ALL, "Constant": _ALL, "ConstantOfShape": _ALL,
    "Conv": _F, "ConvTranspose": _F, "Cos": _F, "Cosh": _F, "CumSum": _F, "DeformConv": "FP32, FP16",
    "DepthToSpace": _FI, "DequantizeLinear": "INT8, FP8, INT4", "Div": _FI, "Dropout": _F, "Einsum": _F,
    "Elu": _F, "Equal": _FI, "Erf": _F, "Exp": _F, "Expand": _ALL, "EyeLike": _ALL, "Flatten": _ALL,
    "Floor": _F, "Gather": _ALL, "GatherElements": _ALL, "GatherND": _ALL, "Gelu": _FI, "Gemm": _F,
    "GlobalAveragePool": _F, "GlobalLpPool": _F, "GlobalMaxPool": _F, "Greater": _FI, "GreaterOrEqual": _FI,
    "GridSample": "FP32, FP16", "GroupNormalization": _F, "GRU": _F, "HardSigmoid": _F, "HardSwish": _F,
    "Hardmax": _F, "Identity": _ALL, "If": _ALL, "ImageScaler": _F, "InstanceNormalization": _F,
    "IsInf": _F, "IsNaN": _FI, "LayerNormalization": _F, "LeakyRelu": _F, "Less": _FI, "LessOrEqual": _FI,
    "Log": _F, "LogSoftmax": _F, "Loop": _ALL, "LRN": _F, "LSTM": _F, "LpNormalization": _F, "LpPool": _F,
    "MatMul": _F, "Max": _FI, "MaxPool": _F, "Mean": _FI, "MeanVarianceNormalization": _F, "Min": _FI,
    "Mish": "FP32, FP16", "Mod": _FI, "Mul": _FI, "Neg": _FI, "NonMaxSuppression": "FP32, FP16",
    "NonZero": "FP32, FP16", "Not": "BOOL", "OneHot": _ALL, "Or": "BOOL", "Pad": _FI,
    "ParametricSoftplus": _F, "Pow": _F, "PRelu": _F, "QuantizeLinear": _F, "RandomNormal": _F,
    "RandomNormalLike": _F, "RandomUniform": _F, "RandomUniformLike": _F, "Range": _FI, "Reciprocal": _F,
    "ReduceL1": _FI, "ReduceL2": _FI, "ReduceLogSum": _FI, "ReduceLogSumExp": _FI, "ReduceMax": _FI,
    "ReduceMean": _FI, "ReduceMin": _FI, "ReduceProd": _FI, "ReduceSum": _FI, "ReduceSumSquare": _FI,
    "Relu": _FI, "Reshape": _ALL, "Resize": _F, "ReverseSequence": _ALL, "RNN": _F, "RoiAlign": "FP32, FP16",
    "Round": _F, "ScaledTanh": _F, "Scan": _F, "Scatter": _FI, "ScatterElements": _FI, "ScatterND": _FI,
    "Selu": _F, "Shape": _ALL, "Shrink": _FI, "Sigmoid": _F, "Sign": _FI, "Sin": _F, "Sinh": _F,
    "Size": _ALL, "Slice": _ALL, "Softmax": _F, "Softplus": _F, "Softsign": _F, "SpaceToDepth": _FI,
    "Split": _ALL, "Sqrt": _F, "Squeeze": _ALL, "Sub": _FI, "Sum": _FI, "Tan": _F, "Tanh": _F,
    "ThresholdedRelu": _F, "Tile": _ALL, "TopK": _FI, "Transpose": _ALL, "Trilu": _ALL, "Unsqueeze": _ALL,
    "Upsample": _F, "Where": _ALL, "Xor": "BOOL",
}

# op -> (first TensorRT version whose ONNX parser imports it, extra types from then on)
ADDED_IN: dict[str, tuple[tuple[int, int], str]] = {
    "RotaryEmbedding": ((10, 15), _F),
    "RMSNormalization": ((10, 15), _F),
    "TensorScatter": ((10, 15), _F),
    "DFT": ((11, 2), "FP32, FP16"),
}

# Highest ONNX opset the parser accepts (lowest is 9 throughout).
_MAX_OPSET = [((11, 0), 25), ((10, 0), 20)]  # TRT 11 "Maximum opset 25"; operators.md 10.0: "opset 9 to opset 20"

# Inputs the parser needs as initializers (build-time constants), by op: operators.md restrictions.
_CONSTANT_INPUTS: dict[str, tuple[int, ...]] = {
    "CumSum": (1,), "Pad": (3,), "Slice": (3,), "Squeeze": (1,), "Unsqueeze": (1,),
    **{op: (1,) for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                           "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare")},
}

_ELEM_NAMES = {1: "FP32", 10: "FP16", 16: "BF16", 11: "DOUBLE", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8", 3: "INT8"}
_RESIZE_COORD = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
_RESIZE_NEAREST = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}


@dataclass(frozen=True)
class OpProblem:
    """One node the targeted TensorRT parser would reject or mis-import."""

    node: str
    op_type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op_type} node {self.node!r}: {self.reason}"


def parse_trt_version(version: str) -> tuple[int, int]:
    """``"11.4.0.106"`` or ``"11.4"`` -> ``(11, 4)``."""
    try:
        parts = [int(p) for p in str(version).split(".")[:2]]
    except ValueError as exc:
        raise ValueError(f"TensorRT version must look like '11.4' or '11.4.0.106', got {version!r}") from exc
    return (parts[0], parts[1] if len(parts) > 1 else 0)


def max_opset(version: tuple[int, int]) -> int:
    """The newest ONNX opset the TensorRT ``version`` (major, minor) parser reads."""
    for since, opset in _MAX_OPSET:
        if version >= since:
            return opset
    raise ValueError(f"TensorRT {version[0]}.{version[1]} is older than the 10.0 named-tensor API this code targets")


def _attr(node, name: str, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def check_tensorrt_support(model, trt_version: str = DEFAULT_TRT_VERSION) -> list[OpProblem]:
    """Every node of ``model`` (an ``onnx.ModelProto``) that TensorRT ``trt_version``'s parser
    would reject or import wrongly; an empty list means the graph should parse.

    Checks: op in the support table for that version, opset range, element type of the op's main
    tensor, initializer-only inputs, rank limits (pooling/conv 2D/3D, GridSample 4D before 11.2
    and equal input/grid ranks), Resize modes and antialias, and GridSample mode strings the
    parser would map to nearest. Run it on the copy meant for TensorRT (after
    :func:`~livehead.runtime.passes.gridsample_modes_for_tensorrt`).
    """
    version = parse_trt_version(trt_version)
    problems: list[OpProblem] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and not 9 <= opset <= max_opset(version):
        problems.append(OpProblem("<model>", "opset", f"opset {opset} is outside 9..{max_opset(version)} "
                                  f"accepted by TensorRT {version[0]}.{version[1]}"))

    from livehead.runtime.passes import infer_types

    inferred = infer_types(model)
    types = {name: elem for name, (elem, _) in inferred.items()}
    ranks = {name: len(shape) for name, (_, shape) in inferred.items() if shape is not None}
    constants = {init.name for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            constants.update(node.output)

    for node in model.graph.node:
        name = node.name or (node.output[0] if node.output else "?")

        def bad(reason: str, _name=name, _op=node.op_type) -> None:
            problems.append(OpProblem(_name, _op, reason))

        if node.domain not in ("", "ai.onnx"):
            bad(f"custom domain {node.domain!r}: needs a TensorRT plugin registered under that name")
            continue
        op = node.op_type
        if op in SUPPORTED_OPS:
            allowed = SUPPORTED_OPS[op]
        elif op in ADDED_IN and version >= ADDED_IN[op][0]:
            allowed = ADDED_IN[op][1]
        elif op in ADDED_IN:
            since = ADDED_IN[op][0]
            bad(f"needs TensorRT >= {since[0]}.{since[1]}, targeted {version[0]}.{version[1]}")
            continue
        else:
            bad(f"not supported by the TensorRT {version[0]}.{version[1]} ONNX parser")
            continue
        if op == "GridSample" and version >= (11, 2):
            allowed = "FP32, FP16, BF16"

        main = node.output[0] if node.output else None
        elem = types.get(main) if main else None
        if elem is not None and elem in _ELEM_NAMES and _ELEM_NAMES[elem] not in allowed and _ELEM_NAMES[elem] != "DOUBLE":
            bad(f"element type {_ELEM_NAMES[elem]} is not supported (supported: {allowed})")

        for idx in _CONSTANT_INPUTS.get(op, ()):
            if idx < len(node.input) and node.input[idx] and node.input[idx] not in constants:
                bad(f"input {idx} ({node.input[idx]!r}) must be an initializer or Constant")

        rank = ranks.get(node.input[0]) if node.input else None
        if op in ("AveragePool", "MaxPool", "LpPool"):
            if rank is not None and rank not in (4, 5):
                bad(f"only 2D or 3D pooling is supported, input rank is {rank}")
            dil = _attr(node, "dilations")
            if dil and any(d != 1 for d in dil):
                bad(f"dilations must be all ones, got {list(dil)}")
        elif op in ("Conv", "ConvTranspose"):
            if rank is not None and rank not in (3, 4, 5):
                bad(f"only 1D/2D/3D convolutions are supported, input rank is {rank}")
        elif op == "Resize":
            if _attr(node, "antialias", 0):
                bad("antialias is not supported")
            mode = _attr(node, "mode", "nearest")
            if mode not in ("nearest", "linear"):
                bad(f"resize mode {mode!r} is not supported (nearest, linear)")
            coord = _attr(node, "coordinate_transformation_mode", "half_pixel")
            if coord not in _RESIZE_COORD:
                bad(f"coordinate_transformation_mode {coord!r} is not supported ({', '.join(sorted(_RESIZE_COORD))})")
            if mode == "nearest":
                nearest = _attr(node, "nearest_mode", "round_prefer_floor")
                if nearest not in _RESIZE_NEAREST:
                    bad(f"nearest_mode {nearest!r} is not supported")
            if _attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
                bad("keep_aspect_ratio_policy must be 'stretch'")
        elif op == "GridSample":
            grid_rank = ranks.get(node.input[1]) if len(node.input) > 1 else None
            if rank is not None and rank == 5 and version < (11, 2):
                bad(f"5D (volumetric) GridSample needs TensorRT >= 11.2, targeted {version[0]}.{version[1]}")
            elif rank is not None and rank not in (4, 5):
                bad(f"GridSample input rank {rank} is not supported (4, or 5 from TensorRT 11.2)")
            if rank is not None and grid_rank is not None and rank != grid_rank:
                bad(f"input rank {rank} and grid rank {grid_rank} must be equal")
            mode = _attr(node, "mode", "bilinear")
            if mode not in ("bilinear", "bicubic", "nearest"):
                bad(f"mode {mode!r} is imported as NEAREST by the parser (it only knows 'bilinear', 'bicubic', "
                    "'nearest'); write the TensorRT copy with livehead.runtime.passes.gridsample_modes_for_tensorrt")
            padding = _attr(node, "padding_mode", "zeros")
            if padding not in ("zeros", "border", "reflection"):
                bad(f"padding_mode {padding!r} is not supported")
        elif op == "TopK" and _attr(node, "sorted", 1) != 1:
            bad("sorted must be 1")
        elif op == "Dropout" and len(node.input) > 2 and node.input[2] and node.input[2] not in constants:
            bad("training_mode must be a constant False")
    return problems


def format_problems(problems: list[OpProblem], graph: str, trt_version: str) -> str:
    """A report of the nodes TensorRT would reject, at most 40 listed."""
    lines = [f"{graph}: {len(problems)} node(s) the TensorRT {trt_version} ONNX parser would reject or mis-import:"]
    lines += [f"  - {p}" for p in problems[:40]]
    if len(problems) > 40:
        lines.append(f"  … and {len(problems) - 40} more")
    return "\n".join(lines)

