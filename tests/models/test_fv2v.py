"""face-vid2vid networks and 3D keypoint math: manifests, golden-fixture parity, conventions.

The random fixture generator is very sensitive to keypoint perturbations, so every stage is fed
the stored outputs of the previous one (README "Tolerance guidance", FV2V, teacher-forced). Sizes,
keypoint counts, frame counts and free-view angles come from the fixture files (:mod:`golden`).
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from _media import needs_extra

torch = needs_extra("neural", "torch")  # before the imports below, which need torch

from livehead.models import configs
from livehead.models.blocks import SPADEResnetBlock, SpectralNormConv2d, fold_spectral_norm
from livehead.models.configs import build_models
from livehead.models.fv2v import OcclusionAwareSPADEGenerator
from livehead.models.keypoints import (
    get_rotation_matrix,
    headpose_pred_to_degree,
    inverse_3x3,
    keypoint_transformation,
    movement_scale,
    normalize_kp,
)

from _media import reference
from golden import assert_matches_manifest, golden_fixtures
from golden import max_abs_diff as _maxdiff

# README "Tolerance guidance", FV2V, suggested float32 atol (teacher-forced).
ATOL_KP_CANONICAL = 1e-5
ATOL_HE_LOGITS = 2e-3
ATOL_HE_T_EXP = 2e-4
ATOL_DEGREES = 5e-3
ATOL_KP_MATH = 1e-5  # rotations, kp transforms, kp_norm
ATOL_PREDICTION = 2e-4
ATOL_MOTION = 5e-5  # occlusion / mask / deformation
ATOL_DECODER = 5e-5
# HEEstimator features before pooling: no row in the README's table, so the bar is measured its
# way, against float64, in the test (see TestHEEstimator.test_parity).
HE_FEATURES_NOISE_FACTOR = 3.0

POSE = ("yaw", "pitch", "roll")


# Required: with 2 threads the reference itself drifts by 1e-4 in the HE logits.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


fx, io, fixture_models = golden_fixtures("fv2v")


@pytest.fixture(scope="module")
def free_view(fx) -> dict[str, int]:
    """The demo's --free_view angles the fixture used (ints, as argparse gives them)."""
    return fx.meta["free_view"]


def _he(io, who: str, i: int | None = None) -> dict[str, torch.Tensor]:
    keys = ("yaw", "pitch", "roll", "t", "exp")
    return {k: io[f"he_{who}_{k}"] if i is None else io[f"he_{who}_{k}"][i] for k in keys}


def _kp(value: torch.Tensor) -> dict[str, torch.Tensor | None]:
    return {"value": value, "jacobian": None}


class TestManifest:
    def test_full_config_state_dict_matches_manifest(self):
        manifest = json.loads(reference("fv2v_vox256_state_dict_manifest.json").read_text())
        with torch.device("meta"):
            models = build_models(configs.FV2V_VOX_256)
        assert models.entries == ("kp_detector", "he_estimator", "generator")
        assert_matches_manifest(models, manifest)

    def test_default_align_corners_false(self, fx):
        assert configs.FV2V_VOX_256.align_corners is False
        assert fx.config().align_corners is False


class TestHeadposePredToDegree:
    def test_parity(self, fx, io):
        for name in POSE:
            assert _maxdiff(headpose_pred_to_degree(io[f"he_source_{name}"]), io[f"deg_source_{name}"]) < ATOL_DEGREES
            deg = headpose_pred_to_degree(io[f"he_driving_{name}"].reshape(fx.frames, -1))
            assert _maxdiff(deg, io[f"deg_driving_{name}"].reshape(fx.frames)) < ATOL_DEGREES

    def test_known_answers(self):
        onehot = torch.full((3, 66), -1e4)
        onehot[0, 0], onehot[1, 33], onehot[2, 65] = 0.0, 0.0, 0.0
        assert headpose_pred_to_degree(onehot).tolist() == [-99.0, 0.0, 96.0]  # bin * 3 - 99
        assert headpose_pred_to_degree(torch.zeros(1, 66)).item() == pytest.approx(32.5 * 3 - 99)

    def test_rank_error(self):
        with pytest.raises(ValueError, match="got \\(66,\\)"):
            headpose_pred_to_degree(torch.zeros(66))


