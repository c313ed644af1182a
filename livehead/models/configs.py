"""Model architectures as data, and building networks from them.

A :class:`ModelConfig` holds the ``model_params`` of the original YAML files (same nesting, same
keys: ``common_params``, ``kp_detector_params``, ``generator_params`` and, for face-vid2vid,
``he_estimator_params``; for LivePortrait one ``<module>_params`` section per network, as in its
``src/config/models.yaml``), plus our one extra setting, ``align_corners``. Each network is built as
the reference code does: ``Network(**<section>_params, **common_params)``, so constructor arguments
are exactly the config keys.

The public variants are constants here (:data:`PUBLIC_CONFIGS`); any other checkpoint (e.g. the
test fixtures) is described by its own YAML, read by :func:`load_model_config`.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from torch import nn

from livehead.errors import InputError
from livehead.models import fomm, fv2v
from livehead.models import liveportrait as lp
from livehead.models.liveportrait.stitching_retargeting import StitchingRetargetingNetwork

__all__ = [
    "ENGINES",
    "FOMM_VOX_256",
    "FOMM_VOX_ADV_256",
    "FV2V_VOX_256",
    "LIVEPORTRAIT",
    "PUBLIC_CONFIGS",
    "Engine",
    "ModelConfig",
    "ModelSet",
    "build_models",
    "get_public_config",
    "load_model_config",
]

Engine = Literal["fomm", "fv2v", "liveportrait"]
ENGINES: tuple[str, ...] = ("fomm", "fv2v", "liveportrait")

# Which class each checkpoint entry is built with, per engine, in checkpoint order.
_NETWORKS: dict[str, dict[str, tuple[str, type[nn.Module]]]] = {
    "fomm": {
        "kp_detector": ("kp_detector_params", fomm.KPDetector),
        "generator": ("generator_params", fomm.OcclusionAwareGenerator),
    },
    "fv2v": {
        "kp_detector": ("kp_detector_params", fv2v.KPDetector),
        "he_estimator": ("he_estimator_params", fv2v.HEEstimator),
        "generator": ("generator_params", fv2v.OcclusionAwareSPADEGenerator),
    },
    # The five official files, in the order of the reference's InferenceConfig (checkpoint_F/M/W/G/S).
    "liveportrait": {
        "appearance_feature_extractor": ("appearance_feature_extractor_params", lp.AppearanceFeatureExtractor),
        "motion_extractor": ("motion_extractor_params", lp.MotionExtractor),
        "warping_module": ("warping_module_params", lp.WarpingNetwork),
        "spade_generator": ("spade_generator_params", lp.SPADEDecoder),
        "stitching_retargeting_module": ("stitching_retargeting_module_params", lp.StitchingRetargetingModule),
    },
}
# Engines whose sections are all merged with a shared common_params section (LivePortrait has none).
_COMMON_PARAMS = frozenset({"fomm", "fv2v"})
# The section holding dense_motion_params, per engine.
_DENSE_SECTION = {"fomm": "generator_params", "fv2v": "generator_params", "liveportrait": "warping_module_params"}
# Dense-motion sub-config keys are checked against these constructors.
_DENSE_MOTION: dict[str, type[nn.Module]] = {
    "fomm": fomm.DenseMotionNetwork, "fv2v": fv2v.DenseMotionNetwork, "liveportrait": fv2v.DenseMotionNetwork,
}
# Sections whose values are themselves sub-configs of one class (LivePortrait's three MLPs).
_NESTED: dict[tuple[str, str], type[nn.Module]] = {
    ("liveportrait", "stitching_retargeting_module_params"): StitchingRetargetingNetwork,
}
# model_params sections used only for training; present in the original YAMLs, ignored here.
_TRAINING_SECTIONS = frozenset({"discriminator_params"})
# Set by the generator itself, so not allowed inside dense_motion_params.
_DENSE_MOTION_FROM_GENERATOR = frozenset(
    {"num_kp", "num_channels", "feature_channel", "estimate_occlusion_map", "align_corners"}
)
_DEFAULT_ALIGN_CORNERS = {"fomm": True, "fv2v": False, "liveportrait": False}


@dataclass(frozen=True)
class ModelConfig:
    """One architecture: original ``model_params`` plus the grid-sampling convention.

    Treat ``model_params`` as read-only; :func:`build_models` deep-copies it.
    """

    engine: Engine  # "fomm" | "fv2v" | "liveportrait"
    name: str  # e.g. "fomm-vox-256", or the YAML file's stem
    model_params: Mapping[str, Any]  # original YAML layout, see the module docstring
    align_corners: bool  # grid_sample convention: FOMM trained with True, face-vid2vid with False
    source: str = "builtin"  # where it came from: "builtin: <upstream file>" or the YAML path

    @property
    def entries(self) -> tuple[str, ...]:
        """Checkpoint entries this engine needs, in checkpoint order (e.g. ``("kp_detector", "generator")``)."""
        return tuple(_NETWORKS[self.engine])

    def network_class(self, entry: str) -> type[nn.Module]:
        """The class built for checkpoint entry ``entry``."""
        return _NETWORKS[self.engine][entry][1]

    def network_params(self, entry: str) -> dict[str, Any]:
        """Constructor keyword arguments of checkpoint entry ``entry`` (e.g. ``"generator"``)."""
        section, cls = _NETWORKS[self.engine][entry]
        params = {**self.model_params[section], **self.model_params.get("common_params", {})}
        params = copy.deepcopy(params)
        if "align_corners" in inspect.signature(cls).parameters:
            params["align_corners"] = self.align_corners
        return params


@dataclass
class ModelSet:
    """The networks of one checkpoint, in checkpoint-entry order.

    FOMM fills ``kp_detector`` and ``generator``, face-vid2vid also ``he_estimator``; LivePortrait
    fills its five entries. Fields an engine does not use are None.
    """

    engine: Engine
    kp_detector: nn.Module | None = None
    generator: nn.Module | None = None
    he_estimator: nn.Module | None = None
    appearance_feature_extractor: nn.Module | None = None
    motion_extractor: nn.Module | None = None
    warping_module: nn.Module | None = None
    spade_generator: nn.Module | None = None
    stitching_retargeting_module: nn.Module | None = None
    entries: tuple[str, ...] = field(default=())

    def items(self) -> list[tuple[str, nn.Module]]:
        """``(checkpoint entry name, module)`` pairs."""
        return [(name, getattr(self, name)) for name in self.entries]

    def eval(self) -> ModelSet:
        for _, module in self.items():
            module.eval()
        return self


_FOMM_VOX_PARAMS: dict[str, Any] = {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1, "block_expansion": 32, "max_features": 1024, "scale_factor": 0.25, "num_blocks": 5,
    },
    "generator_params": {
        "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "num_bottleneck_blocks": 6,
        "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 64, "max_features": 1024, "num_blocks": 5, "scale_factor": 0.25},
    },
}

FOMM_VOX_256 = ModelConfig(
    engine="fomm", name="fomm-vox-256", model_params=_FOMM_VOX_PARAMS, align_corners=True,
    source="builtin: first-order-model config/vox-256.yaml",
)
# vox-adv differs only in training (adversarial loss); the networks are identical.
FOMM_VOX_ADV_256 = ModelConfig(
    engine="fomm", name="fomm-vox-adv-256", model_params=_FOMM_VOX_PARAMS, align_corners=True,
    source="builtin: first-order-model config/vox-adv-256.yaml",
)
FV2V_VOX_256 = ModelConfig(
    engine="fv2v",
    name="fv2v-vox-256",
    model_params={
        "common_params": {"num_kp": 15, "image_channel": 3, "feature_channel": 32, "estimate_jacobian": False},
        "kp_detector_params": {
            "temperature": 0.1, "block_expansion": 32, "max_features": 1024, "scale_factor": 0.25, "num_blocks": 5,
            "reshape_channel": 16384, "reshape_depth": 16,
        },
        "he_estimator_params": {"block_expansion": 64, "max_features": 2048, "num_bins": 66},
        "generator_params": {
            "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "reshape_channel": 32,
            "reshape_depth": 16, "num_resblocks": 6, "estimate_occlusion_map": True,
            "dense_motion_params": {
                "block_expansion": 32, "max_features": 1024, "num_blocks": 5, "reshape_depth": 16, "compress": 4,
            },
        },
    },
    align_corners=False,
    source="builtin: One-Shot_Free-View_Neural_Talking_Head_Synthesis config/vox-256.yaml (vox-256-spade.yaml)",
)

# KwaiVGI/LivePortrait src/config/models.yaml (humans); the motion extractor's and SPADE's widths
# are hard-coded in the reference, so only these keys exist.
LIVEPORTRAIT = ModelConfig(
    engine="liveportrait",
    name="liveportrait",
    model_params={
        "appearance_feature_extractor_params": {
            "image_channel": 3, "block_expansion": 64, "num_down_blocks": 2, "max_features": 512,
            "reshape_channel": 32, "reshape_depth": 16, "num_resblocks": 6,
        },
        "motion_extractor_params": {"num_kp": 21, "backbone": "convnextv2_tiny"},
        "warping_module_params": {
            "num_kp": 21, "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "reshape_channel": 32,
            "estimate_occlusion_map": True,
            "dense_motion_params": {
                "block_expansion": 32, "max_features": 1024, "num_blocks": 5, "reshape_depth": 16, "compress": 4,
            },
        },
        "spade_generator_params": {"upscale": 2, "block_expansion": 64, "max_features": 512, "num_down_blocks": 2},
        "stitching_retargeting_module_params": {
            "stitching": {"input_size": 126, "hidden_sizes": [128, 128, 64], "output_size": 65},
            "lip": {"input_size": 65, "hidden_sizes": [128, 128, 64], "output_size": 63},
            "eye": {"input_size": 66, "hidden_sizes": [256, 256, 128, 128, 64], "output_size": 63},
        },
    },
    align_corners=False,
    source="builtin: LivePortrait src/config/models.yaml",
)

PUBLIC_CONFIGS: dict[str, ModelConfig] = {
    c.name: c for c in (FOMM_VOX_256, FOMM_VOX_ADV_256, FV2V_VOX_256, LIVEPORTRAIT)
}


def get_public_config(name: str) -> ModelConfig:
    """A public config by name; an unknown name lists the known ones."""
    try:
        return PUBLIC_CONFIGS[name]
    except KeyError:
        raise InputError(f"Unknown model config {name!r}. Known: {', '.join(PUBLIC_CONFIGS)}.") from None


def _keyword_names(cls: type) -> set[str]:
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {n for n, p in inspect.signature(cls).parameters.items() if p.kind in kinds}


def _required_names(cls: type) -> set[str]:
    return {n for n, p in inspect.signature(cls).parameters.items() if p.default is inspect.Parameter.empty}


def _closest(key: str, valid: set[str]) -> str:
    match = difflib.get_close_matches(key, sorted(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _check_keys(where: str, keys: Mapping[str, Any], valid: set[str], origin: str) -> None:
    for key in keys:
        if key not in valid:
            raise InputError(
                f"{origin}: unknown key {key!r} in {where}{_closest(key, valid)}. "
                f"Valid keys: {', '.join(sorted(valid))}."
            )


def validate_model_params(engine: str, model_params: Mapping[str, Any], origin: str = "model config") -> None:
    """Check sections and keys against the constructors; raise :class:`InputError` naming the key,
    the file and the closest valid key."""
    if engine not in _NETWORKS:
        raise InputError(f"{origin}: unknown engine {engine!r}; expected one of {', '.join(ENGINES)}.")
    networks = _NETWORKS[engine]
    with_common = engine in _COMMON_PARAMS
    sections = ({"common_params"} if with_common else set()) | {section for section, _ in networks.values()}
    for section in model_params:
        if section not in sections and section not in _TRAINING_SECTIONS:
            raise InputError(
                f"{origin}: unknown section {section!r} in model_params for {engine}"
                f"{_closest(section, sections)}. Expected: {', '.join(sorted(sections))}."
            )
    for section in sorted(sections):
        if not isinstance(model_params.get(section), Mapping):
            raise InputError(f"{origin}: model_params.{section} is missing or not a mapping (needed by {engine}).")
    common = model_params["common_params"] if with_common else {}
    for entry, (section, cls) in networks.items():
        valid = _keyword_names(cls) - {"align_corners"}
        _check_keys(f"model_params.common_params (used by {entry})", common, valid, origin)
        _check_keys(f"model_params.{section}", model_params[section], valid, origin)
        both = set(common) & set(model_params[section])
        if both:
            raise InputError(
                f"{origin}: {', '.join(sorted(both))} given in both model_params.common_params and "
                f"model_params.{section}; keep one (the reference code rejects duplicates too)."
            )
        missing = _required_names(cls) - set(common) - set(model_params[section])
        if missing:
            raise InputError(f"{origin}: model_params.{section} lacks required key(s) {', '.join(sorted(missing))}.")
        nested = _NESTED.get((engine, section))
        if nested is not None:
            for name, sub in model_params[section].items():
                where = f"model_params.{section}.{name}"
                if not isinstance(sub, Mapping):
                    raise InputError(f"{origin}: {where} must be a mapping of {nested.__name__} keys.")
                _check_keys(where, sub, _keyword_names(nested), origin)
                lacking = _required_names(nested) - set(sub)
                if lacking:
                    raise InputError(f"{origin}: {where} lacks required key(s) {', '.join(sorted(lacking))}.")
    dense_section = _DENSE_SECTION[engine]
    dense = model_params[dense_section].get("dense_motion_params")
    if dense is not None:
        valid = _keyword_names(_DENSE_MOTION[engine]) - _DENSE_MOTION_FROM_GENERATOR
        _check_keys(f"model_params.{dense_section}.dense_motion_params", dense, valid, origin)


def guess_engine(model_params: Mapping[str, Any]) -> Engine:
    """LivePortrait configs have ``motion_extractor_params``, face-vid2vid ones ``he_estimator_params``;
    FOMM ones neither."""
    if "motion_extractor_params" in model_params:
        return "liveportrait"
    return "fv2v" if "he_estimator_params" in model_params else "fomm"


def load_model_config(
    path: str | Path, *, engine: Engine | None = None, align_corners: bool | None = None
) -> ModelConfig:
    """Read a YAML in the original layout (``model_params`` at the top level).

    Args:
        path: the ``.yaml`` file (e.g. the fixtures' ``fomm_tiny.yaml`` or an upstream config).
        engine: "fomm", "fv2v" or "liveportrait"; guessed from the sections when None.
        align_corners: grid_sample convention; None = the engine default (FOMM True, fv2v False).

    Sections other than ``model_params`` (dataset, training, visualizer) are ignored.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"Cannot read model config {path}: {err.strerror}. Check the --config path.") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"Model config {path} is not valid YAML: {err}") from err
    if not isinstance(data, Mapping) or not isinstance(data.get("model_params"), Mapping):
        raise InputError(
            f"Model config {path} has no 'model_params' mapping; give the YAML that came with the checkpoint "
            "(e.g. first-order-model config/vox-256.yaml)."
        )
    model_params = dict(data["model_params"])
    engine = engine or guess_engine(model_params)
    validate_model_params(engine, model_params, origin=str(path))
    return ModelConfig(
        engine=engine,
        name=path.stem,
        model_params=model_params,
        align_corners=_DEFAULT_ALIGN_CORNERS[engine] if align_corners is None else align_corners,
        source=str(path),
    )


def build_models(config: ModelConfig) -> ModelSet:
    """Construct (untrained) networks for ``config``, in train mode as nn.Modules start.

    Runs on whatever ``torch.device`` context is active (``with torch.device('meta'):`` builds
    shapes only, without allocating).
    """
    validate_model_params(config.engine, config.model_params, origin=config.source)
    modules = {entry: cls(**config.network_params(entry)) for entry, (_, cls) in _NETWORKS[config.engine].items()}
    return ModelSet(engine=config.engine, entries=tuple(modules), **modules)
