"""Each engine split into graphs with static shapes: per-avatar graphs and per-frame graphs.

A *graph* is a small ``nn.Module`` wrapper around the networks of :mod:`livehead.models` with
positional tensor inputs and a tuple of tensor outputs, so the same object is run eagerly by the
torch backend, exported to ONNX, and compiled by TensorRT. Batch size is 1 and every shape is
fixed by ``image_size``.

Graphs (``S`` = image size, 256 for vox; shapes for vox in brackets):

FOMM (``engine="fomm"``)

=================  ==========  ==========================================================================
graph              stage       inputs -> outputs
=================  ==========  ==========================================================================
``kp_detector``    per_frame   ``image`` (1,3,S,S) -> ``kp_value`` (1,K,2), ``kp_jacobian`` (1,K,2,2)
                               (also run once on the avatar for ``kp_source``)
``source_encoder`` per_avatar  ``source`` (1,3,S,S) -> ``source_features`` [1,256,64,64],
                               ``motion_source`` [1,3,64,64]
``generator``      per_frame   ``source_features``, ``motion_source``, ``kp_source_value``,
                               ``kp_source_jacobian``, ``kp_driving_value``, ``kp_driving_jacobian``
                               -> ``prediction`` (1,3,S,S) in [0,1]
=================  ==========  ==========================================================================

face-vid2vid (``engine="fv2v"``)

=================  ==========  ==========================================================================
``kp_detector``    per_avatar  ``image`` -> ``kp_canonical`` (1,K,3)
``he_estimator``   per_frame   ``image`` -> ``yaw``, ``pitch``, ``roll`` (1,66) logits (reference
                               names, see :class:`livehead.models.fv2v.HEEstimator`), ``t`` (1,3),
                               ``exp`` (1,3K)  (also run once on the avatar)
``source_encoder`` per_avatar  ``source`` -> ``feature_3d`` [1,32,16,64,64]
``generator``      per_frame   ``feature_3d``, ``kp_source`` (1,K,3), ``kp_driving`` (1,K,3)
                               -> ``prediction`` (1,3,S,S)
=================  ==========  ==========================================================================

LivePortrait (``engine="liveportrait"``): ``appearance_feature_extractor`` (per avatar),
``motion_extractor``, ``stitching``, ``retarget_eye``, ``retarget_lip`` and ``generator`` (W + G,
output 2S) per frame; see :mod:`livehead.runtime.graphs.liveportrait`.

Between graphs the animator runs the keypoint math of :mod:`livehead.models.keypoints` in torch
(``normalize_kp`` for both engines; ``keypoint_transformation`` for face-vid2vid): a few dozen
element operations on (1,K,3) tensors, kept out of the graphs so free-view angles and relative
motion stay plain Python arguments. All inputs and outputs are float32 in both precisions.

Precision: in an ``fp16`` set the keypoint graphs (``kp_detector``, ``he_estimator``) still run
in fp32 unless ``build_graphs(..., fp16_keypoints=True)``. They are cheap (FOMM 1.3 GMAC, HE 7.8
of face-vid2vid's 171 per frame) and they drive everything downstream: on full-size random
weights fp16 moved FOMM keypoints by up to 0.005 (0.6 px at 256) and face-vid2vid's expression
offsets by 4 % and its angles by 0.4 degrees, which becomes frame-to-frame jitter. This is what
FasterLivePortrait does with its motion extractor (fp32 inside an fp16 pipeline).
"""

from __future__ import annotations

from typing import Callable

from livehead.runtime.graphs.contract import (
    GraphBuilder,
    GraphSet,
    GraphSpec,
    Kind,
    Stage,
    TensorSpec,
    example_tensor,
    output_shapes,
    prepare_for_inference,
    random_image,
)

__all__ = ["GRAPH_BUILDERS", "GraphBuilder", "GraphSet", "GraphSpec", "Kind", "Stage", "TensorSpec", "build_graphs",
           "example_tensor", "output_shapes", "prepare_for_inference", "random_image", "register_graphs"]


# engine name -> builder(models, GraphBuilder) that adds the engine's graphs
GRAPH_BUILDERS: dict[str, Callable[..., None]] = {}
# graphs that stay fp32 in an fp16 set unless fp16_keypoints=True (see the package docstring)
KEYPOINT_GRAPHS: set[str] = set()


def register_graphs(engine: str, builder: Callable[..., None], *, keypoint_graphs: tuple[str, ...] = ()) -> None:
    """Make ``build_graphs`` know ``engine``; ``keypoint_graphs`` stay fp32 in fp16 sets by default."""
    GRAPH_BUILDERS[engine] = builder
    KEYPOINT_GRAPHS.update(keypoint_graphs)


def build_graphs(models, *, image_size: int = 256, checkpoint: str | None = None,
                 checkpoint_sha256: str = "random-weights", config_name: str = "",
                 fp16_keypoints: bool = False) -> GraphSet:
    """Wrap a :class:`livehead.models.ModelSet` into its per-avatar and per-frame graphs.

    The networks are prepared in place (:func:`prepare_for_inference`): eval mode, spectral norm
    folded, no grad. ``fp16_keypoints`` lets the keypoint graphs run in fp16 too.
    """
    _register_builtin()
    if models.engine not in GRAPH_BUILDERS:
        raise ValueError(f"unknown engine {models.engine!r}; graphs exist for {', '.join(sorted(GRAPH_BUILDERS))}")
    prepare_for_inference(models)
    builder = GraphBuilder(image_size)
    GRAPH_BUILDERS[models.engine](models, builder)
    graphs = builder.graphs
    if not fp16_keypoints:
        for name in KEYPOINT_GRAPHS & set(graphs):
            graphs[name].fp16 = False
    return GraphSet(engine=models.engine, image_size=image_size, graphs=graphs, checkpoint=checkpoint,
                    checkpoint_sha256=checkpoint_sha256, config_name=config_name)


def _register_builtin() -> None:
    """The bundled engines' graph builders (imported here, not at package import, to keep it light)."""
    if "fomm" not in GRAPH_BUILDERS:
        from livehead.runtime.graphs.fomm import fomm_graphs

        register_graphs("fomm", fomm_graphs, keypoint_graphs=("kp_detector",))
    if "fv2v" not in GRAPH_BUILDERS:
        from livehead.runtime.graphs.fv2v import fv2v_graphs

        register_graphs("fv2v", fv2v_graphs, keypoint_graphs=("kp_detector", "he_estimator"))
    if "liveportrait" not in GRAPH_BUILDERS:
        from livehead.runtime.graphs.liveportrait import liveportrait_graphs

        register_graphs("liveportrait", liveportrait_graphs,
                        keypoint_graphs=("motion_extractor", "stitching", "retarget_eye", "retarget_lip"))