def _rx(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]])


class TestGetRotationMatrix:
    def test_parity(self, fx, io, free_view):
        rot = get_rotation_matrix(io["deg_source_yaw"], io["deg_source_pitch"], io["deg_source_roll"])
        assert _maxdiff(rot, io["rot_source"]) < ATOL_KP_MATH
        deg = {n: io[f"deg_driving_{n}"].reshape(fx.frames) for n in POSE}
        rot = get_rotation_matrix(deg["yaw"], deg["pitch"], deg["roll"])
        assert _maxdiff(rot, io["rot_driving"].reshape(fx.frames, 3, 3)) < ATOL_KP_MATH
        # Free view: int64 angles, like argparse type=int in the demo.
        free = get_rotation_matrix(*[torch.tensor([free_view[n]]) for n in POSE])
        assert free.dtype == torch.float32
        assert _maxdiff(free, io["rot_freeview"]) < ATOL_KP_MATH

    def test_order_is_pitch_yaw_roll_with_3_14(self):
        yaw, pitch, roll = 30.0, -12.0, 7.0  # distinct angles: any axis or order swap changes R
        to_rad = 3.14 / 180
        expected = _rx(pitch * to_rad) @ _ry(yaw * to_rad) @ _rz(roll * to_rad)
        rot = get_rotation_matrix(torch.tensor([yaw]), torch.tensor([pitch]), torch.tensor([roll]))
        torch.testing.assert_close(rot[0], expected, atol=1e-6, rtol=0)

    def test_constant_is_3_14_not_pi(self):
        rot = get_rotation_matrix(torch.tensor([180.0]), torch.zeros(1), torch.zeros(1))
        assert rot[0, 0, 0].item() == pytest.approx(math.cos(3.14), abs=1e-7)
        assert rot[0, 0, 0].item() != pytest.approx(-1.0, abs=1e-7)

    def test_orthonormal(self):
        g = torch.Generator().manual_seed(0)
        angles = [torch.rand(8, generator=g) * 180 - 90 for _ in range(3)]
        rot = get_rotation_matrix(*angles)
        torch.testing.assert_close(rot @ rot.transpose(1, 2), torch.eye(3).expand(8, 3, 3), atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.linalg.det(rot), torch.ones(8), atol=1e-5, rtol=0)


class TestKeypointTransformation:
    def test_parity(self, fx, io, free_view):
        canonical = _kp(io["kp_canonical"])
        assert _maxdiff(keypoint_transformation(canonical, _he(io, "source"))["value"], io["kp_source"]) < ATOL_KP_MATH
        for i in range(fx.frames):
            he = _he(io, "driving", i)
            assert _maxdiff(keypoint_transformation(canonical, he)["value"], io["kp_driving"][i]) < ATOL_KP_MATH
            free = keypoint_transformation(canonical, he, **free_view)
            assert _maxdiff(free["value"], io["kp_driving_freeview"][i]) < ATOL_KP_MATH

    def test_does_not_mutate_caller_dict(self, io):
        he = _he(io, "source")
        before = {k: v.clone() for k, v in he.items()}
        first = keypoint_transformation(_kp(io["kp_canonical"]), he)
        second = keypoint_transformation(_kp(io["kp_canonical"]), he)  # the reference fails here
        assert he["t"].shape == (1, 3)
        assert all(torch.equal(before[k], he[k]) for k in he)
        assert torch.equal(first["value"], second["value"])

    def test_known_answer_identity_pose(self):
        # Logits peaked at bin 33 give 0 degrees: kp = kp_c + t + exp.
        logits = torch.full((1, 66), -1e4)
        logits[0, 33] = 0.0
        kp_c = torch.tensor([[[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]]])
        t = torch.tensor([[0.01, 0.02, 0.03]])
        exp = torch.arange(6.0).reshape(1, 6) / 100
        he = {"yaw": logits, "pitch": logits, "roll": logits, "t": t, "exp": exp}
        out = keypoint_transformation(_kp(kp_c), he)
        torch.testing.assert_close(out["value"], kp_c + t[:, None] + exp.reshape(1, 2, 3), atol=1e-7, rtol=0)
        assert out["jacobian"] is None

    def test_free_view_override_broadcasts_over_batch(self, fx, io):
        he = {k: torch.cat([v, v]) for k, v in _he(io, "source").items()}
        kp_c = _kp(torch.cat([io["kp_canonical"]] * 2))
        out = keypoint_transformation(kp_c, he, yaw=20, pitch=-10.0, roll=torch.tensor([5.0], dtype=torch.float64))
        assert out["value"].dtype == torch.float32
        assert out["value"].shape == (2, fx.num_kp, 3)
        assert torch.equal(out["value"][0], out["value"][1])
        # Only the given angle is overridden: yaw alone keeps the predicted pitch/roll.
        yaw_only = keypoint_transformation(_kp(io["kp_canonical"]), _he(io, "source"), yaw=0.0)
        assert _maxdiff(yaw_only["value"], io["kp_source"]) > 1e-3

    def test_jacobian_rotated(self):
        he = {"yaw": torch.zeros(1, 66), "pitch": torch.zeros(1, 66), "roll": torch.zeros(1, 66),
              "t": torch.zeros(1, 3), "exp": torch.zeros(1, 3)}
        out = keypoint_transformation({"value": torch.zeros(1, 1, 3), "jacobian": torch.eye(3).expand(1, 1, 3, 3)}, he)
        rot = get_rotation_matrix(*[headpose_pred_to_degree(he[n]) for n in POSE])
        torch.testing.assert_close(out["jacobian"][0, 0], rot[0])


