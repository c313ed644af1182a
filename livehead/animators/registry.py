"""The engine registry: name → factory, the bundled engines registered lazily (importing LiveHead never
imports torch), and the one place an engine is built from the config."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

from livehead.animators.base import Animator
from livehead.errors import LiveHeadError

__all__ = ["ANIMATORS", "animator_from_config", "create_animator", "engine_names", "register_animator"]

AnimatorFactory = Callable[..., Animator]
ANIMATORS: dict[str, AnimatorFactory] = {}


def register_animator(name: str, factory: AnimatorFactory) -> None:
    """Make an engine selectable by name (``--engine NAME``)."""
    ANIMATORS[name] = factory


def animator_from_config(config: Any, *, engine: str | None = None) -> Animator:
    """The engine ``config.engine.engine`` (or ``engine``) built from a ``LiveHeadConfig``
    (engine section + motion strength): the one place the CLI, bench, eval and the pipeline's
    fallback build an engine."""
    options = {k: v for k, v in dataclasses.asdict(config.engine).items() if k != "engine"}
    return create_animator(engine or config.engine.engine, expression_strength=config.motion.expression_strength,
                           **options)


def engine_names() -> list[str]:
    """Every selectable engine name, sorted (the bundled ones and any registered)."""
    _register_builtin()
    return sorted(ANIMATORS)


def create_animator(name: str, **kwargs: Any) -> Animator:
    """Build a registered engine; an unknown name lists the registered ones."""
    _register_builtin()
    if name not in ANIMATORS:
        known = ", ".join(sorted(ANIMATORS))
        raise LiveHeadError(f"Unknown engine {name!r}. Choose one of: {known} (--engine NAME).")
    return ANIMATORS[name](**kwargs)


def _lazy(module: str, cls: str):
    def factory(**kwargs):
        return getattr(importlib.import_module(module), cls)(**kwargs)

    return factory


_BUILTIN = {
    "mesh": ("livehead.animators.mesh", "MeshAnimator"),
    "fomm": ("livehead.animators.neural", "FommAnimator"),
    "fv2v": ("livehead.animators.neural", "Fv2vAnimator"),
    "liveportrait": ("livehead.animators.neural.liveportrait", "LivePortraitAnimator"),
}


def _register_builtin() -> None:
    """Register the bundled engines lazily so importing LiveHead never imports torch."""
    for name, (module, cls) in _BUILTIN.items():
        ANIMATORS.setdefault(name, _lazy(module, cls))
