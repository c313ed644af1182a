"""The engine registry, and the ``Animator`` contract checked on every registered engine: built from
the config the way the CLI builds it, ``prepare`` then ``render`` give a uint8 frame of the avatar's
shape (with a driver picture and with the face lost), and ``describe`` names what runs.

Engines that need weights (those with a checkpoint in ``models.catalog``) run on the tiny golden
fixture checkpoints (``../shared/reference``) and skip naming the missing file without them. The
contract does not depend on the crop size; ``NEURAL_CROP`` keeps a CPU quick.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from livehead.animators import ANIMATORS, Driving, animator_from_config, create_animator, register_animator
from livehead.errors import LiveHeadError
from livehead.models.catalog import CATALOG

from _media import REFERENCE, needs_extra, reference
from harness import config

NEURAL_CROP = 64  # network input size for the contract run: any size works, small is quick


def registered_engines() -> list[str]:
    """Every name ``--engine`` accepts: the registry once ``create_animator`` has added the built-ins
    (asking for a name that does not exist registers them and builds nothing)."""
    with contextlib.suppress(LiveHeadError):
        create_animator("")
    return sorted(ANIMATORS)


ENGINES = registered_engines()
NEEDS_WEIGHTS = {entry.engine for entry in CATALOG}


def engine_settings(name: str) -> dict[str, object]:
    """``[engine]`` settings that build ``name`` here: on the CPU, with the tiny fixture checkpoint
    when the engine needs weights."""
    settings: dict[str, object] = {"engine.device": "cpu"}
    if name in NEEDS_WEIGHTS:
        needs_extra("neural", "torch")
        found = sorted(REFERENCE.glob(f"{name}_tiny.pth*"))
        if not found:
            pytest.skip(f"engine {name} needs weights: no golden fixture {REFERENCE}/{name}_tiny.pth* "
                        "(../shared/reference beside the repository)")
        settings.update({"engine.checkpoint": str(found[0]), "engine.model_config": str(reference(f"{name}_tiny.yaml")),
                         "engine.crop_size": NEURAL_CROP})
    return settings


@pytest.fixture(scope="module")
def avatar(avatar_path):
    from livehead.avatars.photo import load_avatar

    return load_avatar(avatar_path, working_size=(320, 180))


@pytest.fixture(scope="module", params=ENGINES)
def built(request, avatar):
    """(name, engine, prepared state) for each registered engine."""
    name = request.param
    engine = animator_from_config(config(**engine_settings(name)), engine=name)
    return name, engine, engine.prepare(avatar)


def at_rest(avatar, **fields) -> Driving:
    """The avatar's own face driving it: driver = reference = the photo."""
    face = avatar.face
    return Driving(observation=face, reference=face, reference_id=1, target_landmarks=face.landmarks.copy(),
                   reference_frame=avatar.image, **fields)


class TestAnimatorContract:
    def test_describe_names_engine_backend_device_precision(self, built):
        name, engine, _ = built
        info = engine.describe()
        assert {"engine", "backend", "device", "precision"} <= set(info), info
        assert info["engine"] == name and info["device"] == "cpu" and info["precision"] in ("fp32", "fp16")
        assert all(isinstance(v, str) and v for v in info.values()), info

    def test_prepare_keeps_the_avatar(self, built, avatar):
        _, _, state = built
        assert state.avatar is avatar

    @pytest.mark.parametrize("live", [True, False], ids=["driver-frame", "face-lost"])
    def test_render_gives_a_uint8_frame_of_the_avatar_shape(self, built, avatar, live):
        _, engine, state = built
        driving = at_rest(avatar, frame=avatar.image, timestamp=0.0) if live else \
            at_rest(avatar, frame=None, timestamp=0.04, extras={"amount": 0.0, "lost": True})
        out = engine.render(state, driving)
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == avatar.image.shape
        assert out.std() > 1.0  # a picture, not a blank frame


class TestRegistry:
    def test_the_built_in_engines_are_registered(self):
        assert {"mesh", *NEEDS_WEIGHTS} <= set(ENGINES)

    def test_unknown_engine_lists_every_registered_one(self):
        with pytest.raises(LiveHeadError) as info:
            create_animator("no-such-engine")
        message = str(info.value)
        assert "'no-such-engine'" in message and "--engine NAME" in message
        assert all(name in message for name in ENGINES)

    def test_a_registered_engine_is_built_from_the_config(self):
        calls: list[dict] = []

        def factory(**options):
            calls.append(options)
            return "the engine"

        register_animator("test-recording", factory)
        try:
            cfg = config(**{"engine.grid_step": 8, "motion.expression_strength": 0.5})
            assert animator_from_config(cfg, engine="test-recording") == "the engine"
        finally:
            ANIMATORS.pop("test-recording")
        (options,) = calls
        assert options["grid_step"] == 8 and options["expression_strength"] == 0.5
        assert "engine" not in options  # the name picks the factory; the rest are the engine's options
