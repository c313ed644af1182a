"""Random weights that behave like trained ones, for ``--random-weights`` builds, parity tests and
benchmarks at full size.

PyTorch's default init gives degenerate networks here (zero Jacobian weights, BN statistics 0/1
that let activations drift): heatmaps come out uniform and predictions constant, so a parity or
fp16 test on them proves little. This follows the recipe of the golden fixtures
(``../shared/reference/README.md`` 2.2): weights ~ N(0, 1/fan_in), BN affine near identity, BN
running statistics measured on the network's own activations, and the output heads rescaled so
softmaxes and sigmoids are neither saturated nor flat.

:func:`random_models` returns a ready :class:`~livehead.models.ModelSet` of any engine's public
architecture (FOMM, face-vid2vid, LivePortrait) for ``--random-weights`` builds and benchmarks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# (module path, target output std, bias) per engine; Jacobian heads get identity + noise.
_HEADS = {
    "fomm": {
        "kp_detector": [("kp", 0.3, None)],
        "generator": [("dense_motion_network.mask", 1.5, None), ("dense_motion_network.occlusion", 1.5, 0.5),
                      ("final", 1.0, None)],
    },
    "fv2v": {
        "kp_detector": [("kp", 0.3, None)],
        "he_estimator": [("fc_roll", 1.0, None), ("fc_pitch", 1.0, None), ("fc_yaw", 1.0, None),
                         ("fc_t", 0.1, None), ("fc_exp", 0.05, None)],
        "generator": [("dense_motion_network.mask", 1.5, None), ("dense_motion_network.occlusion", 1.5, 0.5),
                      ("decoder.conv_img", 1.0, None)],
    },
}


def _base_init(module: nn.Module, gen: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        elif hasattr(m, "weight_orig") and hasattr(m, "weight_u"):  # spectral-normed conv (not yet folded)
            w = m.weight_orig
            w.copy_(torch.randn(w.shape, generator=gen) * (1.0 / w[0].numel()) ** 0.5)
            if getattr(m, "bias", None) is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.05)
            # Two power iterations from random vectors, like the fixtures: sigma > 0 but u, v are
            # not converged, so folding must use the stored vectors.
            mat = w.reshape(w.shape[0], -1)
            u = torch.nn.functional.normalize(torch.randn(mat.shape[0], generator=gen), dim=0)
            for _ in range(2):
                v = torch.nn.functional.normalize(mat.t() @ u, dim=0)
                u = torch.nn.functional.normalize(mat @ v, dim=0)
            m.weight_u.copy_(u)
            m.weight_v.copy_(v)


def _calibrate(module: nn.Module, run, gen: torch.Generator) -> None:
    """Set every BN's running statistics from its actual input during one eval forward, in
    execution order, so later layers see what a trained network would."""

    def hook(bn, args):
        x = args[0]
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=True).clamp_min(1e-4)
        bn.running_mean.copy_(mean + 0.1 * var.sqrt() * torch.randn(mean.shape, generator=gen))
        bn.running_var.copy_(var * (0.5 + torch.rand(var.shape, generator=gen)))

    handles = [m.register_forward_pre_hook(hook) for m in module.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()


def _scale_heads(module: nn.Module, heads, run, gen: torch.Generator) -> None:
    """Rescale each head so its output std hits the target, measured in one forward pass."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for path, _, _ in heads:
        def record(mod, args, out, path=path):
            seen.setdefault(path, out.std())  # returns None: a forward hook's return replaces the output

        handles.append(module.get_submodule(path).register_forward_hook(record))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    for path, target, bias in heads:
        layer = module.get_submodule(path)
        std = float(seen[path])
        if std > 0:
            layer.weight.mul_(target / std)
        if layer.bias is not None:
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.05 * target)
            if bias is not None:
                layer.bias.add_(bias)


