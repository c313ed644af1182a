"""TensorRT runner (TensorRT 11 Python API; ``tensorrt`` is imported only here, when used).

For each graph: find its plan in ``engines/manifest.json``, refuse it unless it was built with
this TensorRT version on this GPU model and compute capability from the checkpoint in use (the
error names the rebuild command), deserialise it, and bind preallocated torch CUDA tensors to
every I/O tensor with ``set_tensor_address`` once. ``run`` copies the inputs into those buffers
on the runner's own stream, executes with ``execute_async_v3`` on that stream, and returns fresh
float32 copies of the outputs; the caller's stream waits on the runner's. Per-frame graphs are
captured as CUDA graphs after their first (warm-up) execution, as trtexec does ("Avoid capturing
initialization calls by executing the enqueue function at least once before starting CUDA graph
capture"); a capture failure is logged once and that graph stays on ``execute_async_v3``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from livehead.errors import EngineMismatchError, LiveHeadError

log = logging.getLogger("livehead.runtime")

INSTALL_HINT = ("install TensorRT on a machine with an NVIDIA GPU (pip install tensorrt-cu12, or tensorrt-cu13 "
                "with a CUDA 13 driver), then build the engines there with python build_engines.py")


def import_tensorrt():
    """``import tensorrt`` or a :class:`LiveHeadError` that says how to get it."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise LiveHeadError(f"TensorRT backend unavailable: the tensorrt module cannot be imported ({exc}); "
                            f"{INSTALL_HINT}; or use --backend torch.") from exc
    return trt


def torch_dtype(trt, dtype) -> torch.dtype:
    """The torch dtype of a TensorRT tensor type; refused when there is none."""
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.INT32: torch.int32,
             trt.DataType.BOOL: torch.bool, trt.DataType.INT8: torch.int8}
    for name, tdt in (("BF16", torch.bfloat16), ("INT64", torch.int64), ("UINT8", torch.uint8)):
        if hasattr(trt.DataType, name):
            table[getattr(trt.DataType, name)] = tdt
    if dtype not in table:
        raise LiveHeadError(f"TensorRT tensor type {dtype} has no torch equivalent here")
    return table[dtype]


@dataclass
class _TrtGraph:
    name: str
    stage: str
    engine: Any
    context: Any
    inputs: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]
    cuda_graph: torch.cuda.CUDAGraph | None = None
    capture_tried: bool = False
    plan: Path = field(default_factory=Path)