class TestNormalizeKp3d:
    def test_parity(self, fx, io):
        source, initial = _kp(io["kp_source"]), _kp(io["kp_driving"][0])
        for i in range(fx.frames):
            rel = normalize_kp(source, _kp(io["kp_driving"][i]), initial, use_relative_movement=True)
            assert _maxdiff(rel["value"], io["kp_norm_rel"][i]) < ATOL_KP_MATH
            adapt = normalize_kp(source, _kp(io["kp_driving"][i]), initial, use_relative_movement=True,
                                 adapt_movement_scale=True)
            assert _maxdiff(adapt["value"], io["kp_norm_rel_adapt"][i]) < ATOL_KP_MATH
            free = normalize_kp(source, _kp(io["kp_driving_freeview"][i]), initial, use_relative_movement=True,
                                adapt_movement_scale=True)
            assert _maxdiff(free["value"], io["kp_norm_fv_rel_adapt"][i]) < ATOL_KP_MATH
            assert free["jacobian"] is None

    def test_scale_is_3d_hull_volume(self, io):
        scale = movement_scale(io["kp_source"], io["kp_driving"][0])
        assert scale == pytest.approx(float(io["adapt_movement_scale"]), rel=1e-6)
        cube = torch.tensor([[[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)]])
        assert movement_scale(cube, 2 * cube) == pytest.approx(math.sqrt(1 / 8))


