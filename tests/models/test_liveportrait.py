"""LivePortrait networks and keypoint math against the original code's stored numbers.

Parity is teacher-forced (each stage gets the fixture's stored inputs), single-threaded, with the
per-stage float32 bars of ../shared/reference/README.md section 5 ("Tolerance guidance"). Every
shape, size and count comes from the fixture files or the manifest.
"""

from __future__ import annotations

import json
import math

import pytest

from _media import needs_extra, reference
from golden import golden_fixtures

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.models import PUBLIC_CONFIGS, build_models
from livehead.models.liveportrait import keypoints as lpk
from livehead.models.liveportrait.stitching_retargeting import FILE_ENTRIES

# README section 5, "suggested float32 atol (teacher-forced)"
TOL = {
    "f_s": 5e-5, "logits": 5e-5, "heads": 1e-5, "degrees": 1e-4, "R": 1e-5, "kp": 1e-5, "relative": 1e-5,
    "stitch": 1e-5, "retarget": 1e-5, "multiplier": 1e-6, "occlusion": 2e-5, "deformation": 1e-5,
    "warp_out": 5e-5, "image": 2e-5,
}
HEADS = ("t", "exp", "scale", "kp")
POSE = ("pitch", "yaw", "roll")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the fixture's numbers were made with 1 thread


fx, io, models = golden_fixtures("liveportrait", models="models")


@pytest.fixture(scope="module")
def config(fx):
    return fx.config()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(reference("liveportrait_state_dict_manifest.json").read_text())


def frames(io) -> range:
    return range(io["driving"].shape[0])


def info(io, prefix: str, i: int | None = None) -> lpk.KeypointInfo:
    """Decode the stored raw motion-extractor heads of the source (``me_source``) or frame i."""
    def get(key):
        value = io[f"{prefix}_{key}"]
        return value if i is None else value[i]

    return lpk.refine_motion({k: get(k) for k in POSE + HEADS})


def close(got, want, atol: float, what: str) -> None:
    err = float((torch.as_tensor(got).double() - torch.as_tensor(want).double()).abs().max())
    assert err <= atol, f"{what}: max |ours - reference| = {err:.3g} > {atol:g}"


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def public():
    """The public architecture, shapes only (meta device)."""
    with torch.device("meta"):
        return build_models(PUBLIC_CONFIGS["liveportrait"])


class TestManifest:
    """The public architecture has exactly the official files' keys, shapes and order."""

    def test_base_models(self, public, manifest):
        for name in (n for n in manifest if not n.startswith("_") and n != "stitching_retargeting_module"):
            got = [(k, list(v.shape)) for k, v in getattr(public, name).state_dict().items()]
            assert got == list(manifest[name].items()), f"{name} differs from the manifest"

    def test_stitching_file_entries(self, public, manifest):
        module = public.stitching_retargeting_module
        for file_entry, child in FILE_ENTRIES.items():
            got = [(k, list(v.shape)) for k, v in getattr(module, child).state_dict().items()]
            assert got == list(manifest["stitching_retargeting_module"][file_entry].items()), file_entry

    def test_parameter_counts(self, public, manifest):
        counts = manifest["_meta"]["counts"]
        for name, module in public.items():
            if name == "stitching_retargeting_module":
                for file_entry, child in FILE_ENTRIES.items():
                    n = sum(p.numel() for p in getattr(module, child).parameters())
                    assert n == counts[name][file_entry]["num_parameters"]
            else:
                assert sum(p.numel() for p in module.parameters()) == counts[name]["num_parameters"], name

    def test_public_config_matches_manifest(self, manifest):
        assert dict(PUBLIC_CONFIGS["liveportrait"].model_params) == manifest["_meta"]["model_params"]

    def test_tiny_fixture_is_a_subset_with_full_motion_extractor(self, fx, models, manifest):
        for name, module in models.items():
            keys = set(module.state_dict())
            if name == "stitching_retargeting_module":
                # each official file entry lands on its child: the file's keys, renamed
                in_file = {f"{c}.{k}" for e, c in FILE_ENTRIES.items() for k in fx.state_dict(f"{name}/{e}")}
                assert keys == in_file
                assert keys <= {f"{c}.{k}" for e, c in FILE_ENTRIES.items() for k in manifest[name][e]}
            else:
                assert keys <= set(manifest[name]), name
        me = {k: list(v.shape) for k, v in models.motion_extractor.state_dict().items()}
        # hard-coded ConvNeXt-V2-Tiny (README section 5); only the keypoint and expression heads follow num_kp
        want = {k: [3 * fx.num_kp, *shape[1:]] if k.split(".")[1] in ("fc_kp", "fc_exp") else shape
                for k, shape in manifest["motion_extractor"].items()}
        assert me == want


