"""Build a TensorRT plan from an ONNX file (TensorRT 11 Python API).

Strongly typed network (the only kind TensorRT 11 builds: precision comes from the ONNX dtypes,
see :mod:`livehead.runtime.precision`), a persistent timing cache, and a progress display through
``IProgressMonitor``. API names are those of the 11.x bindings (``pyCore.cpp``):
``create_network``, ``OnnxParser.parse_from_file``, ``set_memory_pool_limit``,
``create_timing_cache``/``set_timing_cache``, ``progress_monitor``,
``build_serialized_network``. ``tensorrt`` is imported inside the functions only.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from livehead.errors import LiveHeadError

log = logging.getLogger(__name__)


def make_progress_monitor(trt, stream=None):
    """An ``IProgressMonitor`` that prints each build phase, indented by nesting, with its steps.

    TensorRT calls ``phase_start(name, parent, num_steps)``, ``step_complete(name, step)`` (return
    True to keep building) and ``phase_finish(name)`` from the builder thread.
    """
    out = stream or sys.stderr

    class _Progress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._depth: dict[str, int] = {}
            self._steps: dict[str, int] = {}
            self._start: dict[str, float] = {}
            self._last_print = 0.0

        def phase_start(self, phase_name, parent_phase, num_steps):
            depth = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
            self._depth[phase_name] = depth
            self._steps[phase_name] = num_steps
            self._start[phase_name] = time.perf_counter()
            print(f"{'  ' * depth}- {phase_name} ({num_steps} steps)", file=out, flush=True)

        def step_complete(self, phase_name, step):
            now = time.perf_counter()
            if now - self._last_print > 2.0 and self._steps.get(phase_name, 0) > 1:
                self._last_print = now
                depth = self._depth.get(phase_name, 0)
                print(f"{'  ' * depth}  {phase_name}: {step + 1}/{self._steps[phase_name]}", file=out, flush=True)
            return True

        def phase_finish(self, phase_name):
            depth = self._depth.pop(phase_name, 0)
            took = time.perf_counter() - self._start.pop(phase_name, time.perf_counter())
            if depth <= 1:
                print(f"{'  ' * depth}  done: {phase_name} in {took:.1f} s", file=out, flush=True)

    return _Progress()


@dataclass(frozen=True)
class BuiltPlan:
    """A serialized TensorRT plan with the version that built it, its I/O tensors and the build time."""
    plan: bytes
    tensorrt_version: str
    io: dict[str, tuple[tuple[int, ...], str, str]]  # name -> (shape, dtype, "input"/"output")
    seconds: float


def build_plan(onnx_path: str | Path, *, timing_cache: str | Path | None = None, workspace_gib: float = 4.0,
               optimization_level: int = 3, progress: bool = True, fp32_no_tf32: bool = False) -> BuiltPlan:
    """Parse ``onnx_path`` into a strongly typed network and build a serialized plan.

    Args:
        onnx_path: the TensorRT copy of the graph (GridSample modes spelled "bilinear").
        timing_cache: file to read the timing cache from and write it back to (speeds up rebuilds;
            tied to GPU and TensorRT version, so mismatches are refused, ``ignore_mismatch=False``).
        workspace_gib: builder workspace pool limit.
        optimization_level: ``builder_optimization_level`` (3 default .. 5 slowest build, fastest plan).
        progress: print build phases (``IProgressMonitor``).
        fp32_no_tf32: clear ``BuilderFlag.TF32`` so fp32 layers use fp32 math.

    Raises:
        LiveHeadError: TensorRT missing, parser errors (all of them, with node names), or a failed build.
    """
    from livehead.runtime.trt_runner import import_tensorrt

    trt = import_tensorrt()
    start = time.perf_counter()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):  # 10.x opt-in; 11.x accepted and always on
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise LiveHeadError(f"TensorRT {trt.__version__} could not parse {onnx_path}:\n  " + "\n  ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    config.builder_optimization_level = optimization_level
    if fp32_no_tf32 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    cache_path = Path(timing_cache) if timing_cache else None
    cache_bytes = cache_path.read_bytes() if cache_path and cache_path.exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        raise LiveHeadError(f"timing cache {cache_path} was made on another GPU or TensorRT version; delete it and rebuild")
    if progress:
        config.progress_monitor = make_progress_monitor(trt)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise LiveHeadError(f"TensorRT {trt.__version__} failed to build {onnx_path} (see the log above)")
    plan = bytes(serialized)
    if cache_path:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    # Read the I/O back from the plan itself: that is what the runner will bind.
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    if engine is None:
        raise LiveHeadError(f"the plan built from {onnx_path} does not deserialise")
    io = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        mode = "input" if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else "output"
        io[name] = (tuple(engine.get_tensor_shape(name)), str(engine.get_tensor_dtype(name)), mode)
    return BuiltPlan(plan=plan, tensorrt_version=trt.__version__, io=io, seconds=time.perf_counter() - start)
