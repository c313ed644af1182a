"""Animation engines behind one interface: the contract (``base``), the registry (``registry``), and the
engines: ``mesh/`` (landmark warp, no weights) and ``neural/`` (fomm, fv2v)."""

from __future__ import annotations

from livehead.animators.base import Animator, AvatarImage, AvatarState, Driving
from livehead.animators.registry import ANIMATORS, animator_from_config, create_animator, register_animator

__all__ = ["ANIMATORS", "Animator", "AvatarImage", "AvatarState", "Driving", "animator_from_config", "create_animator",
           "register_animator"]