# ---------------------------------------------------------------------------------------------


class TestPoseMath:
    def test_degrees_known_answer(self, io):
        bins = io["me_source_pitch"].shape[1]
        logits = torch.full((2, bins), -50.0)
        logits[0, bins // 2] = 50.0  # all mass in one bin
        logits[1, :] = 0.0  # uniform: the mean bin
        deg = lpk.degrees_from_bins(logits)
        assert deg[0].item() == pytest.approx((bins // 2) * 3 - 97.5, abs=1e-4)
        assert deg[1].item() == pytest.approx((bins - 1) / 2 * 3 - 97.5, abs=1e-4)

    def test_degrees_reject_decoded_angles(self):
        with pytest.raises(ValueError, match="bin logits"):
            lpk.degrees_from_bins(torch.zeros(1, 1))

    def test_rotation_convention_row_vectors(self):
        """(Rz Ry Rx)^T applied as kp @ R: a yaw of +90 degrees sends +x to -z, a pitch of +90 sends
        +y to +z, a roll of +90 sends +x to +y (right-handed, column-vector Rz Ry Rx)."""
        x, y = torch.tensor([[[1.0, 0.0, 0.0]]]), torch.tensor([[[0.0, 1.0, 0.0]]])
        ninety, zero = torch.tensor([90.0]), torch.tensor([0.0])
        torch.testing.assert_close(x @ lpk.get_rotation_matrix(zero, ninety, zero), torch.tensor([[[0.0, 0, -1]]]),
                                   atol=1e-6, rtol=0)
        torch.testing.assert_close(y @ lpk.get_rotation_matrix(ninety, zero, zero), torch.tensor([[[0.0, 0, 1]]]),
                                   atol=1e-6, rtol=0)
        torch.testing.assert_close(x @ lpk.get_rotation_matrix(zero, zero, ninety), torch.tensor([[[0.0, 1, 0]]]),
                                   atol=1e-6, rtol=0)

    def test_rotation_order_with_asymmetric_angles(self):
        pitch, yaw, roll = torch.tensor([20.0]), torch.tensor([-35.0]), torch.tensor([10.0])

        def axis(i, deg):
            c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
            m = torch.eye(3, dtype=torch.float64)
            j, k = [a for a in range(3) if a != i]
            m[j, j], m[j, k], m[k, j], m[k, k] = c, -s, s, c
            return m if i != 1 else m.T  # Ry = [[c,0,s],[0,1,0],[-s,0,c]]

        want = (axis(2, 10.0) @ axis(1, -35.0) @ axis(0, 20.0)).T
        torch.testing.assert_close(lpk.get_rotation_matrix(pitch, yaw, roll)[0].double(), want, atol=1e-6, rtol=0)

    def test_translation_moves_x_and_y_only(self, io):
        base = info(io, "me_source")
        moved = lpk.KeypointInfo(base.pitch, base.yaw, base.roll, base.t + torch.tensor([[0.1, -0.2, 5.0]]),
                                 base.exp, base.scale, base.kp)
        delta = lpk.transform_keypoint(moved) - lpk.transform_keypoint(base)
        torch.testing.assert_close(delta[..., 0], torch.full_like(delta[..., 0], 0.1), atol=1e-6, rtol=0)
        torch.testing.assert_close(delta[..., 1], torch.full_like(delta[..., 1], -0.2), atol=1e-6, rtol=0)
        assert float(delta[..., 2].abs().max()) == 0.0

    def test_no_motion_is_the_source(self, io):
        source, frame = info(io, "me_source"), info(io, "me_driving", 1)
        motion = lpk.relative_motion(source, frame, frame)
        close(motion.x_d, lpk.transform_keypoint(source), 1e-6, "driving = calibration frame")

    def test_frozen_keypoints_keep_the_source_expression(self, io):
        source = info(io, "me_source")
        motion = lpk.relative_motion(source, info(io, "me_driving", 1), info(io, "me_driving", 0),
                                     frozen=lpk.EYE_KEYPOINTS)
        rows = list(lpk.EYE_KEYPOINTS)
        assert torch.equal(motion.exp[:, rows], source.exp[:, rows])
        others = [k for k in range(source.exp.shape[1]) if k not in rows]
        assert not torch.equal(motion.exp[:, others], source.exp[:, others])

    def test_inputs_are_not_modified(self, models, io):
        x_s, x_d = io["x_s"].clone(), io["x_d_new_ef"][0].clone()
        lpk.stitch(models.stitching_retargeting_module.stitching, x_s, x_d)
        assert torch.equal(x_d, io["x_d_new_ef"][0]) and torch.equal(x_s, io["x_s"])


# ---------------------------------------------------------------------------------------------


class TestNetworkParity:
    """Each network on the stored inputs of its stage."""

    def test_appearance_feature_extractor(self, models, io):
        with torch.no_grad():
            # The reference's prepare_source hands F a channels_last view; contiguous input differs by rounding.
            close(models.appearance_feature_extractor(io["source"].contiguous(memory_format=torch.channels_last)),
                  io["f_s"], TOL["f_s"], "f_s (channels_last)")
            close(models.appearance_feature_extractor(io["source"]), io["f_s"], TOL["f_s"], "f_s")
            f = models.appearance_feature_extractor
            out = f.first(io["source"])
            for block in f.down_blocks:
                out = block(out)
            close(f.second(out), io["debug_f_s_second_out"], TOL["f_s"], "second (before the view to a volume)")

    def test_motion_extractor_source(self, models, io):
        with torch.no_grad():
            out = models.motion_extractor(io["source"])
        for key in POSE:
            close(out[key], io[f"me_source_{key}"], TOL["logits"], f"source {key} logits")
        for key in HEADS:
            close(out[key], io[f"me_source_{key}"], TOL["heads"], f"source {key}")

    def test_motion_extractor_driving(self, models, io):
        for i in frames(io):
            with torch.no_grad():
                out = models.motion_extractor(io["driving"][i:i + 1])
            for key in POSE:
                close(out[key], io[f"me_driving_{key}"][i], TOL["logits"], f"frame {i} {key} logits")
            for key in HEADS:
                close(out[key], io[f"me_driving_{key}"][i], TOL["heads"], f"frame {i} {key}")

    def test_warping_module(self, models, io):
        for i in frames(io):
            with torch.no_grad():
                out = models.warping_module(io["f_s"], io["x_d_final"][i], io["x_s"])
            close(out["occlusion_map"], io["warp_occlusion_map"][i], TOL["occlusion"], f"frame {i} occlusion")
            close(out["deformation"], io["warp_deformation"][i], TOL["deformation"], f"frame {i} deformation")
            close(out["out"], io["warp_out"][i], TOL["warp_out"], f"frame {i} warp out")

    def test_spade_generator(self, models, io):
        for i in frames(io):
            with torch.no_grad():
                image = models.spade_generator(io["warp_out"][i])
            assert image.shape == io["image"][i].shape  # 2x the input: PixelShuffle
            close(image, io["image"][i], TOL["image"], f"frame {i} image")


class TestKeypointParity:
    """The keypoint math on the stored motion-extractor outputs, every stored flag variant."""

    def test_degrees_and_rotations(self, io):
        source = info(io, "me_source")
        for key in POSE:
            close(getattr(source, key), io[f"deg_source_{key}"], TOL["degrees"], f"source {key}")
        close(source.rotation, io["R_source"], TOL["R"], "R_source")
        for i in frames(io):
            frame = info(io, "me_driving", i)
            for key in POSE:
                close(getattr(frame, key), io[f"deg_driving_{key}"][i], TOL["degrees"], f"frame {i} {key}")
            close(frame.rotation, io["R_driving"][i], TOL["R"], f"R_driving {i}")

    def test_transform_keypoint(self, io):
        close(lpk.transform_keypoint(info(io, "me_source")), io["x_s"], TOL["kp"], "x_s")
        for i in frames(io):
            close(lpk.transform_keypoint(info(io, "me_driving", i)), io["x_d"][i], TOL["kp"], f"x_d {i}")

    def test_relative_motion(self, io):
        source, first = info(io, "me_source"), info(io, "me_driving", 0)
        for i in frames(io):
            motion = lpk.relative_motion(source, info(io, "me_driving", i), first)
            close(motion.rotation, io["R_new"][i], TOL["relative"], f"R_new {i}")
            close(motion.exp, io["delta_new"][i], TOL["relative"], f"delta_new {i}")
            close(motion.scale, io["scale_new"][i], TOL["relative"], f"scale_new {i}")
            close(motion.t, io["t_new"][i], TOL["relative"], f"t_new {i}")
            close(motion.x_d, io["x_d_new"][i], TOL["relative"], f"x_d_new {i}")

    def test_expression_friendly(self, fx, io):
        multiplier = lpk.motion_multiplier(io["x_s"], io["x_d_new"][0])
        assert abs(multiplier - 1.0) < TOL["multiplier"]
        assert abs(multiplier - float(fx.meta["motion_multiplier_float64"])) < TOL["multiplier"]
        for i in frames(io):
            got = lpk.expression_friendly(io["x_d_new"][i], io["x_d_new"][0], io["x_s"], io["motion_multiplier"])
            close(got, io["x_d_new_ef"][i], TOL["stitch"], f"x_d_new_ef {i}")

    def test_stitching(self, models, io):
        mlp = models.stitching_retargeting_module.stitching
        for i in frames(io):
            with torch.no_grad():
                delta = mlp(torch.cat([io["x_s"].flatten(1), io["x_d_new_ef"][i].flatten(1)], dim=1))
                stitched = lpk.stitch(mlp, io["x_s"], io["x_d_new_ef"][i])
            close(delta, io["stitch_delta"][i], TOL["stitch"], f"stitch_delta {i}")
            close(stitched, io["x_d_stitched"][i], TOL["stitch"], f"x_d_stitched {i}")
            close(lpk.apply_multiplier(io["x_s"], stitched, 1.0), io["x_d_final"][i], TOL["stitch"], f"x_d_final {i}")

    def test_pose_friendly_variant(self, models, io):
        mlp = models.stitching_retargeting_module.stitching
        for i in frames(io):
            with torch.no_grad():
                got = lpk.apply_multiplier(io["x_s"], lpk.stitch(mlp, io["x_s"], io["x_d_new"][i]), 1.0)
            close(got, io["x_d_final_pf"][i], TOL["stitch"], f"x_d_final_pf {i}")

    def test_retargeting_variant(self, models, io):
        s = models.stitching_retargeting_module
        for i in frames(io):
            eye_in = lpk.eye_ratio_input(io["eye_ratio"][i][:, :2], io["eye_ratio"][i][:, 2])
            lip_in = lpk.lip_ratio_input(io["lip_ratio"][i][:, 0], io["lip_ratio"][i][:, 1])
            assert torch.equal(eye_in, io["eye_ratio"][i]) and torch.equal(lip_in, io["lip_ratio"][i])
            with torch.no_grad():
                delta_eye = lpk.retarget(s.eye, io["x_s"], eye_in)
                delta_lip = lpk.retarget(s.lip, io["x_s"], lip_in)
                # relative mode with retargeting: the driving motion is discarded (README caveat 6)
                final = lpk.apply_multiplier(io["x_s"], lpk.stitch(s.stitching, io["x_s"],
                                                                   io["x_s"] + delta_eye + delta_lip), 1.0)
            close(delta_eye, io["delta_eye"][i], TOL["retarget"], f"delta_eye {i}")
            close(delta_lip, io["delta_lip"][i], TOL["retarget"], f"delta_lip {i}")
            close(final, io["x_d_final_retarget"][i], TOL["stitch"], f"x_d_final_retarget {i}")

    def test_normalize_lip_variant(self, models, io):
        s = models.stitching_retargeting_module
        source_lip = io["lip_ratio_normalize"][:, 0]
        assert float(source_lip) >= lpk.LIP_NORMALIZE_THRESHOLD  # the variant applies
        with torch.no_grad():
            delta = lpk.retarget(s.lip, io["x_s"], lpk.lip_ratio_input(source_lip, torch.zeros(1)))
        close(delta, io["delta_lip_normalize"], TOL["retarget"], "delta_lip_normalize")
        for i in frames(io):
            with torch.no_grad():
                got = lpk.apply_multiplier(io["x_s"], lpk.stitch(s.stitching, io["x_s"], io["x_d_new_ef"][i]) + delta,
                                           1.0)
            close(got, io["x_d_final_normalize_lip"][i], TOL["stitch"], f"x_d_final_normalize_lip {i}")


# ---------------------------------------------------------------------------------------------


class TestRandomModels:
    def test_tiny_architecture_calibrates(self, fx, config):
        from livehead.models.random_init import random_image, random_models

        size = fx.image_size
        models = random_models("liveportrait", seed=3, image_size=size, config=config)
        gen = torch.Generator().manual_seed(1)
        images = torch.cat([random_image((1, 3, size, size), gen) for _ in range(2)])
        with torch.no_grad():
            motion = lpk.refine_motion(models.motion_extractor(images))
            x = lpk.transform_keypoint(motion)
            f_s = models.appearance_feature_extractor(images[:1])
            warped = models.warping_module(f_s, x[1:], x[:1])
            image = models.spade_generator(warped["out"])
        assert motion.angles.abs().max() > 1.0  # pose heads are not flat
        assert 0.5 < float(motion.scale.mean()) < 2.0
        occlusion = warped["occlusion_map"]
        assert 0.0 < float(occlusion.min()) and float(occlusion.max()) < 1.0 and float(occlusion.std()) > 0.01
        assert image.shape[-2:] == fx.shapes["output_image"][-2:]
        assert torch.isfinite(image).all() and float(image.std()) > 0.05
        again = random_models("liveportrait", seed=3, image_size=size, config=config)
        assert torch.equal(again.motion_extractor.detector.fc_kp.weight, models.motion_extractor.detector.fc_kp.weight)

    def test_unknown_engine(self):
        from livehead.models.random_init import random_models

        with pytest.raises(ValueError, match="liveportrait"):
            random_models("nope")

    @pytest.mark.slow
    def test_public_architecture_builds(self, request):
        """Full-size LivePortrait with calibrated random weights (about a minute on 2 CPU cores):
        ``pytest -m slow tests/models/test_liveportrait.py``."""
        if "slow" not in (request.config.getoption("-m") or ""):
            pytest.skip("slow (about a minute on 2 cores): pytest -m slow tests/models/test_liveportrait.py")
        from livehead.models.random_init import random_models

        models = random_models("liveportrait", image_size=128)
        assert sum(p.numel() for p in models.warping_module.parameters()) > 4e7

