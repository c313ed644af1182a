"""Compiling LiveHead's neural engines: graphs, ONNX export, TensorRT build, manifest.

* :mod:`.graphs` — each engine split into per-avatar and per-frame graphs with static shapes
  (:func:`build_graphs`), the contract the runners in :mod:`livehead.backends` execute;
* :mod:`.onnx_export` — opset-20 export (torch.onnx dynamo exporter) and ONNX Runtime parity;
* :mod:`.passes` — BatchNorm folding, the TensorRT copy with GridSample ``mode="bilinear"``;
* :mod:`.precision` — fp16 variants with fp32 islands;
* :mod:`.trt_ops` — the TensorRT ONNX parser's supported-op check per TensorRT version;
* :mod:`.manifest` — ``engines/manifest.json`` and machine matching;
* :mod:`.trt_build` / :mod:`.build` — the TensorRT 11 build and ``build_engines.py``;
* :mod:`.gpu_bench` — ``python -m livehead.export.gpu_bench --engine fomm``.

Importing this package imports nothing heavy; onnx, onnxruntime and tensorrt are imported inside
the functions that use them.
"""
