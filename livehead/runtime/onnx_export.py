"""Export graphs to ONNX (opset 20, static shapes) and check them against PyTorch.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (torch.export + onnxscript), the default since
PyTorch 2.9. We use it because

* it is the only exporter without a deprecation path ("dynamo=True … default and recommended";
  the TorchScript exporter prints a DeprecationWarning and is "planned for eventual deprecation");
* its onnxscript optimizer constant-folds and merges most conv -> BatchNorm pairs, and its
  opset-20 ``aten_grid_sampler`` handles 5D GridSample (face-vid2vid);
* measured on a toy graph with the same ops as ours, the TorchScript exporter left runtime
  ``Shape``/``ConstantOfShape``/``Where`` chains around every ``expand`` and computed the
  spectral-norm sigma with ``MatMul`` at run time, while the dynamo graph had plain constants.

Its cost is time (it traces with fake tensors: seconds per graph, ~tens of seconds for the
full-size face-vid2vid generator) and the onnxscript dependency. Opset 20 is the lowest opset
with N-D GridSample (the opset-16 symbolic refuses 5D); it writes GridSample ``mode="linear"``,
which the TensorRT copy rewrites (:mod:`livehead.runtime.passes`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from livehead.runtime.graphs import GraphSpec

log = logging.getLogger(__name__)

OPSET = 20


def _strip_metadata(model) -> None:
    """Drop per-node stack traces and names scopes: they hold local file paths, which would make
    the ONNX bytes (and their sha256 in the manifest) differ between machines."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.metadata_props[:]
    model.doc_string = ""
    model.producer_name = "livehead"


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs every optimizer pass at INFO, warns about torchvision ops we do not use
    and about pytree internals; none of it is actionable for a LiveHead user."""
    names = ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._export")
    levels = {n: logging.getLogger(n).level for n in names}
    try:
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*training mode.*")
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def export_onnx(spec: GraphSpec, *, opset: int = OPSET, fold_bn: bool = True):
    """Export ``spec`` to an fp32 ``onnx.ModelProto`` with BatchNorm folded; inputs and outputs
    carry the spec's names and static shapes. Raises :class:`RuntimeError` naming the graph on
    failure."""
    import onnx

    from livehead.runtime.passes import fold_batchnorm

    args = tuple(torch.zeros(t.shape) for t in spec.inputs)
    start = time.perf_counter()
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                spec.module.eval(), args, input_names=spec.input_names, output_names=spec.output_names,
                opset_version=opset, dynamo=True, optimize=True, external_data=False, verbose=False,
            )
    except Exception as exc:  # the exporter raises many types; name the graph and keep the cause
        raise RuntimeError(f"ONNX export of graph {spec.name!r} failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    model = program.model_proto
    _strip_metadata(model)
    if fold_bn:
        model, report = fold_batchnorm(model)
        log.debug("%s: folded %d BN into convs, %d BN to Mul+Add", spec.name, report.folded_into_conv, report.to_affine)
    _check_io(model, spec)
    onnx.checker.check_model(model)
    log.info("exported %s to ONNX opset %d in %.1f s (%d nodes)", spec.name, opset, time.perf_counter() - start,
             len(model.graph.node))
    return model


def _check_io(model, spec: GraphSpec) -> None:
    got_in = [(i.name, tuple(d.dim_value for d in i.type.tensor_type.shape.dim)) for i in model.graph.input]
    want_in = [(t.name, t.shape) for t in spec.inputs]
    got_out = [(o.name, tuple(d.dim_value for d in o.type.tensor_type.shape.dim)) for o in model.graph.output]
    want_out = [(t.name, t.shape) for t in spec.outputs]
    if got_in != want_in or got_out != want_out:
        raise RuntimeError(f"exported graph {spec.name!r} has I/O {got_in} -> {got_out}, expected {want_in} -> {want_out}")


def ort_session(model_or_bytes, providers: list[str] | None = None, threads: int | None = None):
    """An ONNX Runtime session from a ModelProto, bytes or path (CPU provider unless given)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    data = model_or_bytes.SerializeToString() if hasattr(model_or_bytes, "SerializeToString") else model_or_bytes
    if not isinstance(data, (str, bytes)):
        data = str(data)  # a Path
    return ort.InferenceSession(data, sess_options=opts, providers=providers or ["CPUExecutionProvider"])


@dataclass(frozen=True)
class Parity:
    """Max absolute difference per output between ONNX Runtime and PyTorch on one input set."""

    graph: str
    max_abs: dict[str, float]

    @property
    def worst(self) -> float:
        """The largest max-abs difference over all outputs."""
        return max(self.max_abs.values())


def ort_parity(spec: GraphSpec, model, inputs: dict[str, torch.Tensor], *, session=None) -> Parity:
    """Run ``model`` in ONNX Runtime (CPU) and ``spec`` in PyTorch fp32 on ``inputs``."""
    session = session or ort_session(model)
    feeds = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in inputs.items()}
    got = session.run(spec.output_names, feeds)
    want = spec({k: v.cpu() for k, v in inputs.items()})
    diffs = {n: float(np.abs(g.astype(np.float64) - want[n].numpy().astype(np.float64)).max())
             for n, g in zip(spec.output_names, got)}
    return Parity(spec.name, diffs)
