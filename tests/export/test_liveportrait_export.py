"""LivePortrait's graphs exported to ONNX: parity with PyTorch, the original code's numbers through
ONNX Runtime, static opset-20 graphs, fp16 islands and the TensorRT supported-op check.

Bars: ONNX Runtime vs PyTorch fp32 within 1e-4 (relative for outputs above 1), or twice PyTorch's
own float32 error against float64 where the random networks amplify rounding (the generator on
random keypoints). Against the stored reference numbers, each graph meets its stage's bar from
../shared/reference/README.md section 5; the fused W + G graph from stored keypoints meets the
README's chained bar for the image (1e-4).
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest

from _media import needs_extra
from golden import golden

torch = needs_extra("neural", "torch")  # a light install skips this module


ATOL = 1e-4
GRAPHS = ("appearance_feature_extractor", "motion_extractor", "stitching", "retarget_eye", "retarget_lip", "generator")
MOTION = ("pitch", "yaw", "roll", "t", "exp", "scale", "kp")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fx():
    return golden("liveportrait")


@pytest.fixture(scope="module")
def io(fx):
    return fx.arrays


@pytest.fixture(scope="module")
def graphs(fx):
    return fx.graphs(align_corners=None)  # at the fixture's own image size


@pytest.fixture(scope="module")
def onnx_model(graphs):
    """graph name -> exported fp32 ONNX model, exported once per module."""
    from livehead.runtime.onnx_export import export_onnx

    return functools.cache(lambda name: export_onnx(graphs[name]))


@pytest.fixture(scope="module")
def fp16_model(onnx_model):
    """graph name -> (fp16 model, report), converted once per module."""
    from livehead.runtime.precision import convert_to_fp16

    return functools.cache(lambda name: convert_to_fp16(onnx_model(name)))


def session(model):
    from livehead.runtime.onnx_export import ort_session

    return ort_session(model)


def noise_floor(spec, inputs) -> float:
    """max |torch fp32 - torch fp64| of ``spec`` on ``inputs``."""
    ref32 = spec(inputs)
    with torch.inference_mode():
        ref64 = copy.deepcopy(spec.module).double()(*[inputs[n].double() for n in spec.input_names])
    return max(float((ref32[n].double() - r).abs().max()) for n, r in zip(spec.output_names, ref64))


class TestGraphs:
    def test_split_and_shapes_from_the_fixture(self, graphs, io):
        assert graphs.names("per_avatar") == ["appearance_feature_extractor"]
        assert graphs.names("per_frame") == list(GRAPHS[1:])
        assert graphs["appearance_feature_extractor"].outputs[0].shape == io["f_s"].shape
        assert [t.shape for t in graphs["motion_extractor"].outputs] == [io[f"me_source_{k}"].shape for k in MOTION]
        assert graphs["generator"].outputs[0].shape == io["image"][0].shape  # twice the input size
        assert graphs["generator"].input_names == ["feature_3d", "kp_source", "kp_driving"]
        assert graphs["retarget_eye"].inputs[1].shape == io["eye_ratio"][0].shape
        assert graphs["retarget_lip"].inputs[1].shape == io["lip_ratio"][0].shape

    def test_keypoint_graphs_stay_fp32_in_fp16_sets(self, graphs):
        assert [n for n in GRAPHS if not graphs[n].fp16] == ["motion_extractor", "stitching", "retarget_eye",
                                                                   "retarget_lip"]

    def test_size_the_architecture_cannot_take(self, fx):
        from livehead.errors import LiveHeadError
        from livehead.runtime.graphs import build_graphs

        ckpt = fx.load(align_corners=None)
        with pytest.raises(LiveHeadError, match="crop_size"):  # off M's stride of 32, whatever W's hourglass
            build_graphs(ckpt.models, image_size=fx.image_size + 16)


class TestOnnxParity:
    @pytest.mark.parametrize("name", GRAPHS)
    def test_ort_matches_torch(self, graphs, onnx_model, name):
        from livehead.runtime.onnx_export import ort_parity

        spec = graphs[name]
        inputs = graphs.example_inputs(name, seed=1)
        ref = spec(inputs)
        noise = noise_floor(spec, inputs) if name == "generator" else 0.0
        for out, err in ort_parity(spec, onnx_model(name), inputs).max_abs.items():
            tol = max(ATOL * max(1.0, float(ref[out].abs().max())), 2.0 * noise)
            assert err <= tol, f"{name}/{out}: max|ORT - torch| = {err:.3g} > {tol:.3g}"

    @pytest.mark.parametrize("name", GRAPHS)
    def test_static_opset20_graph(self, onnx_model, name):
        import onnx

        model = onnx_model(name)
        onnx.checker.check_model(model, full_check=True)
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [20]
        for value in [*model.graph.input, *model.graph.output]:
            assert all(d.HasField("dim_value") for d in value.type.tensor_type.shape.dim), value.name
        assert "BatchNormalization" not in {n.op_type for n in model.graph.node}
        constants = {i.name for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Conv":  # a computed weight would mean spectral norm was not folded
                assert node.input[1] in constants, f"{node.name}: conv weight computed at run time"


class TestGoldenThroughOnnx:
    """The exported graphs reproduce the original code's stored outputs in ONNX Runtime."""

    def test_appearance_and_motion(self, onnx_model, io):
        f_s = session(onnx_model("appearance_feature_extractor")).run(None, {"source": io["source"]})[0]
        assert np.abs(f_s - io["f_s"]).max() <= 5e-5
        motion = session(onnx_model("motion_extractor"))
        for prefix, image in [("me_source", io["source"])] + [
                (f"me_driving:{i}", io["driving"][i:i + 1]) for i in range(io["driving"].shape[0])]:
            outs = dict(zip(MOTION, motion.run(None, {"image": image})))
            for key in MOTION:
                name, _, i = prefix.partition(":")
                want = io[f"{name}_{key}"] if not i else io[f"{name}_{key}"][int(i)]
                bar = 5e-5 if key in ("pitch", "yaw", "roll") else 1e-5
                assert np.abs(outs[key] - want).max() <= bar, f"{prefix} {key}"

    def test_stitching_and_retargeting(self, onnx_model, io):
        stitching = session(onnx_model("stitching"))
        eye, lip = session(onnx_model("retarget_eye")), session(onnx_model("retarget_lip"))
        for i in range(io["driving"].shape[0]):
            got = stitching.run(None, {"kp_source": io["x_s"], "kp_driving": io["x_d_new_ef"][i]})[0]
            assert np.abs(got - io["x_d_stitched"][i]).max() <= 1e-5
            got = eye.run(None, {"kp_source": io["x_s"], "eye_ratio": io["eye_ratio"][i]})[0]
            assert np.abs(got - io["delta_eye"][i]).max() <= 1e-5
            got = lip.run(None, {"kp_source": io["x_s"], "lip_ratio": io["lip_ratio"][i]})[0]
            assert np.abs(got - io["delta_lip"][i]).max() <= 1e-5

    def test_generator(self, onnx_model, io):
        generator = session(onnx_model("generator"))
        for i in range(io["driving"].shape[0]):
            image = generator.run(None, {"feature_3d": io["f_s"], "kp_source": io["x_s"],
                                         "kp_driving": io["x_d_final"][i]})[0]
            assert np.abs(image - io["image"][i]).max() <= 1e-4


