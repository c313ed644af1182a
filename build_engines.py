"""Export LiveHead's neural engines to ONNX and build TensorRT engines for this GPU.

    python build_engines.py --engine fomm --checkpoint vox-cpk.pth.tar --precision fp16
    python build_engines.py --engine fv2v --checkpoint 00000189-checkpoint.pth.tar --precision fp16
    python build_engines.py --engine fomm --random-weights --onnx-only     # no checkpoint, no TensorRT

Writes engines/<engine>_<graph>_<precision>.{onnx,trt.onnx,plan} and engines/manifest.json.
See engines/README.md and ``python build_engines.py --help``.
"""

import sys

from livehead.export.build import main

if __name__ == "__main__":
    sys.exit(main())