class TensorRTRunner:
    """Runs prebuilt TensorRT plans (``engines/``) after checking the manifest matches this GPU, TensorRT and checkpoint."""
    backend = "tensorrt"

    def __init__(self, *, graphs, device: str, precision: str, engines_dir: str | Path = "engines",
                 cuda_graphs: bool = True, machine=None, **_ignored) -> None:
        trt = import_tensorrt()
        from livehead.runtime.manifest import build_command, check_plan_entry, current_machine, read_manifest

        engines_dir = Path(engines_dir)
        manifest = read_manifest(engines_dir)
        machine = machine or current_machine(trt)
        plans: dict[str, Path] = {}
        for name in graphs.graphs:
            entry = manifest.find(graphs.engine, name, precision)
            if entry is None:
                raise EngineMismatchError(
                    f"{engines_dir}/manifest.json has no {precision} TensorRT plan for {graphs.engine}/{name}. Build it "
                    f"on this machine with: {build_command(graphs.engine, graphs.checkpoint, precision)}")
            if entry.image_size != graphs.image_size:
                raise EngineMismatchError(
                    f"{engines_dir / (entry.plan or entry.name)} was built for {entry.image_size}x{entry.image_size} "
                    f"images, the engine runs at {graphs.image_size}. Rebuild with: {entry.build_command}")
            plans[name] = check_plan_entry(entry, machine, checkpoint_sha256=graphs.checkpoint_sha256,
                                           engines_dir=engines_dir)
        if device != "cuda" or not torch.cuda.is_available():
            raise LiveHeadError("TensorRT backend needs --device cuda and a visible CUDA GPU.")
        self.device = "cuda"
        self.precision = precision
        self.graphs = graphs
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._use_cuda_graphs = cuda_graphs
        self.stream = torch.cuda.Stream()
        self._graphs: dict[str, _TrtGraph] = {}
        for name, spec in graphs.graphs.items():
            self._graphs[name] = self._load(name, spec, plans[name])
        self._closed = False

    def _load(self, name: str, spec, plan: Path) -> _TrtGraph:
        trt = self._trt
        engine = self._runtime.deserialize_cuda_engine(plan.read_bytes())
        if engine is None:
            raise EngineMismatchError(f"TensorRT could not deserialise {plan} (see the TensorRT log above); rebuild it "
                                      "with python build_engines.py on this machine.")
        context = engine.create_execution_context()
        inputs: dict[str, torch.Tensor] = {}
        outputs: dict[str, torch.Tensor] = {}
        want = {t.name: t.shape for t in (*spec.inputs, *spec.outputs)}
        for i in range(engine.num_io_tensors):
            tname = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(tname))
            if want.get(tname) != shape:
                raise EngineMismatchError(f"{plan}: tensor {tname!r} has shape {shape}, the graph expects "
                                          f"{want.get(tname)}; rebuild with python build_engines.py")
            buf = torch.empty(shape, dtype=torch_dtype(trt, engine.get_tensor_dtype(tname)), device="cuda")
            context.set_tensor_address(tname, buf.data_ptr())
            if engine.get_tensor_mode(tname) == trt.TensorIOMode.INPUT:
                inputs[tname] = buf
            else:
                outputs[tname] = buf
        missing = set(want) - set(inputs) - set(outputs)
        if missing:
            raise EngineMismatchError(f"{plan} lacks tensors {sorted(missing)}; rebuild with python build_engines.py")
        log.info("tensorrt: loaded %s (%s)", plan, name)
        return _TrtGraph(name, spec.stage, engine, context, inputs, outputs, plan=plan)

    def _execute(self, g: _TrtGraph) -> None:
        if not g.context.execute_async_v3(self.stream.cuda_stream):
            raise LiveHeadError(f"TensorRT execute_async_v3 failed for {g.plan} (see the TensorRT log)")

    def _capture(self, g: _TrtGraph) -> None:
        g.capture_tried = True
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                self._execute(g)
        except (RuntimeError, LiveHeadError) as exc:
            log.warning("tensorrt: CUDA graph capture of %s failed (%s); it runs with execute_async_v3", g.name, exc)
            return
        g.cuda_graph = graph

    def run(self, graph: str, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self._closed:
            raise LiveHeadError("tensorrt runner is closed")
        g = self._graphs.get(graph)
        if g is None:
            raise LiveHeadError(f"graph {graph!r} is not in {self.graphs.engine}'s graphs ({', '.join(self._graphs)})")
        caller = torch.cuda.current_stream()
        self.stream.wait_stream(caller)  # inputs written on the caller's stream must be complete
        with torch.cuda.stream(self.stream):
            for name, buf in g.inputs.items():
                x = inputs[name]
                if x.is_cuda:
                    x.record_stream(self.stream)  # the caller may free x before our copy ran
                buf.copy_(x, non_blocking=True)
            if g.cuda_graph is not None:
                g.cuda_graph.replay()
            else:
                self._execute(g)
                if self._use_cuda_graphs and g.stage == "per_frame" and not g.capture_tried:
                    self._capture(g)
            outs = {n: b.to(torch.float32, copy=True) for n, b in g.outputs.items()}
        caller.wait_stream(self.stream)
        for t in outs.values():
            t.record_stream(caller)
        return outs

    def describe(self) -> dict[str, str]:
        captured = [n for n, g in self._graphs.items() if g.cuda_graph is not None]
        return {"backend": "tensorrt", "device": "cuda", "precision": self.precision,
                "detail": f"TensorRT {self._trt.__version__}, CUDA graphs: {', '.join(captured) or 'none yet'}"}

    def close(self) -> None:
        self._graphs.clear()
        self._closed = True