def random_image(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    """Smooth random image in [0, 1]: 16x-coarser uniform noise upsampled bilinearly."""
    b, c, h, w = shape
    coarse = torch.rand(b, c, max(2, h // 16), max(2, w // 16), generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def randomize_(models, *, seed: int = 0, image_size: int = 256, generator: bool = True,
               images: tuple[Tensor, Tensor] | None = None) -> None:
    """Overwrite every weight of a :class:`livehead.models.ModelSet` in place (eval mode, CPU).

    ``image_size`` is the size of the calibration images: use the size the graphs will run at
    (deep hourglass layers see very different statistics at other sizes). ``generator=False``
    leaves the generator's weights as constructed (saves its two calibration forwards, about a
    minute for face-vid2vid on 2 CPU cores, when only the keypoint networks are needed).

    ``images``: ``(source, driving)``, each ``(B, 3, S, S)`` in [0, 1], to calibrate on instead of
    one random image each, as the golden-fixture recipe calibrates on the fixture's own inputs.
    Needed at small sizes: at 64 px the HEEstimator's last blocks are 2x2, and statistics
    measured on one unrelated image sent its features on real inputs to 6e4.
    """
    gen = torch.Generator().manual_seed(seed)
    models.eval()
    if images is None:
        image = random_image((1, 3, image_size, image_size), gen)
        driving = random_image((1, 3, image_size, image_size), gen)
    else:
        image, driving = images
    heads = _HEADS[models.engine]
    with torch.no_grad():
        for name, module in models.items():
            if name != "generator" or generator:
                _base_init(module, gen)
        kp = models.kp_detector
        if models.engine == "fomm" and getattr(kp, "jacobian", None) is not None:
            n = kp.jacobian.bias.numel() // 4
            kp.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * n))

        def run_kp():
            return kp(image)

        _calibrate(kp, run_kp, gen)
        _scale_heads(kp, heads["kp_detector"], run_kp, gen)
        if models.engine == "fomm" and getattr(kp, "jacobian", None) is not None:
            seen_j: dict[str, torch.Tensor] = {}

            def record_j(mod, args, out):
                seen_j.setdefault("w", out - mod.bias.reshape(1, -1, 1, 1))

            handle = kp.jacobian.register_forward_hook(record_j)
            try:
                run_kp()
            finally:
                handle.remove()
            kp.jacobian.weight.mul_(0.1 / float(seen_j["w"].std()))  # J = I + about 0.1 noise
        if models.he_estimator is not None:
            he = models.he_estimator

            def run_he():
                return he(image)

            _calibrate(he, run_he, gen)
            _scale_heads(he, heads["he_estimator"], run_he, gen)
            # Pose heads: a bump over a few bins so the angles are clearly non-zero (fixture recipe).
            bins = torch.arange(he.fc_yaw.out_features, dtype=torch.float32)
            for layer in (he.fc_roll, he.fc_pitch, he.fc_yaw):
                centre = float(torch.randint(28, 38, (1,), generator=gen))
                layer.bias.add_(3.0 * torch.exp(-0.5 * ((bins - centre) / 6.0) ** 2))

        if not generator:
            return
        if models.engine == "fv2v":
            from livehead.models.keypoints import keypoint_transformation

            kp_canonical = kp(image)  # the source's canonical keypoints serve every frame
            kp_s = keypoint_transformation(kp_canonical, models.he_estimator(image))
            kp_d = keypoint_transformation(kp_canonical, models.he_estimator(driving))
        else:
            kp_s, kp_d = kp(image), kp(driving)

        def run_gen():
            return models.generator(image, kp_d, kp_s)

        _calibrate(models.generator, run_gen, gen)
        _scale_heads(models.generator, heads["generator"], run_gen, gen)


# LivePortrait output heads: (module path, target output std, bias), fixture recipe (README section 5).
_LP_HEADS = {
    "warping_module": [("dense_motion_network.mask", 1.5, None), ("dense_motion_network.occlusion", 1.5, 0.5),
                       ("fourth", 1.0, None)],
    "spade_generator": [("conv_img.0", 1.0, None)],
}
# Motion-extractor heads: (name, rms of the output around its bias, bias); pose heads also get a bump.
_LP_MOTION_HEADS = [("fc_kp", 0.3, None), ("fc_exp", 0.03, None), ("fc_t", 0.05, None), ("fc_scale", 0.05, 1.1),
                    ("fc_pitch", 1.0, None), ("fc_yaw", 1.0, None), ("fc_roll", 1.0, None)]
_LP_DELTA_STD = 0.02  # stitching and retargeting offsets, in keypoint units


def _init_norms(module: nn.Module, gen: torch.Generator) -> None:
    """ConvNeXt's LayerNorms near identity and GRN away from it (its zero init would be an identity)."""
    from livehead.models.liveportrait.motion_extractor import GlobalResponseNorm, LayerNorm2d

    for m in module.modules():
        if isinstance(m, (nn.LayerNorm, LayerNorm2d)):
            m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        elif isinstance(m, GlobalResponseNorm):
            m.gamma.copy_(0.3 * torch.randn(m.gamma.shape, generator=gen))
            m.beta.copy_(0.05 * torch.randn(m.beta.shape, generator=gen))


