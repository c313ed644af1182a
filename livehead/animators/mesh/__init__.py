"""Engine ``mesh``: a landmark-driven thin-plate-spline warp with eye and mouth layers; no weights."""

from livehead.animators.mesh.animator import MeshAnimator, MeshState

__all__ = ["MeshAnimator", "MeshState"]
