"""Animation engines behind one interface (see ``base.Animator``)."""

from __future__ import annotations

from livehead.animators.base import (
    ANIMATORS,
    Animator,
    AvatarImage,
    Driving,
    animator_from_config,
    create_animator,
    register_animator,
)

__all__ = ["ANIMATORS", "Animator", "AvatarImage", "Driving", "animator_from_config", "create_animator",
           "register_animator"]


def _lazy(module: str, cls: str):
    def factory(**kwargs):
        import importlib

        return getattr(importlib.import_module(module, __name__), cls)(**kwargs)

    return factory


_BUILTIN = {
    "mesh": (".mesh", "MeshAnimator"),
    "fomm": (".neural", "FommAnimator"),
    "fv2v": (".neural", "Fv2vAnimator"),
    "liveportrait": (".neural.liveportrait", "LivePortraitAnimator"),
}


def _register_builtin() -> None:
    """Register the bundled engines lazily so importing LiveHead never imports torch."""
    for name, (module, cls) in _BUILTIN.items():
        ANIMATORS.setdefault(name, _lazy(module, cls))