def _scale_linear(layer: nn.Linear, features: Tensor, rms: float, bias: float | None, gen: torch.Generator) -> None:
    """Scale ``layer`` so that ``features @ W^T`` has root-mean-square ``rms`` (well defined even
    for a single output), then set its bias near ``bias`` (or near 0)."""
    out = features @ layer.weight.t()
    layer.weight.mul_(rms / max(float(out.pow(2).mean().sqrt()), 1e-12))
    layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.05 * rms + (bias or 0.0))


def _randomize_liveportrait(models, *, seed: int, image_size: int) -> None:
    """LivePortrait's five networks, calibrated in data-flow order: M, F, W (on M's keypoints and
    F's volume), G (on W's output), S (on the keypoints)."""
    from livehead.models.liveportrait import keypoints as lpk

    gen = torch.Generator().manual_seed(seed)
    models.eval()
    images = torch.cat([random_image((1, 3, image_size, image_size), gen) for _ in range(4)])  # source + 3 frames
    with torch.no_grad():
        for _, module in models.items():
            _base_init(module, gen)
            _init_norms(module, gen)
        detector = models.motion_extractor.detector
        features = detector.features(images)  # (4, 768)
        bins = torch.arange(detector.fc_pitch.out_features, dtype=torch.float32)
        for name, rms, bias in _LP_MOTION_HEADS:
            layer = getattr(detector, name)
            _scale_linear(layer, features, rms, bias, gen)
            if name in ("fc_pitch", "fc_yaw", "fc_roll"):
                # A bump over a few bins near the middle, so the angles are clearly non-zero.
                centre = float(torch.randint(28, 38, (1,), generator=gen))
                layer.bias.add_(3.0 * torch.exp(-0.5 * ((bins - centre) / 6.0) ** 2))
        info = lpk.refine_motion(models.motion_extractor(images))
        x = lpk.transform_keypoint(info)  # (4, K, 3)
        x_s, x_d = x[:1], x[1:2]
        extractor = models.appearance_feature_extractor
        _calibrate(extractor, lambda: extractor(images[:1]), gen)
        f_s = extractor(images[:1])
        warp = models.warping_module

        def run_warp():
            return warp(f_s, x_d, x_s)

        _calibrate(warp, run_warp, gen)
        _scale_heads(warp, _LP_HEADS["warping_module"], run_warp, gen)
        decoder_in = run_warp()["out"]

        def run_decoder():
            return models.spade_generator(decoder_in)

        _scale_heads(models.spade_generator, _LP_HEADS["spade_generator"], run_decoder, gen)
        s = models.stitching_retargeting_module
        ratios = {"stitching": x_d, "eye": torch.tensor([[0.35, 0.33, 0.2]]), "lip": torch.tensor([[0.1, 0.3]])}
        for child, other in ratios.items():
            mlp = getattr(s, child)
            last = f"mlp.{len(mlp.mlp) - 1}"
            _scale_heads(mlp, [(last, _LP_DELTA_STD, None)], lambda mlp=mlp, other=other: mlp(
                torch.cat([x_s.reshape(1, -1), other.reshape(1, -1)], dim=1)), gen)


def random_models(engine: str, *, seed: int = 0, image_size: int = 256, config=None):
    """A :class:`~livehead.models.ModelSet` with calibrated random weights, eval mode, on the CPU.

    Args:
        engine: "fomm", "fv2v" or "liveportrait".
        seed: all weights are a deterministic function of the seed and ``image_size``.
        image_size: size of the calibration images; use the size the graphs will run at
            (LivePortrait needs a multiple of 128: W's hourglass halves the 1/4-size volume 5 times).
        config: a :class:`~livehead.models.ModelConfig` of that engine (default its public architecture).

    The networks are the full-size public ones (unless ``config`` says otherwise): use them for
    speed and export checks, never for quality (LivePortrait's random motion heads barely react
    to the driving image).
    """
    from livehead.models.configs import PUBLIC_CONFIGS, build_models

    if config is None:
        candidates = [c for c in PUBLIC_CONFIGS.values() if c.engine == engine]
        if not candidates:
            engines = sorted({c.engine for c in PUBLIC_CONFIGS.values()})
            raise ValueError(f"unknown engine {engine!r}; random weights exist for {', '.join(engines)}")
        config = candidates[0]
    elif config.engine != engine:
        raise ValueError(f"config {config.name} is for {config.engine}, not {engine}")
    models = build_models(config)
    if engine == "liveportrait":
        _randomize_liveportrait(models, seed=seed, image_size=image_size)
    else:
        randomize_(models, seed=seed, image_size=image_size)
    return models.eval()
