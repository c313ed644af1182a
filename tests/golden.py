"""Golden fixtures described by their own files, so tests never copy a number from the shared copies.

A golden fixture is ``<engine>_tiny.yaml`` + its checkpoint + ``<engine>_tiny_io.npz`` in the
layout of ``../shared/reference/README.md`` (engines ``fomm``, ``fv2v``, ``liveportrait``). Image
size, keypoint count, frame count, depths, channel counts, config sections, expected tensor shapes
and the checkpoint's sha256 all come from those files: the YAML's ``model_params`` (and
``dataset_params.frame_shape``), the checkpoint's entries, the npz arrays and their ``meta`` JSON.
The same tests then pass on any fixture made by the same recipe (another seed, image size,
keypoint count or depth).

Which folder: ``LIVEHEAD_REFERENCE_DIR`` (read by :mod:`_media`), default ``../shared/reference``
beside the repository. To run the suite against a variant made with our own implementation::

    python tools/make_variant_fixtures.py /tmp/variant --preset small   # 64 px, 6 / 8 / 24 keypoints
    LIVEHEAD_REFERENCE_DIR=/tmp/variant python -m pytest tests/models tests/export ...

Use::

    fx = golden("fomm")          # skips the test, saying so, when the files are absent
    fx.image_size, fx.num_kp, fx.frames
    fx.tensors["gen_rel_prediction"][i]   # torch float32 (fx.arrays: numpy)
    fx.shapes["source_features"]          # (1, F, h, w) as the original code recorded it
    fx.checkpoint_sha256                  # hashlib over the file
    fx.config(align_corners=False)        # livehead ModelConfig
    fx, io, fixture_models = golden_fixtures("fomm")   # the usual module fixtures, see there

LivePortrait (``golden("liveportrait")``): its ``.pth`` is ``{module_name: state_dict}`` with
``stitching_retargeting_module`` one level deeper; :meth:`GoldenFixture.state_dict` takes
``"stitching_retargeting_module/retarget_eye"``. Its YAML has only ``model_params``
(``*_params`` sections, ``num_kp`` in ``motion_extractor_params``); the output image size is
``fx.shapes["output_image"]``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _media import REFERENCE, reference

__all__ = ["ENGINES", "FixtureError", "GoldenFixture", "assert_matches_manifest", "golden", "golden_fixtures",
           "max_abs_diff", "sha256_of"]


@dataclass(frozen=True)
class _Layout:
    """What differs between the engines' fixture files (README sections 3, 4 and 5)."""

    checkpoint_suffix: str
    marker_section: str  # the model_params section that tells the engine apart
    num_kp_at: tuple[str, ...]  # path of num_kp inside model_params
    kp_key: str  # npz array (1, K, D) of the source's keypoints
    # name -> (npz key, True when the key has a leading frames axis to drop)
    shapes: Mapping[str, tuple[str, bool]]


_LAYOUTS: dict[str, _Layout] = {
    "fomm": _Layout(
        ".pth.tar", "kp_detector_params", ("common_params", "num_kp"), "kp_source_value",
        {"image": ("source", False), "kp_value": ("kp_source_value", False),
         "kp_jacobian": ("kp_source_jacobian", False), "source_features": ("debug_gen_rel_frame1_encoder_out", False),
         "mask": ("gen_rel_mask", True), "occlusion_map": ("gen_rel_occlusion_map", True),
         "deformation": ("gen_rel_deformation", True), "prediction": ("gen_rel_prediction", True)},
    ),
    "fv2v": _Layout(
        ".pth.tar", "he_estimator_params", ("common_params", "num_kp"), "kp_canonical",
        {"image": ("source", False), "kp_canonical": ("kp_canonical", False), "pose_logits": ("he_source_yaw", False),
         "t": ("he_source_t", False), "exp": ("he_source_exp", False),
         "feature_3d": ("debug_gen_rel_frame1_feature_3d", False), "decoder_in": ("debug_gen_rel_frame1_decoder_in", False),
         "mask": ("gen_rel_mask", True), "occlusion_map": ("gen_rel_occlusion_map", True),
         "deformation": ("gen_rel_deformation", True), "prediction": ("gen_rel_prediction", True)},
    ),
    "liveportrait": _Layout(
        ".pth", "appearance_feature_extractor_params", ("motion_extractor_params", "num_kp"), "x_s",
        {"image": ("source", False), "f_s": ("f_s", False), "kp": ("x_s", False), "pose_logits": ("me_source_pitch", False),
         "exp": ("me_source_exp", False), "occlusion_map": ("warp_occlusion_map", True),
         "deformation": ("warp_deformation", True), "warp_out": ("warp_out", True), "output_image": ("image", True)},
    ),
}
ENGINES: tuple[str, ...] = tuple(_LAYOUTS)


