"""Write variant golden fixtures (FOMM, face-vid2vid and LivePortrait) with OUR implementation, for
checking that the tests read every number from the fixture files.

The folder gets the file layout of ``../shared/reference`` (README sections 3, 4 and 5):
``{fomm,fv2v}_tiny.yaml`` (the original YAML layout), ``{fomm,fv2v}_tiny.pth.tar`` (the official
checkpoint layout ``{"generator", "kp_detector"[, "he_estimator"], "epoch"}``) and
``{fomm,fv2v}_tiny_io.npz`` with the same keys, shapes per frame, dtypes and a ``meta`` JSON;
``liveportrait_tiny.{yaml,pth}`` and ``liveportrait_tiny_io.npz`` likewise (:mod:`variant_liveportrait`).
The ``*_state_dict_manifest.json`` files describe the public architectures, not the fixture, so
they are copied from ``--manifests`` (the shared reference) when present.

What changes against the shared copies: seeds, image size, keypoint counts, depths and widths, the
number of driving frames, (preset ``deep``) a FOMM dense-motion resolution that differs from the
feature resolution and, for LivePortrait, the hourglass depth (crop-size multiple 64 in ``small``)
and the stitching/retargeting MLP depths. Weights follow the fixture recipe through
:func:`livehead.models.random_init.randomize_` (LivePortrait: ``random_models``).
Because the outputs come from livehead itself, a run against a variant proves only that the tests
are independent of the shared numbers, not that the math matches the original code.

Usage::

    python tools/make_variant_fixtures.py /tmp/variant-small --preset small
    python tools/make_variant_fixtures.py /tmp/variant-deep --preset deep --engine liveportrait
    LIVEHEAD_REFERENCE_DIR=/tmp/variant-small python -m pytest tests/models/test_fomm.py tests/models/test_liveportrait.py ...

The variant data is for local runs only; do not commit it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy import ndimage

from livehead.models.configs import build_models, load_model_config
from livehead.models.keypoints import (
    get_rotation_matrix,
    headpose_pred_to_degree,
    keypoint_transformation,
    movement_scale,
    normalize_kp,
)
from livehead.models.random_init import randomize_
from variant_liveportrait import liveportrait_params, write_liveportrait

ENGINES = ("fomm", "fv2v", "liveportrait")
REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"

def fomm_params(num_kp: int, *, kp: dict, generator: dict, dense: dict) -> dict:
    """FOMM ``model_params`` in the original layout; the arguments hold the keys that vary."""
    return {
        "common_params": {"num_kp": num_kp, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {"temperature": 0.1, **kp},
        "generator_params": {**generator, "estimate_occlusion_map": True, "dense_motion_params": dense},
    }


def fv2v_params(num_kp: int, *, kp: dict, he_block_expansion: int, generator: dict, dense: dict) -> dict:
    """face-vid2vid ``model_params``. Constraints of the original code: 66 pose bins
    (headpose_pred_to_degree), block_expansion * 2**num_down_blocks = 256 (the SPADE decoder's
    hard-coded input), block_expansion <= max_features = reshape_channel * reshape_depth, and
    feature_channel = the generator's reshape_channel."""
    return {
        "common_params": {"num_kp": num_kp, "image_channel": 3, "feature_channel": generator["reshape_channel"],
                          "estimate_jacobian": False},
        "kp_detector_params": {"temperature": 0.1, **kp},
        "he_estimator_params": {"block_expansion": he_block_expansion, "max_features": 2048, "num_bins": 66},
        "generator_params": {"block_expansion": 64, "num_down_blocks": 2, **generator,
                             "max_features": generator["reshape_channel"] * generator["reshape_depth"],
                             "estimate_occlusion_map": True,
                             "dense_motion_params": {**dense, "reshape_depth": generator["reshape_depth"]}},
    }


