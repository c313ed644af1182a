"""FOMM networks and 2D keypoint math: manifests, golden-fixture parity, conventions.

Parity follows the fixture README's acceptance rule: one thread, stage by stage (each stage fed
the stored outputs of the previous one), tolerances from its "Tolerance guidance" table. Sizes,
keypoint counts and frame counts come from the fixture files (:mod:`golden`).
"""

from __future__ import annotations

import json

import pytest

from _media import needs_extra

torch = needs_extra("neural", "torch")  # before the imports below, which need torch

from livehead.models import configs
from livehead.models.configs import build_models
from livehead.models.fomm import FommSourceEncoding, KPDetector, OcclusionAwareGenerator
from livehead.models.keypoints import (
    convex_hull_volume,
    heatmap_to_keypoints,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
    movement_scale,
    normalize_kp,
)

from _media import reference
from golden import assert_matches_manifest, golden_fixtures
from golden import max_abs_diff as _maxdiff

# README "Tolerance guidance", FOMM, suggested float32 atol.
ATOL_KP = 1e-5
ATOL_KP_NORM = 1e-5
ATOL_MOTION = 1e-4  # mask / occlusion / deformation
ATOL_PREDICTION = 2e-4


# The fixtures were generated with one thread; FOMM reproduces with 1 or 2, but stay faithful.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


fx, io, fixture_models = golden_fixtures("fomm")


def _kp(io, prefix: str, i: int | None = None) -> dict[str, torch.Tensor]:
    value, jac = io[f"{prefix}_value"], io[f"{prefix}_jacobian"]
    return {"value": value if i is None else value[i], "jacobian": jac if i is None else jac[i]}


class TestManifest:
    def test_full_config_state_dict_matches_manifest(self):
        manifest = json.loads(reference("fomm_vox256_state_dict_manifest.json").read_text())
        with torch.device("meta"):
            models = build_models(configs.FOMM_VOX_256)
        assert models.entries == ("kp_detector", "generator")
        assert_matches_manifest(models, manifest)

    def test_vox_adv_has_the_same_architecture(self):
        assert configs.FOMM_VOX_ADV_256.model_params == configs.FOMM_VOX_256.model_params
        assert configs.FOMM_VOX_256.align_corners is True  # trained under torch 1.0 grid_sample


class TestMakeCoordinateGrid:
    def test_convention_x_along_width(self):
        grid = make_coordinate_grid((3, 5))  # asymmetric: an x/y swap would change the shape
        assert grid.shape == (3, 5, 2)
        assert grid[0, 0].tolist() == [-1.0, -1.0]
        assert grid[0, -1].tolist() == [1.0, -1.0]  # last column: x = +1
        assert grid[-1, 0].tolist() == [-1.0, 1.0]  # last row: y = +1
        assert grid[1, 1].tolist() == [-0.5, 0.0]

    def test_3d_z_along_depth(self):
        grid = make_coordinate_grid((2, 3, 5))
        assert grid.shape == (2, 3, 5, 3)
        assert grid[-1, 0, 0].tolist() == [-1.0, -1.0, 1.0]
        assert grid[0, -1, -1].tolist() == [1.0, 1.0, -1.0]

    def test_bad_rank(self):
        with pytest.raises(ValueError, match="spatial_size"):
            make_coordinate_grid((4,))


class TestKp2Gaussian:
    def test_peak_at_keypoint(self):
        value = torch.tensor([[[0.5, -1.0]]])  # x = 0.5 -> column 3 of 5, y = -1 -> row 0
        heat = kp2gaussian(value, (3, 5), 0.01)
        assert heat.shape == (1, 1, 3, 5)
        assert heat[0, 0, 0, 3].item() == pytest.approx(1.0)
        assert heat[0, 0].argmax().item() == 3

    def test_expectation_recovers_keypoint(self):
        value = torch.tensor([[[0.2, -0.3], [-0.6, 0.4]]])
        heat = kp2gaussian(value, (64, 64), 0.001)
        heat = heat / heat.sum(dim=(2, 3), keepdim=True)
        torch.testing.assert_close(heatmap_to_keypoints(heat), value, atol=1e-4, rtol=0)