class TestInverse3x3:
    def test_matches_linalg_inv(self):
        m = torch.eye(3) + 0.2 * torch.randn(5, 15, 3, 3, generator=torch.Generator().manual_seed(1))
        inv = inverse_3x3(m)
        torch.testing.assert_close(inv, torch.linalg.inv(m), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(m @ inv, torch.eye(3).expand(5, 15, 3, 3), atol=1e-5, rtol=0)


class TestKPDetector:
    def test_parity(self, io, fixture_models):
        kp = fixture_models.kp_detector
        captured = {}
        hook = kp.kp.register_forward_hook(lambda m, i, o: captured.__setitem__("logits", o))
        try:
            with torch.no_grad():
                out = kp(io["source"])
        finally:
            hook.remove()
        assert _maxdiff(captured["logits"], io["debug_kp_canonical_source_logits"]) < 1e-5
        assert _maxdiff(out["value"], io["kp_canonical"]) < ATOL_KP_CANONICAL
        assert set(out) == {"value"}  # no Jacobians in the New model

    def test_reshape_constraint_is_checked(self):
        params = dict(configs.FV2V_VOX_256.network_params("kp_detector"), reshape_channel=1000)
        with pytest.raises(ValueError, match="reshape_channel / reshape_depth"):
            with torch.device("meta"):
                configs.FV2V_VOX_256.network_class("kp_detector")(**params)


class TestHEEstimator:
    def test_parity(self, fx, io, fixture_models):
        he = fixture_models.he_estimator
        with torch.no_grad():
            features = he.features(io["source"])
            exact = copy.deepcopy(he).double().features(io["source"].double())
            # The features before pooling have no row in the README's table, so the bar is measured
            # its way, against float64 (our float64 run from the stored source). The stored float32
            # tensor is as far from float64 as any float32 run: 2.7e-3 on the shared fixture (values
            # up to 15; ours 2.3e-3), the noise behind the README's 2.9e-4 on the logits after the
            # mean and fc. Two float32 runs round differently on different CPUs (oneDNN's jit:avx2
            # convolutions block by 8 channels, AVX-512 by 16), so the old |ours - stored| < 2e-3 held
            # only on CI's AVX-512 machine, where it compared identical kernels. The stored tensor
            # must be within 3x our own float32 rounding of the exact result: a bug the README's
            # logits bar catches (one BN eps 1e-3 instead of 1e-5) moves the features by 1.7e-2,
            # 7x our rounding.
            noise = _maxdiff(features.double(), exact)
            assert noise < 1e-3 * float(exact.abs().max()), f"our float32 run is {noise:.3g} from float64"
            stored = _maxdiff(io["debug_he_source_block7_out"].double(), exact)
            assert stored <= HE_FEATURES_NOISE_FACTOR * noise, f"stored vs exact {stored:.3g}, float32 rounding {noise:.3g}"
            frames = [("source", io["source"], None)] + [("driving", io["driving"][i : i + 1], i) for i in range(fx.frames)]
            for who, image, i in frames:
                out = he(image)
                ref = _he(io, who, i)
                for name in POSE:
                    assert _maxdiff(out[name], ref[name]) < ATOL_HE_LOGITS, (who, i, name)
                for name in ("t", "exp"):
                    assert _maxdiff(out[name], ref[name]) < ATOL_HE_T_EXP, (who, i, name)

    def test_heads_teacher_forced_and_name_swap(self, io, fixture_models):
        he = fixture_models.he_estimator
        pooled = io["debug_he_source_block7_out"].mean(dim=(2, 3))
        with torch.no_grad():
            # The reference returns 'yaw' from fc_roll and 'roll' from fc_yaw; the model was trained so.
            assert _maxdiff(he.fc_roll(pooled), io["he_source_yaw"]) < 1e-5
            assert _maxdiff(he.fc_pitch(pooled), io["he_source_pitch"]) < 1e-5
            assert _maxdiff(he.fc_yaw(pooled), io["he_source_roll"]) < 1e-5
            assert _maxdiff(he.fc_t(pooled), io["he_source_t"]) < 1e-6
            assert _maxdiff(he.fc_exp(pooled), io["he_source_exp"]) < 1e-6
            out = he(io["source"])
            assert torch.equal(out["yaw"], he.fc_roll(he.features(io["source"]).mean(dim=(2, 3))))


class TestSpectralNorm:
    def test_matches_torch_legacy_spectral_norm_in_eval(self):
        torch.manual_seed(0)
        ours = SpectralNormConv2d(6, 4, 3, padding=1)
        legacy = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 4, 3, padding=1))
        legacy.load_state_dict(ours.state_dict())  # same key names
        legacy.eval()
        x = torch.randn(2, 6, 8, 8)
        torch.testing.assert_close(ours(x), legacy(x), atol=1e-6, rtol=1e-6)
        assert list(ours.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]

    def test_uses_stored_u_v(self):
        conv = SpectralNormConv2d(3, 2, 1, bias=False)
        w = conv.weight_orig.detach()
        sigma = conv.weight_u @ (w.reshape(2, -1) @ conv.weight_v)
        torch.testing.assert_close(conv.weight(), w / sigma)
        before = (conv.weight_u.clone(), conv.weight_v.clone())
        conv.train()(torch.randn(1, 3, 4, 4))
        assert torch.equal(before[0], conv.weight_u) and torch.equal(before[1], conv.weight_v)  # no power iteration

    def test_fold_gives_same_outputs(self):
        torch.manual_seed(0)
        block = SPADEResnetBlock(8, 4, 5).eval()
        x, seg = torch.randn(1, 8, 6, 6), torch.randn(1, 5, 3, 3)
        with torch.no_grad():
            expected = block(x, seg)
            fold_spectral_norm(block)
            got = block(x, seg)
        assert not any(k.endswith("weight_orig") for k in block.state_dict())
        assert "conv_s.weight" in block.state_dict() and "conv_s.bias" not in block.state_dict()
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