class FixtureError(AssertionError):
    """The fixture folder contradicts itself (e.g. the YAML's num_kp vs the npz arrays)."""


@dataclass(frozen=True)
class GoldenFixture:
    """One engine's golden fixture, every number read from its files (see the module docstring)."""

    engine: str  # "fomm" | "fv2v" | "liveportrait"
    folder: Path

    # -- files ---------------------------------------------------------------------------------

    @property
    def stem(self) -> str:
        return f"{self.engine}_tiny"

    @property
    def yaml_path(self) -> Path:
        return self.folder / f"{self.stem}.yaml"

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / f"{self.stem}{_LAYOUTS[self.engine].checkpoint_suffix}"

    @property
    def io_path(self) -> Path:
        return self.folder / f"{self.stem}_io.npz"

    @functools.cached_property
    def checkpoint_sha256(self) -> str:
        """Hex sha256 of the checkpoint, computed from the file (never a copied prefix)."""
        return sha256_of(self.checkpoint_path)

    # -- the YAML ------------------------------------------------------------------------------

    @functools.cached_property
    def yaml_document(self) -> dict[str, Any]:
        """The whole YAML (``model_params`` plus, for FOMM/FV2V, dataset/train/... sections)."""
        import yaml

        return yaml.safe_load(self.yaml_path.read_text(encoding="utf-8"))

    @property
    def model_params(self) -> dict[str, Any]:
        return self.yaml_document["model_params"]

    def sections_with(self, key: str) -> list[str]:
        """The ``model_params`` sections that hold ``key`` at their top level, e.g.
        ``sections_with("num_kp") == ["common_params"]`` for FOMM."""
        return [name for name, section in self.model_params.items() if isinstance(section, Mapping) and key in section]

    def write_yaml(self, path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
        """Write a copy of the YAML to ``path`` after ``edit(model_params)`` changed it in place
        (for config-error tests: a typo'd key, a duplicated key); returns ``path``."""
        import yaml

        document = copy.deepcopy(self.yaml_document)
        edit(document["model_params"])
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    def config(self, *, align_corners: bool | None = None):
        """:class:`livehead.models.configs.ModelConfig` of the YAML."""
        from livehead.models.configs import ENGINES as CONFIG_ENGINES, load_model_config

        if self.engine not in CONFIG_ENGINES:
            raise ValueError(f"livehead.models.configs reads {', '.join(CONFIG_ENGINES)} YAMLs, not {self.engine}; "
                             f"build {self.stem} from fx.model_params with its own loader")
        return load_model_config(self.yaml_path, align_corners=align_corners)

    def load(self, *, align_corners: bool | None = False):
        """The checkpoint strictly loaded for :meth:`config` (``align_corners`` False by default:
        the fixtures' outputs were computed with grid_sample's default, False)."""
        from livehead.models.checkpoint import load_checkpoint

        return load_checkpoint(self.checkpoint_path, self.config(align_corners=align_corners))

    def graphs(self, *, align_corners: bool | None = False):
        """The engine's graph set at the fixture's own image size, from freshly loaded networks
        (``align_corners`` as in :meth:`load`; None = the engine default, as build_engines uses)."""
        from livehead.runtime.graphs import build_graphs

        ckpt = self.load(align_corners=align_corners)
        return build_graphs(ckpt.models, image_size=self.image_size, checkpoint=str(ckpt.path),
                            checkpoint_sha256=ckpt.sha256)

    # -- the checkpoint ------------------------------------------------------------------------

    @functools.cached_property
    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint as saved (``torch.load(weights_only=True)``)."""
        import torch

        return torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)

    @property
    def networks(self) -> tuple[str, ...]:
        """Network entries of the checkpoint in file order; nested dicts as ``"outer/inner"``
        (LivePortrait's stitching MLPs). Leftovers such as ``epoch`` are not networks."""
        return tuple(_network_paths(self.checkpoint))

    def state_dict(self, network: str) -> dict[str, Any]:
        """The state dict of ``network`` (a name from :attr:`networks`)."""
        node: Any = self.checkpoint
        for part in network.split("/"):
            node = node[part]
        return dict(node)

    # -- the npz ---------------------------------------------------------------------------------

    @functools.cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every npz array except ``meta`` (numpy, dtypes as stored)."""
        with np.load(self.io_path) as data:
            return {k: data[k] for k in data.files if k != "meta"}

    @functools.cached_property
    def tensors(self) -> dict[str, Any]:
        """:attr:`arrays` as torch tensors (shared memory, do not modify)."""
        import torch

        return {k: torch.from_numpy(v) for k, v in self.arrays.items()}

    @functools.cached_property
    def meta(self) -> dict[str, Any]:
        """The npz's ``meta`` JSON (seeds, H/W, threads, free-view angles, ...)."""
        with np.load(self.io_path) as data:
            return json.loads(str(data["meta"]))

    # -- numbers derived from the files -------------------------------------------------------

    @functools.cached_property
    def image_size(self) -> int:
        """Side of the square input images (the npz ``source``; :meth:`check` compares the rest)."""
        return int(self.arrays["source"].shape[-1])

    @functools.cached_property
    def num_kp(self) -> int:
        """K from the YAML (:meth:`check` compares the npz keypoints)."""
        node: Any = self.model_params
        for part in _LAYOUTS[self.engine].num_kp_at:
            node = node[part]
        return int(node)

    def check(self) -> None:
        """Raise :class:`FixtureError`, naming the files, where they disagree: the engine's YAML
        section, the image size (npz ``source``, its meta H/W, the YAML's ``frame_shape``) and K
        (YAML vs the npz keypoints)."""
        layout = _LAYOUTS[self.engine]
        if layout.marker_section not in self.model_params:
            raise FixtureError(f"{self.yaml_path} has no model_params.{layout.marker_section}: "
                               f"it is not a {self.engine} fixture config")
        _, _, h, w = self.arrays["source"].shape
        sizes = {"npz source": (h, w), "meta H/W": (self.meta.get("H", h), self.meta.get("W", w))}
        frame_shape = self.yaml_document.get("dataset_params", {}).get("frame_shape")
        if frame_shape is not None:
            sizes["yaml dataset_params.frame_shape"] = tuple(frame_shape[:2])
        if len(set(sizes.values())) != 1 or h != w:
            raise FixtureError(f"{self.folder}: {self.stem} image sizes disagree: {sizes}; regenerate the fixture")
        k = self.arrays[layout.kp_key].shape[1]
        if self.num_kp != k:
            raise FixtureError(f"{self.folder}: {self.yaml_path.name} says num_kp {self.num_kp}, "
                               f"{self.io_path.name}[{layout.kp_key!r}] has {k}; regenerate the fixture")

    @property
    def frames(self) -> int:
        """Number of driving frames (frame 0 is the relative-motion reference)."""
        return int(self.arrays["driving"].shape[0])

    @property
    def threads(self) -> int:
        """Torch threads the outputs were computed with (the README's acceptance rule)."""
        return int(self.meta.get("threads", 1))

    @functools.cached_property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected shapes of one call with batch 1, from the npz as the original code recorded it.

        FOMM: ``image``, ``kp_value``, ``kp_jacobian``, ``source_features``, ``motion_source``
        (the source as the dense-motion network sees it), ``mask``, ``occlusion_map``,
        ``deformation``, ``prediction``. FV2V: ``image``, ``kp_canonical``, ``pose_logits``, ``t``,
        ``exp``, ``feature_3d``, ``decoder_in``, ``mask``, ``occlusion_map``, ``deformation``,
        ``prediction``. LivePortrait: ``image``, ``f_s``, ``kp``, ``pose_logits``, ``exp``,
        ``occlusion_map``, ``deformation``, ``warp_out``, ``output_image``.
        """
        out: dict[str, tuple[int, ...]] = {}
        for name, (key, per_frame) in _LAYOUTS[self.engine].shapes.items():
            if key in self.arrays:
                shape = self.arrays[key].shape
                out[name] = tuple(shape[1:] if per_frame else shape)
        if self.engine == "fomm" and "mask" in out:
            channels = self.arrays["source"].shape[1]
            out["motion_source"] = (1, channels, *out["mask"][-2:])
        return out


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file with hashlib (independent of livehead's own ``sha256_file``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _network_paths(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Paths to the state dicts inside a checkpoint dict: a mapping whose values are all tensors."""
    import torch

    paths: list[str] = []
    for name, value in node.items():
        if not isinstance(value, Mapping) or not value:
            continue
        if all(isinstance(v, torch.Tensor) for v in value.values()):
            paths.append(prefix + str(name))
        else:
            paths.extend(_network_paths(value, f"{prefix}{name}/"))
    return paths


@functools.cache
def _checked(engine: str, folder: Path) -> GoldenFixture:
    """One described fixture per folder and engine for the whole session (files read once)."""
    fx = GoldenFixture(engine, folder)
    fx.check()
    return fx


def golden(engine: str) -> GoldenFixture:
    """The ``engine`` fixture in ``LIVEHEAD_REFERENCE_DIR`` (default ../shared/reference), or skip
    the test naming the missing file."""
    if engine not in _LAYOUTS:
        raise ValueError(f"unknown fixture engine {engine!r}; known: {', '.join(ENGINES)}")
    fx = GoldenFixture(engine, REFERENCE)
    for path in (fx.yaml_path, fx.checkpoint_path, fx.io_path):
        reference(path.name)  # skips, naming the file, when it is absent
    return _checked(engine, REFERENCE)


def golden_fixtures(engine: str, *, models: str = "fixture_models"):
    """Module-scoped pytest fixtures for a test module of ``engine``: ``fx`` (:func:`golden`),
    ``io`` (``fx.tensors``) and, named ``models``, the checkpoint strictly loaded with
    align_corners False (as the outputs were made). Bind them at module level::

        fx, io, fixture_models = golden_fixtures("fomm")
    """
    import pytest

    @pytest.fixture(scope="module", name="fx")
    def fx_fixture() -> GoldenFixture:
        return golden(engine)

    @pytest.fixture(scope="module", name="io")
    def io_fixture(fx) -> dict[str, Any]:
        return fx.tensors

    @pytest.fixture(scope="module", name=models)
    def models_fixture(fx):
        return fx.load(align_corners=False).models

    return fx_fixture, io_fixture, models_fixture


def max_abs_diff(a, b) -> float:
    """max |a - b| of two tensors of the same shape (the parity tests' measure)."""
    assert a.shape == b.shape, f"shape {tuple(a.shape)} vs {tuple(b.shape)}"
    return (a - b).abs().max().item()


def assert_matches_manifest(models, manifest: Mapping[str, Any]) -> None:
    """Each network of ``models`` (a ModelSet, e.g. built on the meta device) has the official
    checkpoint's keys, shapes, dtypes and order and its parameter count, as the manifest JSON
    (``*_state_dict_manifest.json``, read with json) records them."""
    for entry, module in models.items():
        ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()]
        ref = [(k, shape, manifest["_meta"]["dtypes"][entry][k]) for k, shape in manifest[entry].items()]
        assert ours == ref, entry  # same keys, shapes, dtypes and order
        params = sum(p.numel() for p in module.parameters())
        assert params == manifest["_meta"]["counts"][entry]["num_parameters"], entry
