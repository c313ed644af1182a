"""Engine ``mesh``: a landmark-driven thin-plate-spline warp of the photo — head over a still background,
lids, mouth interior — with no weights."""

from livehead.animators.mesh.animator import MeshAnimator, MeshState

__all__ = ["MeshAnimator", "MeshState"]