_GEN_KEYS = {"prediction": ATOL_PREDICTION, "occlusion_map": ATOL_MOTION, "deformation": ATOL_MOTION,
             "mask": ATOL_MOTION}


class TestOcclusionAwareSPADEGenerator:
    def test_appearance_volume(self, io, fixture_models):
        with torch.no_grad():
            volume = fixture_models.generator.encode_source(io["source"])
        assert _maxdiff(volume, io["debug_gen_rel_frame1_feature_3d"]) < ATOL_MOTION

    def test_decoder_only(self, io, fixture_models):
        with torch.no_grad():
            out = fixture_models.generator.decoder(io["debug_gen_rel_frame1_decoder_in"])
        assert _maxdiff(out, io["gen_rel_prediction"][1]) < ATOL_DECODER

    @pytest.mark.parametrize("tag", ["rel", "rel_adapt", "fv_rel_adapt"])
    def test_parity_teacher_forced(self, fx, io, fixture_models, tag):
        gen = fixture_models.generator
        kp_source = _kp(io["kp_source"])
        captured = {}
        hook = gen.decoder.register_forward_hook(lambda m, i, o: captured.__setitem__("decoder_in", i[0]))
        try:
            with torch.no_grad():
                # Stored appearance volume in, so only this stage's rounding counts.
                volume = io["debug_gen_rel_frame1_feature_3d"]
                for i in range(fx.frames):
                    out = gen.decode(volume, _kp(io[f"kp_norm_{tag}"][i]), kp_source)
                    for key, atol in _GEN_KEYS.items():
                        if f"gen_{tag}_{key}" in io:
                            assert _maxdiff(out[key], io[f"gen_{tag}_{key}"][i]) < atol, (tag, i, key)
                    if tag == "rel" and i == 1:
                        assert _maxdiff(captured["decoder_in"], io["debug_gen_rel_frame1_decoder_in"]) < ATOL_MOTION
        finally:
            hook.remove()

    def test_forward_equals_encode_decode(self, io):
        torch.manual_seed(0)
        gen = _small_generator().eval()
        kp_s = _kp(torch.rand(1, 3, 3) * 2 - 1)
        kp_d = _kp(torch.rand(1, 3, 3) * 2 - 1)
        image = torch.rand(1, 3, 16, 16)
        with torch.no_grad():
            full = gen(image, kp_driving=kp_d, kp_source=kp_s)
            split = gen.decode(gen.encode_source(image), kp_d, kp_s)
        assert set(full) == {"prediction", "mask", "deformation", "occlusion_map"}
        assert full["prediction"].shape == (1, 3, 16, 16)
        assert full["deformation"].shape == (1, 2, 4, 4, 3)
        assert all(torch.equal(full[k], split[k]) for k in full)

    def test_config_constraints(self):
        with pytest.raises(ValueError, match="max_features"):
            _small_generator(max_features=64)


def _small_generator(**overrides) -> OcclusionAwareSPADEGenerator:
    params = dict(
        image_channel=3, feature_channel=4, num_kp=3, block_expansion=4, max_features=8, num_down_blocks=2,
        reshape_channel=4, reshape_depth=2, num_resblocks=1, estimate_occlusion_map=True,
        dense_motion_params={
            "block_expansion": 2, "max_features": 8, "num_blocks": 2, "reshape_depth": 2, "compress": 2,
        },
    )
    params.update(overrides)
    return OcclusionAwareSPADEGenerator(**params)
