"""LivePortrait variant golden fixtures (``liveportrait_tiny.*``) for ``make_variant_fixtures.py``.

Same files, npz keys, per-frame layout and ``meta`` fields the tests read as
``../shared/reference/liveportrait_tiny.*`` (README section 5), computed with OUR implementation
on the inputs the main script makes (rounded to uint8, as LivePortrait reads 8-bit images). What a
variant changes: seed, crop size, num_kp, frame count, the widths and depths of F, W and G, the
hourglass depth (and so the crop-size multiple) and the depths of the stitching/retargeting MLPs.
M stays the full ConvNeXt-V2-Tiny, as the original code hard-codes it (a ~115 MB checkpoint).

Weights: :func:`livehead.models.random_init.random_models` (the recipe's calibrated random
weights), plus the README's relative-motion term on M's heads, so the driving frames move the
head by a few degrees instead of about 0.1 (random features barely react to affine warps).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml

from livehead.models.configs import load_model_config
from livehead.models.liveportrait import keypoints as lpk
from livehead.models.liveportrait.stitching_retargeting import FILE_ENTRIES
from livehead.models.random_init import random_models

# README section 5: rms change of frames 1.. against frame 0 that the relative-motion term gives.
MOTION_TARGETS = {"fc_pitch": 4.0, "fc_yaw": 4.0, "fc_roll": 4.0, "fc_exp": 0.02, "fc_t": 0.02, "fc_scale": 0.03}
POSE = ("pitch", "yaw", "roll")
HEADS = ("t", "exp", "scale", "kp")


def liveportrait_params(num_kp: int, *, appearance: dict, warping: dict, dense: dict, generator: dict,
                        hidden: dict[str, list[int]]) -> dict:
    """``model_params`` in the layout of ``src/config/models.yaml``, with README section 5's channel
    bookkeeping derived: F's and W's ``max_features`` = reshape_channel * reshape_depth, W's
    ``reshape_channel`` and the dense-motion ``reshape_depth`` = F's, G's input width = W's output
    width (``block_expansion * 2**num_down_blocks``), and the MLP sizes follow num_kp."""
    volume = appearance["reshape_channel"] * appearance["reshape_depth"]
    width = warping["block_expansion"] * 2 ** warping["num_down_blocks"]
    if generator["block_expansion"] * 2 ** generator["num_down_blocks"] < width:
        raise ValueError(f"G's block_expansion * 2**num_down_blocks must reach W's output width {width}")
    k3 = 3 * num_kp
    return {
        "appearance_feature_extractor_params": {"image_channel": 3, **appearance, "max_features": volume},
        "motion_extractor_params": {"num_kp": num_kp, "backbone": "convnextv2_tiny"},
        "warping_module_params": {
            "num_kp": num_kp, **warping, "max_features": volume, "reshape_channel": appearance["reshape_channel"],
            "estimate_occlusion_map": True,
            "dense_motion_params": {**dense, "reshape_depth": appearance["reshape_depth"]},
        },
        "spade_generator_params": {"upscale": 2, **generator, "max_features": width},
        "stitching_retargeting_module_params": {
            "stitching": {"input_size": 2 * k3, "hidden_sizes": hidden["stitching"], "output_size": k3 + 2},
            "lip": {"input_size": k3 + 2, "hidden_sizes": hidden["lip"], "output_size": k3},
            "eye": {"input_size": k3 + 3, "hidden_sizes": hidden["eye"], "output_size": k3},
        },
    }


def to_uint8_levels(images: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels k/255 (what the reference's prepare_source / prepare_videos hand M and F)."""
    return (torch.round(images * 255.0) / 255.0).to(torch.float32)


# ---------------------------------------------------------------------------------------------
# Weights