class TestTensorRT:
    @pytest.mark.parametrize("name", GRAPHS)
    def test_supported_ops_fp32_and_fp16(self, onnx_model, fp16_model, name):
        from livehead.export.trt_ops import check_tensorrt_support
        from livehead.runtime.passes import gridsample_modes_for_tensorrt

        assert check_tensorrt_support(gridsample_modes_for_tensorrt(onnx_model(name))[0], "11.4") == []
        assert check_tensorrt_support(gridsample_modes_for_tensorrt(fp16_model(name)[0])[0], "11.4") == []

    def test_volumetric_gridsample_needs_11_2(self, onnx_model):
        from livehead.export.trt_ops import check_tensorrt_support
        from livehead.runtime.passes import gridsample_modes, gridsample_modes_for_tensorrt

        model = onnx_model("generator")
        trt_copy, changed = gridsample_modes_for_tensorrt(model)
        assert changed == len(gridsample_modes(model)) == 2  # W's sparse-motion warp and its final warp
        problems = check_tensorrt_support(trt_copy, "11.1")
        assert len(problems) == 2 and all(p.op_type == "GridSample" and "11.2" in p.reason for p in problems)


class TestFloat16:
    @pytest.mark.parametrize("name", ["appearance_feature_extractor", "generator"])
    def test_islands_io_and_error(self, graphs, fp16_model, name):
        from onnx import TensorProto

        from livehead.runtime.onnx_export import ort_parity
        from livehead.runtime.passes import infer_types

        model, report = fp16_model(name)
        types = {n: elem for n, (elem, _) in infer_types(model, strict=True).items()}
        assert all(types[v.name] == TensorProto.FLOAT for v in [*model.graph.input, *model.graph.output])
        for node in model.graph.node:
            if node.op_type in ("Softmax", "Exp", "GridSample", "InstanceNormalization"):
                assert all(types[i] == TensorProto.FLOAT for i in node.input if i), f"{node.op_type} is not fp32"
        assert report["fp16_nodes"] > 0
        spec = graphs[name]
        inputs = graphs.example_inputs(name, seed=1)
        ref = spec(inputs)
        for out, err in ort_parity(spec, model, inputs).max_abs.items():
            assert err <= 0.05 * max(1.0, float(ref[out].abs().max())), f"{name}/{out}: fp16 error {err:.3g}"
