"""ONNX Runtime runner: CPU provider here, CUDA provider where ``onnxruntime-gpu`` is installed.

Graphs come from ``engines/`` when ``build_engines.py`` exported them for the same checkpoint
(manifest entry with matching checkpoint sha256 and ONNX sha256); otherwise they are exported in
memory at start-up (seconds per graph, logged). On CUDA, inputs and outputs are bound to torch
CUDA tensors through I/O binding, so nothing goes through host memory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from livehead.errors import EngineMismatchError, LiveHeadError

log = logging.getLogger("livehead.runtime")


class OrtRunner:
    """Runs the graphs with ONNX Runtime (CPU or CUDA): the ONNX files of engines/ when the manifest matches, else exported in memory."""
    backend = "onnxruntime"

    def __init__(self, *, graphs, device: str, precision: str, engines_dir: str | Path | None = "engines",
                 threads: int | None = None, **_ignored) -> None:
        from livehead.runtime.probes import onnxruntime_import_error

        why = onnxruntime_import_error(device)
        if why:
            raise LiveHeadError(f"onnxruntime backend: {why}.")
        if precision == "fp16" and device != "cuda":
            raise LiveHeadError("onnxruntime backend: fp16 needs --device cuda; use --precision fp32 on CPU.")
        import onnxruntime as ort

        self.device = device
        self.precision = precision
        self.graphs = graphs
        self._specs = dict(graphs.graphs)
        self._sources: dict[str, str] = {}
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self._sessions = {}
        for name, spec in self._specs.items():
            model, source = self._load_model(name, spec, engines_dir)
            self._sources[name] = source
            self._sessions[name] = ort.InferenceSession(model, sess_options=opts, providers=providers)
        self._closed = False

    def _load_model(self, name: str, spec, engines_dir) -> tuple[bytes | str, str]:
        if engines_dir is not None and Path(engines_dir).exists():
            from livehead.runtime.manifest import check_onnx_entry, read_manifest

            entry = read_manifest(engines_dir).find(self.graphs.engine, name, self.precision)
            if entry is not None and entry.image_size == self.graphs.image_size:
                try:
                    path = check_onnx_entry(entry, checkpoint_sha256=self.graphs.checkpoint_sha256,
                                            engines_dir=engines_dir)
                    return str(path), str(path)
                except EngineMismatchError as exc:
                    log.warning("onnxruntime: not using %s (%s); exporting it again in memory", entry.onnx, exc)
        from livehead.runtime.onnx_export import export_onnx

        start = time.perf_counter()
        model = export_onnx(spec)
        if spec.compute_precision(self.precision) == "fp16":
            from livehead.runtime.precision import convert_to_fp16

            model, _ = convert_to_fp16(model)
        log.info("onnxruntime: exported %s in memory in %.1f s (run python build_engines.py once to skip this)",
                 name, time.perf_counter() - start)
        return model.SerializeToString(), "exported in memory"

    def run(self, graph: str, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self._closed:
            raise LiveHeadError("onnxruntime runner is closed")
        spec = self._specs.get(graph)
        if spec is None:
            raise LiveHeadError(f"graph {graph!r} is not in {self.graphs.engine}'s graphs ({', '.join(self._specs)})")
        session = self._sessions[graph]
        if self.device == "cuda":
            return self._run_cuda(spec, session, inputs)
        feeds = {n: inputs[n].detach().to("cpu", torch.float32).contiguous().numpy() for n in spec.input_names}
        outs = session.run(spec.output_names, feeds)
        return {n: torch.from_numpy(np.ascontiguousarray(o, dtype=np.float32)) for n, o in zip(spec.output_names, outs)}

    def _run_cuda(self, spec, session, inputs) -> dict[str, torch.Tensor]:
        binding = session.io_binding()
        keep = []
        for t in spec.inputs:
            x = inputs[t.name].detach().to("cuda", torch.float32).contiguous()
            keep.append(x)
            binding.bind_input(t.name, "cuda", 0, np.float32, list(x.shape), x.data_ptr())
        outs = {}
        for t in spec.outputs:
            y = torch.empty(t.shape, dtype=torch.float32, device="cuda")
            outs[t.name] = y
            binding.bind_output(t.name, "cuda", 0, np.float32, list(y.shape), y.data_ptr())
        torch.cuda.current_stream().synchronize()  # inputs written by torch must be ready for ORT's stream
        session.run_with_iobinding(binding)
        return outs

    def describe(self) -> dict[str, str]:
        providers = next(iter(self._sessions.values())).get_providers() if self._sessions else []
        sources = sorted(set(self._sources.values()))
        return {"backend": "onnxruntime", "device": self.device, "precision": self.precision,
                "detail": f"providers {', '.join(providers)}; graphs from {', '.join(sources)}"}

    def close(self) -> None:
        self._sessions.clear()
        self._closed = True