class TestInverse2x2:
    def test_matches_linalg_inv(self):
        m = torch.eye(2) + 0.3 * torch.randn(4, 10, 2, 2, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(inverse_2x2(m), torch.linalg.inv(m), atol=1e-5, rtol=1e-5)

    def test_known_answer(self):
        m = torch.tensor([[2.0, 1.0], [1.0, 1.0]])
        assert inverse_2x2(m).tolist() == [[1.0, -1.0], [-1.0, 2.0]]

    def test_fixture_jacobians_within_1e_7(self, io):
        jac = io["kp_driving_jacobian"][0]
        assert _maxdiff(inverse_2x2(jac), torch.linalg.inv(jac)) < 1e-6


class TestMovementScale:
    def test_known_answer_area_ratio(self):
        square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
        assert movement_scale(square, 2 * square) == pytest.approx(0.5)  # sqrt(1) / sqrt(4)

    def test_uses_batch_element_0(self):
        square = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
        batch = torch.cat([square, 10 * square])
        assert movement_scale(batch, batch) == pytest.approx(1.0)

    def test_degenerate_points_raise(self):
        line = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
        with pytest.raises(ValueError, match="degenerate"):
            convex_hull_volume(line)

    def test_fixture_scale(self, io):
        scale = movement_scale(io["kp_source_value"], io["kp_driving_value"][0])
        assert scale == pytest.approx(float(io["adapt_movement_scale"]), rel=1e-6)


class TestNormalizeKp:
    @pytest.mark.parametrize("tag, adapt", [("rel", False), ("rel_adapt", True)])
    def test_parity(self, fx, io, tag, adapt):
        source, initial = _kp(io, "kp_source"), _kp(io, "kp_driving", 0)
        for i in range(fx.frames):
            out = normalize_kp(source, _kp(io, "kp_driving", i), initial, adapt_movement_scale=adapt,
                               use_relative_movement=True, use_relative_jacobian=True)
            assert _maxdiff(out["value"], io[f"kp_norm_{tag}_value"][i]) < ATOL_KP_NORM
            assert _maxdiff(out["jacobian"], io[f"kp_norm_{tag}_jacobian"][i]) < ATOL_KP_NORM

    def test_precomputed_scale_equals_adapt(self, fx, io):
        source, initial, driving = _kp(io, "kp_source"), _kp(io, "kp_driving", 0), _kp(io, "kp_driving", fx.frames - 1)
        scale = movement_scale(source["value"], initial["value"])
        a = normalize_kp(source, driving, initial, adapt_movement_scale=True, use_relative_movement=True)
        b = normalize_kp(source, driving, initial, scale=scale, use_relative_movement=True)
        assert torch.equal(a["value"], b["value"])

    def test_initial_frame_maps_to_source(self, io):
        source, initial = _kp(io, "kp_source"), _kp(io, "kp_driving", 0)
        out = normalize_kp(source, initial, initial, use_relative_movement=True, use_relative_jacobian=True)
        assert torch.equal(out["value"], source["value"])
        torch.testing.assert_close(out["jacobian"], source["jacobian"], atol=1e-6, rtol=0)

    def test_absolute_mode_passes_driving_through(self, io):
        source, initial, driving = _kp(io, "kp_source"), _kp(io, "kp_driving", 0), _kp(io, "kp_driving", 1)
        out = normalize_kp(source, driving, initial)
        assert out is not driving and out["value"] is driving["value"]

    def test_inputs_not_modified(self, io):
        source, initial, driving = _kp(io, "kp_source"), _kp(io, "kp_driving", 0), _kp(io, "kp_driving", 1)
        before = {k: v.clone() for k, v in driving.items()}
        normalize_kp(source, driving, initial, adapt_movement_scale=True, use_relative_movement=True,
                     use_relative_jacobian=True)
        assert all(torch.equal(before[k], driving[k]) for k in before)

    def test_relative_jacobian_needs_jacobians(self, io):
        source = {"value": io["kp_source_value"], "jacobian": None}
        with pytest.raises(ValueError, match="jacobian"):
            normalize_kp(source, source, source, use_relative_movement=True, use_relative_jacobian=True)


class TestKPDetector:
    def test_shapes_and_identity_jacobian_init(self):
        torch.manual_seed(0)
        kp = KPDetector(block_expansion=4, num_kp=5, num_channels=3, max_features=16, num_blocks=2,
                        temperature=0.1, estimate_jacobian=True, scale_factor=0.5).eval()
        with torch.no_grad():
            out = kp(torch.rand(2, 3, 32, 32))
        assert out["value"].shape == (2, 5, 2) and out["jacobian"].shape == (2, 5, 2, 2)
        assert out["value"].abs().max() <= 1
        torch.testing.assert_close(out["jacobian"], torch.eye(2).expand(2, 5, 2, 2))

    def test_parity_source_and_driving(self, fx, io, fixture_models):
        kp = fixture_models.kp_detector
        captured = {}
        hooks = [kp.predictor.register_forward_hook(lambda m, i, o: captured.__setitem__("predictor", o)),
                 kp.kp.register_forward_hook(lambda m, i, o: captured.__setitem__("logits", o))]
        try:
            with torch.no_grad():
                out = kp(io["source"])
        finally:
            for h in hooks:
                h.remove()
        assert _maxdiff(captured["predictor"], io["debug_kp_source_predictor_out"]) < 2e-5
        assert _maxdiff(captured["logits"], io["debug_kp_source_heatmap_logits"]) < 1e-5
        assert _maxdiff(out["value"], io["kp_source_value"]) < ATOL_KP
        assert _maxdiff(out["jacobian"], io["kp_source_jacobian"]) < ATOL_KP
        with torch.no_grad():
            for i in range(fx.frames):
                out = kp(io["driving"][i : i + 1])
                assert _maxdiff(out["value"], io["kp_driving_value"][i]) < ATOL_KP
                assert _maxdiff(out["jacobian"], io["kp_driving_jacobian"][i]) < ATOL_KP


_GEN_KEYS = {"prediction": ATOL_PREDICTION, "mask": ATOL_MOTION, "occlusion_map": ATOL_MOTION,
             "deformation": ATOL_MOTION, "sparse_deformed": ATOL_PREDICTION, "deformed": ATOL_PREDICTION}


class TestOcclusionAwareGenerator:
    @pytest.mark.parametrize("tag", ["rel", "rel_adapt"])
    def test_parity_teacher_forced(self, fx, io, fixture_models, tag):
        gen = fixture_models.generator
        source = _kp(io, "kp_source")
        with torch.no_grad():
            for i in range(fx.frames):
                out = gen(io["source"], kp_driving=_kp(io, f"kp_norm_{tag}", i), kp_source=source)
                for key, atol in _GEN_KEYS.items():
                    if f"gen_{tag}_{key}" in io:
                        assert _maxdiff(out[key], io[f"gen_{tag}_{key}"][i]) < atol, (tag, i, key)

    def test_align_corners_true_variant(self, fx, io):
        assert fx.config().align_corners is True  # FOMM default
        gen = fx.load(align_corners=True).models.generator
        assert gen.dense_motion_network.align_corners is True
        with torch.no_grad():
            for i in range(fx.frames):
                out = gen(io["source"], kp_driving=_kp(io, "kp_norm_rel", i), kp_source=_kp(io, "kp_source"))
                for key in ("prediction", "mask", "occlusion_map", "deformation"):
                    ref = io[f"variant_alignTrue_gen_rel_{key}"][i]
                    assert _maxdiff(out[key], ref) < _GEN_KEYS[key], (i, key)
                    if key == "prediction":  # the flag really changes the result
                        assert _maxdiff(out[key], io[f"gen_rel_{key}"][i]) > 1e-3

    def test_debug_stages_frame1(self, io, fixture_models):
        gen = fixture_models.generator
        captured = {}
        hooks = [
            gen.dense_motion_network.hourglass.register_forward_hook(lambda m, i, o: captured.__setitem__("hg", o)),
            gen.bottleneck.register_forward_hook(lambda m, i, o: captured.__setitem__("bottleneck", (i[0], o))),
        ]
        try:
            with torch.no_grad():
                encoding = gen.encode_source(io["source"])
                gen.decode(encoding, _kp(io, "kp_norm_rel", 1), _kp(io, "kp_source"))
                # Teacher-forced bottleneck: stored input -> stored output.
                bottleneck_out = gen.bottleneck(io["debug_gen_rel_frame1_bottleneck_in"])
        finally:
            for h in hooks:
                h.remove()
        assert _maxdiff(encoding.features, io["debug_gen_rel_frame1_encoder_out"]) < 1e-5
        assert _maxdiff(captured["hg"], io["debug_gen_rel_frame1_dense_motion_hourglass_out"]) < 1e-4
        assert _maxdiff(captured["bottleneck"][0], io["debug_gen_rel_frame1_bottleneck_in"]) < 1e-4
        assert _maxdiff(bottleneck_out, io["debug_gen_rel_frame1_bottleneck_out"]) < 1e-4

    def test_encode_decode_split_equals_forward(self, fx, io, fixture_models):
        gen = fixture_models.generator
        kp_d, kp_s = _kp(io, "kp_norm_rel", fx.frames - 1), _kp(io, "kp_source")
        with torch.no_grad():
            full = gen(io["source"], kp_driving=kp_d, kp_source=kp_s)
            encoding = gen.encode_source(io["source"])
            assert isinstance(encoding, FommSourceEncoding)
            assert encoding.features.shape == fx.shapes["source_features"]
            assert encoding.motion_source.shape == fx.shapes["motion_source"]
            split = gen.decode(encoding, kp_d, kp_s)
        assert "deformed" not in split  # visualisation only on request
        for key in ("prediction", "mask", "occlusion_map", "deformation"):
            assert torch.equal(full[key], split[key])

    def test_end_to_end_from_images(self, fx, io, fixture_models):
        # Smoke check of the whole chain (rounding grows along it; the README measures 1.8e-5).
        kp, gen = fixture_models.kp_detector, fixture_models.generator
        last = fx.frames - 1
        with torch.no_grad():
            kp_source = kp(io["source"])
            initial = kp(io["driving"][0:1])
            kp_norm = normalize_kp(kp_source, kp(io["driving"][last : last + 1]), initial, use_relative_movement=True,
                                   use_relative_jacobian=True)
            out = gen.decode(gen.encode_source(io["source"]), kp_norm, kp_source)
        assert _maxdiff(out["prediction"], io["gen_rel_prediction"][last]) < 1e-3

    def test_inputs_not_modified(self, io, fixture_models):
        kp_d, kp_s = _kp(io, "kp_norm_rel", 1), _kp(io, "kp_source")
        before = {k: v.clone() for k, v in {**kp_d, "s": kp_s["value"], "img": io["source"]}.items()}
        with torch.no_grad():
            fixture_models.generator(io["source"], kp_driving=kp_d, kp_source=kp_s)
        after = {**kp_d, "s": kp_s["value"], "img": io["source"]}
        assert all(torch.equal(before[k], after[k]) for k in before)

    def test_shapes_without_jacobians(self):
        torch.manual_seed(0)
        gen = OcclusionAwareGenerator(
            num_channels=3, num_kp=4, block_expansion=4, max_features=16, num_down_blocks=2,
            num_bottleneck_blocks=1, estimate_occlusion_map=True,
            dense_motion_params={"block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.25},
        ).eval()
        kp = {"value": torch.rand(2, 4, 2) * 2 - 1}
        with torch.no_grad():
            out = gen(torch.rand(2, 3, 32, 32), kp_driving=kp, kp_source=kp)
        assert out["prediction"].shape == (2, 3, 32, 32)
        assert out["mask"].shape == (2, 5, 8, 8) and out["deformation"].shape == (2, 8, 8, 2)
        # Same keypoints for source and driving: every sparse motion is the identity warp.
        torch.testing.assert_close(out["deformation"], make_coordinate_grid((8, 8)).expand(2, 8, 8, 2))
