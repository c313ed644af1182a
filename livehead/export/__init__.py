"""Ahead-of-time builds of LiveHead's neural engines: ONNX files and TensorRT plans.

* :mod:`.build` — ``python build_engines.py``: export each graph of an engine
  (:mod:`livehead.runtime.graphs`) to ONNX through :mod:`livehead.runtime.onnx_export`, check
  parity with ONNX Runtime, and build TensorRT plans recorded in ``engines/manifest.json``
  (:mod:`livehead.runtime.manifest`);
* :mod:`.trt_ops` — the TensorRT ONNX parser's supported-op check per TensorRT version;
* :mod:`.trt_build` — the TensorRT 11 builder (timing cache, progress, fp16).

This package imports :mod:`livehead.runtime`, never the reverse. Importing it imports nothing
heavy; onnx, onnxruntime and tensorrt are imported inside the functions that use them. GPU
latency benchmarks are in :mod:`livehead.bench.gpu` (``python -m livehead.bench.gpu``).
"""