def _pose_change(layer: torch.nn.Linear, h: torch.Tensor, direction: torch.Tensor, s: float) -> float:
    """rms over frames 1.. of the decoded angle's change against frame 0 with the term scaled by ``s``."""
    logits = h[1:] @ (layer.weight + s * direction).t() + layer.bias - s * direction @ h[1]
    degrees = lpk.degrees_from_bins(logits)  # (F,)
    return float((degrees[1:] - degrees[0]).pow(2).mean().sqrt())


def add_relative_motion(detector: torch.nn.Module, images: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
    """Fold ``s * Z @ P^T (h - h_d0)`` into each head of :data:`MOTION_TARGETS` (README section 5).

    ``images``: ``(1 + F, 3, S, S)``, the source then the driving frames. P is an orthonormal
    basis of the frames' feature changes against frame 0, made orthogonal to ``h_source - h_d0``,
    so the source and frame 0 keep their outputs; Z ~ N(0, 1); s gives the target rms change.
    Returns ``{head: s}``.
    """
    h = detector.features(images).double()  # (1 + F, C) pooled, normalised features
    away = h[0] - h[1]
    away = away / away.norm()
    changes = h[2:] - h[1]
    changes = changes - (changes @ away)[:, None] * away
    basis = torch.linalg.qr(changes.t()).Q  # (C, F - 1)
    scales: dict[str, float] = {}
    for name, target in MOTION_TARGETS.items():
        layer = getattr(detector, name)
        z = torch.randn(layer.out_features, basis.shape[1], generator=gen, dtype=torch.float64)
        direction = (z @ basis.t()).float()  # (out, C)
        if name in ("fc_pitch", "fc_yaw", "fc_roll"):
            s = 1.0
            for _ in range(30):  # the decoded angle is smooth and monotonic in s near 0: rescale to the target
                got = _pose_change(layer, h.float(), direction, s)
                s *= target / max(got, 1e-9)
        else:
            change = (h[2:].float() - h[1].float()) @ direction.t()
            s = target / float(change.pow(2).mean().sqrt())
        layer.weight.add_(s * direction)
        layer.bias.sub_(s * direction @ h[1].float())
        scales[name] = s
    return scales


def make_models(yaml_path: Path, seed: int, source: torch.Tensor, driving: torch.Tensor):
    """The YAML's networks with recipe weights calibrated at the fixture's size, plus the
    relative-motion term measured on the fixture's own images. Returns ``(models, scales)``."""
    config = load_model_config(yaml_path, engine="liveportrait")
    models = random_models("liveportrait", seed=seed, image_size=source.shape[-1], config=config)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        scales = add_relative_motion(models.motion_extractor.detector, torch.cat([source, driving]), gen)
    return models, scales


def checkpoint_of(models) -> dict:
    """``{module_name: state_dict}`` with the stitching MLPs under their official file entries."""
    state = {name: module.state_dict() for name, module in models.items() if name != "stitching_retargeting_module"}
    s = models.stitching_retargeting_module
    state["stitching_retargeting_module"] = {entry: getattr(s, child).state_dict()
                                             for entry, child in FILE_ENTRIES.items()}
    return state


# ---------------------------------------------------------------------------------------------
# Outputs (README section 5, "How the outputs were computed")


def make_openings(rng: np.random.RandomState, frames: int) -> dict[str, list]:
    """Eye/lip openings per eye width (the synthetic landmarks' ratios): the source's (left, right,
    lip), lips open enough for flag_normalize_lip (>= 0.03), and each frame's."""
    source = [float(rng.uniform(0.25, 0.4)), float(rng.uniform(0.25, 0.4)), float(rng.uniform(0.08, 0.2))]
    driving = [[float(rng.uniform(0.05, 0.4)), float(rng.uniform(0.05, 0.4)), float(rng.uniform(0.01, 0.45))]
               for _ in range(frames)]
    return {"source": source, "driving": driving}


def _ratio(opening: float) -> torch.Tensor:
    """opening / (width + 1e-6) with width 1, as float32 (the wrapper's calc_*_ratio)."""
    return torch.tensor([[opening / (1.0 + 1e-6)]], dtype=torch.float32)


def _capture(module: torch.nn.Module, store: dict, key: str, *, inputs: bool = False, pick: str | None = None):
    """Forward hook storing the first call's output (its ``pick`` entry; or its first input) under ``key``."""
    def hook(mod, args, out):
        value = args[0] if inputs else (out if pick is None else out[pick])
        store.setdefault(key, value.detach().clone())

    return module.register_forward_hook(hook)


def _stack(frames: list[torch.Tensor]) -> np.ndarray:
    return torch.stack(frames).numpy()


def liveportrait_outputs(models, source: torch.Tensor, driving: torch.Tensor,
                         openings: dict[str, list]) -> tuple[dict[str, np.ndarray], float]:
    """Every npz array of the fixture (keys as README section 5) and the float64 motion multiplier."""
    m, f = models.motion_extractor, models.appearance_feature_extractor
    s, w, g = models.stitching_retargeting_module, models.warping_module, models.spade_generator
    frames = range(len(driving))
    out: dict[str, np.ndarray] = {}
    debug: dict[str, torch.Tensor] = {}
    hook = _capture(f.second, debug, "debug_f_s_second_out")
    f_s = f(source)
    hook.remove()
    out["f_s"] = f_s.numpy()
    debug["debug_me_source_features"] = m.detector.features(source)
    raw_s = m(source)
    raw_d = [m(driving[i:i + 1]) for i in frames]
    for key in POSE + HEADS:
        out[f"me_source_{key}"] = raw_s[key].numpy()
        out[f"me_driving_{key}"] = _stack([r[key] for r in raw_d])
    info_s, info_d = lpk.refine_motion(raw_s), [lpk.refine_motion(r) for r in raw_d]
    for key in POSE:
        out[f"deg_source_{key}"] = getattr(info_s, key).numpy()
        out[f"deg_driving_{key}"] = _stack([getattr(d, key) for d in info_d])
    out["R_source"], out["R_driving"] = info_s.rotation.numpy(), _stack([d.rotation for d in info_d])
    x_s = lpk.transform_keypoint(info_s)
    out["x_s"], out["x_d"] = x_s.numpy(), _stack([lpk.transform_keypoint(d) for d in info_d])
    motions = [lpk.relative_motion(info_s, d, info_d[0]) for d in info_d]
    for key, field in (("R_new", "rotation"), ("delta_new", "exp"), ("scale_new", "scale"), ("t_new", "t"),
                       ("x_d_new", "x_d")):
        out[key] = _stack([getattr(mo, field) for mo in motions])
    x_d_new = [mo.x_d for mo in motions]
    multiplier = lpk.motion_multiplier(x_s, x_d_new[0])
    out["motion_multiplier"] = np.float32(multiplier)
    ef = [lpk.expression_friendly(x, x_d_new[0], x_s, torch.tensor(np.float32(multiplier))) for x in x_d_new]
    out["x_d_new_ef"] = _stack(ef)
    out["stitch_delta"] = _stack([s.stitching(torch.cat([x_s.flatten(1), x.flatten(1)], dim=1)) for x in ef])
    stitched = [lpk.stitch(s.stitching, x_s, x) for x in ef]
    out["x_d_stitched"] = _stack(stitched)
    final = [lpk.apply_multiplier(x_s, x, 1.0) for x in stitched]
    out["x_d_final"] = _stack(final)
    out["x_d_final_pf"] = _stack([lpk.apply_multiplier(x_s, lpk.stitch(s.stitching, x_s, x), 1.0) for x in x_d_new])
    src_left, src_right, src_lip = (_ratio(v) for v in openings["source"])
    eye_in = [lpk.eye_ratio_input(torch.cat([src_left, src_right], dim=1), _ratio(d[0])) for d in openings["driving"]]
    lip_in = [lpk.lip_ratio_input(src_lip, _ratio(d[2])) for d in openings["driving"]]
    out["eye_ratio"], out["lip_ratio"] = _stack(eye_in), _stack(lip_in)
    delta_eye = [lpk.retarget(s.eye, x_s, r) for r in eye_in]
    delta_lip = [lpk.retarget(s.lip, x_s, r) for r in lip_in]
    out["delta_eye"], out["delta_lip"] = _stack(delta_eye), _stack(delta_lip)
    # Relative mode with retargeting on: the driving motion is discarded (README caveat 6).
    out["x_d_final_retarget"] = _stack([
        lpk.apply_multiplier(x_s, lpk.stitch(s.stitching, x_s, x_s + de + dl), 1.0)
        for de, dl in zip(delta_eye, delta_lip)])
    normalize = lpk.lip_ratio_input(src_lip, torch.zeros(1))
    delta_normalize = lpk.retarget(s.lip, x_s, normalize)
    out["lip_ratio_normalize"], out["delta_lip_normalize"] = normalize.numpy(), delta_normalize.numpy()
    out["x_d_final_normalize_lip"] = _stack([
        lpk.apply_multiplier(x_s, lpk.stitch(s.stitching, x_s, x) + delta_normalize, 1.0) for x in ef])
    warped = []
    for i in frames:
        hooks = [] if i != 1 else [
            _capture(w.dense_motion_network, debug, "debug_frame1_dense_motion_mask", pick="mask"),
            _capture(w.third, debug, "debug_frame1_warped_feature_flat", inputs=True)]
        warped.append(w(f_s, final[i], x_s))
        for h in hooks:
            h.remove()
    for key, name in (("warp_occlusion_map", "occlusion_map"), ("warp_deformation", "deformation"),
                      ("warp_out", "out")):
        out[key] = _stack([r[name] for r in warped])
    images = []
    for i, r in enumerate(warped):
        hook = _capture(g.G_middle_5, debug, "debug_frame1_spade_G_middle_5_out") if i == 1 else None
        images.append(g(r["out"]))
        if hook is not None:
            hook.remove()
    out["image"] = _stack(images)
    out.update({k: v.numpy() for k, v in debug.items()})
    return out, multiplier


# ---------------------------------------------------------------------------------------------
# Files


def write_liveportrait(folder: Path, params: dict, *, seed: int, source: torch.Tensor, driving: torch.Tensor,
                       meta: dict) -> None:
    """Write ``liveportrait_tiny.{yaml,pth}`` and ``liveportrait_tiny_io.npz`` for ``params`` (see
    :func:`liveportrait_params`) to ``folder``. ``source`` ``(1, 3, S, S)`` and ``driving``
    ``(F, 3, S, S)`` in [0, 1] are rounded to 8-bit levels first; ``meta`` gets LivePortrait's fields."""
    yaml_path = folder / "liveportrait_tiny.yaml"
    yaml_path.write_text(yaml.safe_dump({"model_params": params}, sort_keys=False), encoding="utf-8")
    source, driving = to_uint8_levels(source), to_uint8_levels(driving)
    openings = make_openings(np.random.RandomState(seed), len(driving))
    models, scales = make_models(yaml_path, seed, source, driving)
    with torch.no_grad():
        arrays, multiplier = liveportrait_outputs(models, source, driving, openings)
    torch.save(checkpoint_of(models), folder / "liveportrait_tiny.pth")
    meta = {**meta, "output_HW": list(arrays["image"].shape[-2:]), "model_params": params,
            "motion_multiplier_float64": repr(multiplier), "relative_motion_scales": scales,
            "landmark_openings(left_eye,right_eye,lip)": openings, "grid_sample_align_corners": "False"}
    np.savez(folder / "liveportrait_tiny_io.npz", source=source.numpy(), driving=driving.numpy(),
             meta=json.dumps(meta), **arrays)