# Everything that differs from the shared fixtures, per preset.
PRESETS: dict[str, dict] = {
    "small": {
        "image_size": 64, "frames": 3, "seed": 101,
        "poses": [(0.0, 1.0, (0.0, 0.0)), (5.0, 1.03, (2.0, -1.5)), (-7.0, 0.96, (-2.0, 2.5))],
        "free_view": {"yaw": -15, "pitch": 8, "roll": -4},
        "fomm": fomm_params(
            6, kp={"block_expansion": 8, "max_features": 32, "scale_factor": 0.25, "num_blocks": 2},
            generator={"block_expansion": 8, "max_features": 16, "num_down_blocks": 2, "num_bottleneck_blocks": 1},
            dense={"block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.25}),
        "fv2v": fv2v_params(
            8, kp={"block_expansion": 8, "max_features": 32, "scale_factor": 0.25, "num_blocks": 2,
                   "reshape_channel": 128, "reshape_depth": 4},
            he_block_expansion=8, generator={"reshape_channel": 8, "reshape_depth": 8, "num_resblocks": 1},
            dense={"block_expansion": 4, "max_features": 16, "num_blocks": 2, "compress": 2}),
        # num_kp >= 21: the pipeline freezes the original code's eye/lip keypoint indices (up to 20).
        # Crop 64 = the multiple W's 4-level hourglass needs on F's 1/4-size volume (16 -> 1).
        "liveportrait": {"image_size": 64, "params": liveportrait_params(
            24, appearance={"block_expansion": 8, "num_down_blocks": 2, "reshape_channel": 4, "reshape_depth": 4,
                            "num_resblocks": 1},
            warping={"block_expansion": 8, "num_down_blocks": 1},
            dense={"block_expansion": 4, "max_features": 16, "num_blocks": 4, "compress": 2},
            generator={"block_expansion": 8, "num_down_blocks": 1},
            hidden={"stitching": [32, 16], "lip": [24], "eye": [32, 24, 16]})},
    },
    "deep": {
        "image_size": 96, "frames": 4, "seed": 202,
        "poses": [(0.0, 1.0, (0.0, 0.0)), (8.0, 1.06, (3.0, -2.0)), (-6.0, 0.95, (-3.0, 2.0)),
                  (3.0, 1.02, (1.5, 3.0))],
        "free_view": {"yaw": 25, "pitch": -5, "roll": 10},
        # FOMM's dense motion runs at 48 px and its features at 24 px: deformation and occlusion are resized.
        "fomm": fomm_params(
            12, kp={"block_expansion": 4, "max_features": 64, "scale_factor": 0.25, "num_blocks": 3},
            generator={"block_expansion": 16, "max_features": 48, "num_down_blocks": 2, "num_bottleneck_blocks": 3},
            dense={"block_expansion": 8, "max_features": 64, "num_blocks": 3, "scale_factor": 0.5}),
        "fv2v": fv2v_params(
            10, kp={"block_expansion": 4, "max_features": 64, "scale_factor": 0.25, "num_blocks": 3,
                    "reshape_channel": 64, "reshape_depth": 2},
            he_block_expansion=24, generator={"reshape_channel": 24, "reshape_depth": 4, "num_resblocks": 2},
            dense={"block_expansion": 6, "max_features": 24, "num_blocks": 3, "compress": 3}),
        # The public 5-level hourglass: crops must be multiples of 128. Every part is at most as deep as the
        # public one (F resblocks, MLP layers): a tiny fixture's keys are a subset of the official files'.
        "liveportrait": {"image_size": 128, "params": liveportrait_params(
            27, appearance={"block_expansion": 12, "num_down_blocks": 2, "reshape_channel": 6, "reshape_depth": 8,
                            "num_resblocks": 3},
            warping={"block_expansion": 6, "num_down_blocks": 2},
            dense={"block_expansion": 6, "max_features": 24, "num_blocks": 5, "compress": 4},
            generator={"block_expansion": 12, "num_down_blocks": 2},
            hidden={"stitching": [48, 32], "lip": [40, 24, 16], "eye": [48, 32, 24, 16]})},
    },
}


# ---------------------------------------------------------------------------------------------
# Inputs


def smooth_field(rng: np.random.RandomState, size: int) -> np.ndarray:
    """(3, size, size) float32 in [0.04, 0.96]: a colour gradient, coloured anisotropic Gaussian
    blobs and a faint blurred noise texture (so the anti-alias filters have detail to remove)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    image = rng.uniform(0.2, 0.8, (3, 1, 1)) + rng.uniform(-0.3, 0.3, (3, 1, 1)) * xx + \
        rng.uniform(-0.3, 0.3, (3, 1, 1)) * yy
    for _ in range(30):
        cx, cy = rng.uniform(0, 1, 2)
        sx, sy = rng.uniform(0.03, 0.2, 2)
        blob = np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
        image += rng.uniform(-0.5, 0.5, (3, 1, 1)) * blob
    image += 0.03 * ndimage.gaussian_filter(rng.standard_normal((3, size, size)), sigma=(0, 1, 1))
    image = (image - image.min()) / (image.max() - image.min())
    return (0.04 + 0.92 * image).astype(np.float32)


def warp(image: np.ndarray, angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """Rotate/scale about the centre and shift by ``shift`` px (x, y); cubic, reflect, clipped."""
    size = image.shape[-1]
    a = np.deg2rad(angle_deg)
    forward = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # (row, col) plane
    inverse = np.linalg.inv(forward)
    centre = np.array([(size - 1) / 2] * 2)
    offset = centre - inverse @ (centre + np.array([shift[1], shift[0]]))
    out = [ndimage.affine_transform(c, inverse, offset=offset, order=3, mode="reflect") for c in image]
    return np.clip(np.stack(out), 0.0, 1.0).astype(np.float32)


def make_inputs(preset: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``source`` (1, 3, S, S) and ``driving`` (F, 3, S, S), frame 0 unwarped."""
    rng = np.random.RandomState(seed)
    size = preset["image_size"]
    source = smooth_field(rng, size)
    base = smooth_field(rng, size)
    driving = np.stack([warp(base, *pose) for pose in preset["poses"][: preset["frames"]]])
    return torch.from_numpy(source[None]), torch.from_numpy(driving)


# ---------------------------------------------------------------------------------------------
# Files


def write_yaml(path: Path, model_params: dict, size: int, engine: str) -> None:
    document = {
        "dataset_params": {"root_dir": "unused", "frame_shape": [size, size, 3], "id_sampling": True},
        "model_params": model_params,
        "train_params": {"num_epochs": 1, "note": f"variant {engine} fixture written by tools/make_variant_fixtures.py"},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def models_for(path: Path, seed: int, source: torch.Tensor, driving: torch.Tensor):
    """Networks of the YAML at ``path`` with recipe weights (eval mode), BatchNorm statistics and
    head scales measured on the fixture's own inputs as the recipe does: every image once as a
    source and once as a driving frame."""
    torch.manual_seed(seed)
    models = build_models(load_model_config(path, align_corners=False)).eval()
    batch = torch.cat([source, driving])
    randomize_(models, seed=seed, image_size=source.shape[-1], images=(batch, batch.roll(1, dims=0)))
    return models


def save_checkpoint(path: Path, models) -> None:
    state = {name: module.state_dict() for name, module in models.items()}
    torch.save({**state, "epoch": 0}, path)


def capture(module: torch.nn.Module, store: dict, key: str, *, inputs: bool = False):
    """Forward hook storing the first call's output (or first input) under ``key``."""
    def hook(mod, args, out):
        store.setdefault(key, (args[0] if inputs else out).detach().clone())

    return module.register_forward_hook(hook)


def stack(frames: list[torch.Tensor]) -> np.ndarray:
    return torch.stack(frames).numpy()


# ---------------------------------------------------------------------------------------------
# FOMM (README section 3)


def fomm_outputs(models, aligned, source, driving) -> dict[str, np.ndarray]:
    kp, gen = models.kp_detector, models.generator
    out: dict[str, np.ndarray] = {}
    debug: dict[str, torch.Tensor] = {}
    hooks = [capture(kp.predictor, debug, "debug_kp_source_predictor_out"),
             capture(kp.kp, debug, "debug_kp_source_heatmap_logits")]
    kp_source = kp(source)
    for h in hooks:
        h.remove()
    kp_driving = [kp(driving[i : i + 1]) for i in range(len(driving))]
    out["kp_source_value"], out["kp_source_jacobian"] = kp_source["value"].numpy(), kp_source["jacobian"].numpy()
    out["kp_driving_value"] = stack([k["value"] for k in kp_driving])
    out["kp_driving_jacobian"] = stack([k["jacobian"] for k in kp_driving])
    out["adapt_movement_scale"] = np.float64(movement_scale(kp_source["value"], kp_driving[0]["value"]))
    norm = {tag: [normalize_kp(kp_source, k, kp_driving[0], adapt_movement_scale=adapt, use_relative_movement=True,
                               use_relative_jacobian=True) for k in kp_driving]
            for tag, adapt in (("rel", False), ("rel_adapt", True))}
    for tag, kps in norm.items():
        out[f"kp_norm_{tag}_value"] = stack([k["value"] for k in kps])
        out[f"kp_norm_{tag}_jacobian"] = stack([k["jacobian"] for k in kps])
    keys = {"rel": ("prediction", "mask", "occlusion_map", "deformation", "sparse_deformed", "deformed"),
            "rel_adapt": ("prediction", "mask", "occlusion_map", "deformation")}
    for tag, names in keys.items():
        results = []
        for i, k in enumerate(norm[tag]):
            hooks = []
            if tag == "rel" and i == 1:
                hooks = [capture(gen.dense_motion_network.hourglass, debug,
                                 "debug_gen_rel_frame1_dense_motion_hourglass_out"),
                         capture(gen.bottleneck, debug, "debug_gen_rel_frame1_bottleneck_in", inputs=True),
                         capture(gen.bottleneck, debug, "debug_gen_rel_frame1_bottleneck_out")]
                debug["debug_gen_rel_frame1_encoder_out"] = gen.encode_source(source).features
            results.append(gen(source, kp_driving=k, kp_source=kp_source))
            for h in hooks:
                h.remove()
        for name in names:
            out[f"gen_{tag}_{name}"] = stack([r[name] for r in results])
    aligned_results = [aligned.generator(source, kp_driving=k, kp_source=kp_source) for k in norm["rel"]]
    for name in ("prediction", "mask", "occlusion_map", "deformation"):
        out[f"variant_alignTrue_gen_rel_{name}"] = stack([r[name] for r in aligned_results])
    out.update({k: v.numpy() for k, v in debug.items()})
    return out


# ---------------------------------------------------------------------------------------------
# face-vid2vid (README section 4)

POSE = ("yaw", "pitch", "roll")


def fv2v_outputs(models, source, driving, free_view: dict[str, int]) -> dict[str, np.ndarray]:
    kp, he, gen = models.kp_detector, models.he_estimator, models.generator
    out: dict[str, np.ndarray] = {}
    debug: dict[str, torch.Tensor] = {}
    hook = capture(kp.kp, debug, "debug_kp_canonical_source_logits")
    canonical = {"value": kp(source)["value"], "jacobian": None}
    hook.remove()
    out["kp_canonical"] = canonical["value"].numpy()
    debug["debug_he_source_block7_out"] = he.features(source)
    he_source = he(source)
    he_driving = [he(driving[i : i + 1]) for i in range(len(driving))]
    for name in (*POSE, "t", "exp"):
        out[f"he_source_{name}"] = he_source[name].numpy()
        out[f"he_driving_{name}"] = stack([h[name] for h in he_driving])
    for name in POSE:
        out[f"deg_source_{name}"] = headpose_pred_to_degree(he_source[name]).numpy()
        out[f"deg_driving_{name}"] = stack([headpose_pred_to_degree(h[name]) for h in he_driving])
    out["rot_source"] = get_rotation_matrix(*[headpose_pred_to_degree(he_source[n]) for n in POSE]).numpy()
    out["rot_driving"] = stack([get_rotation_matrix(*[headpose_pred_to_degree(h[n]) for n in POSE]) for h in he_driving])
    out["rot_freeview"] = get_rotation_matrix(*[torch.tensor([free_view[n]]) for n in POSE]).numpy()
    kp_source = keypoint_transformation(canonical, he_source)
    kp_driving = [keypoint_transformation(canonical, h) for h in he_driving]
    kp_free = [keypoint_transformation(canonical, h, **free_view) for h in he_driving]
    out["kp_source"] = kp_source["value"].numpy()
    out["kp_driving"] = stack([k["value"] for k in kp_driving])
    out["kp_driving_freeview"] = stack([k["value"] for k in kp_free])
    out["adapt_movement_scale"] = np.float64(movement_scale(kp_source["value"], kp_driving[0]["value"]))
    norm = {
        "rel": [normalize_kp(kp_source, k, kp_driving[0], use_relative_movement=True) for k in kp_driving],
        "rel_adapt": [normalize_kp(kp_source, k, kp_driving[0], use_relative_movement=True, adapt_movement_scale=True)
                      for k in kp_driving],
        "fv_rel_adapt": [normalize_kp(kp_source, k, kp_driving[0], use_relative_movement=True,
                                      adapt_movement_scale=True) for k in kp_free],
    }
    for tag, kps in norm.items():
        out[f"kp_norm_{tag}"] = stack([k["value"] for k in kps])
    volume = gen.encode_source(source)
    debug["debug_gen_rel_frame1_feature_3d"] = volume
    for tag, kps in norm.items():
        results = []
        for i, k in enumerate(kps):
            hook = capture(gen.decoder, debug, "debug_gen_rel_frame1_decoder_in", inputs=True) \
                if (tag, i) == ("rel", 1) else None
            results.append(gen.decode(volume, k, kp_source))
            if hook is not None:
                hook.remove()
        names = ("prediction", "occlusion_map", "deformation") + (("mask",) if tag == "rel" else ())
        for name in names:
            out[f"gen_{tag}_{name}"] = stack([r[name] for r in results])
    out.update({k: v.numpy() for k, v in debug.items()})
    return out


# ---------------------------------------------------------------------------------------------


def write_engine(folder: Path, engine: str, preset_name: str, preset: dict, seed: int) -> None:
    size = preset["image_size"]
    yaml_path = folder / f"{engine}_tiny.yaml"
    write_yaml(yaml_path, preset[engine], size, engine)
    weight_seed = seed + (1 if engine == "fomm" else 2)
    image_seed = seed + (7 if engine == "fomm" else 11)
    source, driving = make_inputs(preset, image_seed)
    models = models_for(yaml_path, weight_seed, source, driving)
    with torch.no_grad():
        if engine == "fomm":
            aligned = build_models(load_model_config(yaml_path, align_corners=True)).eval()
            for (_, a), (_, m) in zip(aligned.items(), models.items()):
                a.load_state_dict(m.state_dict())
            arrays = fomm_outputs(models, aligned, source, driving)
        else:
            arrays = fv2v_outputs(models, source, driving, preset["free_view"])
    save_checkpoint(folder / f"{engine}_tiny.pth.tar", models)
    meta = {
        "made_by": "livehead tools/make_variant_fixtures.py (our implementation, not the original code)",
        "preset": preset_name, "torch": torch.__version__, "threads": torch.get_num_threads(), "H": size, "W": size,
        "driving_poses(angle_deg,scale,shift_px)": preset["poses"][: preset["frames"]],
        "seeds": {"global": weight_seed, "weights": weight_seed, "images": image_seed},
    }
    if engine == "fv2v":
        meta["free_view"] = preset["free_view"]
    np.savez(folder / f"{engine}_tiny_io.npz", source=source.numpy(), driving=driving.numpy(), meta=json.dumps(meta),
             **arrays)


def write_liveportrait_engine(folder: Path, preset_name: str, preset: dict, seed: int) -> None:
    """``liveportrait_tiny.*`` at the preset's LivePortrait crop size (:mod:`variant_liveportrait`)."""
    lp = preset["liveportrait"]
    weight_seed, image_seed = seed + 3, seed + 13
    source, driving = make_inputs({**preset, "image_size": lp["image_size"]}, image_seed)
    meta = {
        "made_by": "livehead tools/make_variant_fixtures.py (our implementation, not the original code)",
        "preset": preset_name, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "H": lp["image_size"], "W": lp["image_size"],
        "driving_poses(angle_deg,scale,shift_px)": preset["poses"][: preset["frames"]],
        "seeds": {"global": weight_seed, "weights": weight_seed, "images": image_seed},
    }
    write_liveportrait(folder, lp["params"], seed=weight_seed, source=source, driving=driving, meta=meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write (created; files in it are replaced)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--engine", choices=("all", *ENGINES), default="all", help="which fixtures to write")
    parser.add_argument("--seed", type=int, default=None, help="base seed (default: the preset's)")
    parser.add_argument("--manifests", type=Path, default=SHARED_REFERENCE,
                        help="folder whose *_state_dict_manifest.json files are copied (default ../shared/reference)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    seed = preset["seed"] if args.seed is None else args.seed
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the recipe's acceptance rule: outputs computed with one thread
    for engine in ENGINES if args.engine == "all" else (args.engine,):
        if engine == "liveportrait":
            write_liveportrait_engine(args.out, args.preset, preset, seed)
            lp = preset["liveportrait"]
            num_kp = lp["params"]["motion_extractor_params"]["num_kp"]
            print(f"wrote liveportrait_tiny.* ({lp['image_size']} px, num_kp {num_kp}, {preset['frames']} frames) "
                  f"to {args.out}")
            continue
        write_engine(args.out, engine, args.preset, preset, seed)
        print(f"wrote {engine}_tiny.* ({preset['image_size']} px, num_kp {preset[engine]['common_params']['num_kp']}, "
              f"{preset['frames']} frames) to {args.out}")
    manifests = sorted(args.manifests.glob("*_state_dict_manifest.json")) if args.manifests.is_dir() else []
    for manifest in manifests:
        shutil.copyfile(manifest, args.out / manifest.name)
    if not manifests:
        print(f"note: no *_state_dict_manifest.json in {args.manifests}; the manifest tests will skip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
