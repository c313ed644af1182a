"""The neural engines' GPU frame path: one upload per frame, everything else on the device, one download.

Per frame the driver frame (uint8) and eight scalars (the raw crop box, the filter clock, the easing
amount) go up through pinned host buffers without blocking; the driver crop (an affine sampling
grid), the keypoint network, the One Euro filters on keypoints / angles / crop box, the relative
motion, the generator, the colour-matched feathered paste-back and the composition into the output
frame run on the device; the finished output frame comes down once, and the host waits for that
copy only (a CUDA event), never in between.

On CUDA, with a runner that offers ``call`` (plain torch code on the device: backends ``torch`` and
``inductor``), each step is captured as one CUDA graph the second time it runs, after a warm-up on
a side stream (cuDNN's algorithm search, lazy initialisation and compilation stay out of the
capture), and replayed from then on. The control flow allows two steps per avatar and output
layout: *drive* (a new tracked frame; one graph per driver frame size) and *ease* (face or camera
lost: back to the avatar's pose). Calibration (the reference frame's keypoints, and the convex-hull
movement scale on the host) runs eagerly and writes into the buffers the graphs read. With
onnxruntime or TensorRT, or if a capture fails (logged once), the same steps run eagerly.

Everything here runs on CPU tensors too: tests drive the path on the CPU and compare it with the
OpenCV / NumPy path of :mod:`.base`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from livehead.animators.neural.crop import face_crop_box
from livehead.animators.neural.tensor_filters import CLOCK_FIELDS, FilterClock, HostClock, TensorOneEuro
from livehead.animators.neural.tensor_frame import Letterbox, PasteBack, crop_tensor, frame_to_tensor, round_pixels
from livehead.config import SmoothingConfig
from livehead.runtime.memory import within_budget

log = logging.getLogger(__name__)

__all__ = ["GpuFramePath", "Layout", "WARMUP_RUNS"]

WARMUP_RUNS = 2  # eager runs on a side stream before a capture (the first frame already ran eagerly)
# Per-frame scalars: crop box (cx, cy, side) | clock (dt, reset, hold) | easing amount | spare
_BOX, _CLOCK, _AMOUNT = slice(0, 3), slice(3, 3 + CLOCK_FIELDS), 3 + CLOCK_FIELDS
_SCALARS = 8
MAX_STEPS = 8  # captured steps kept per avatar; older ones (other frame sizes, layouts) are dropped


@dataclass(frozen=True)
class Layout:
    """Where the avatar lands: output ``size`` (w, h), or None for the avatar's own size (``render``)."""

    size: tuple[int, int] | None = None
    mirror: bool = False
    background: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def of(cls, compositor: Any) -> Layout:
        """The layout of a :class:`livehead.stages.compose.Compositor`."""
        return cls(tuple(compositor.size), bool(compositor.mirror), tuple(compositor.background))


def leaves(tree: Any) -> list[Tensor]:
    """Every tensor in nested dicts, in a stable order."""
    if isinstance(tree, dict):
        return [t for k in sorted(tree) for t in leaves(tree[k])]
    return [tree] if isinstance(tree, Tensor) else []


def _same_structure(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_structure(a[k], b[k]) for k in a)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device
    return a is None and b is None


def as_tensors(tree: Any, device: str) -> Any:
    """Numbers become 0-d float32 tensors on ``device`` (a captured graph reads tensors, not constants)."""
    if isinstance(tree, dict):
        return {k: as_tensors(v, device) for k, v in tree.items()}
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return torch.tensor(float(tree), dtype=torch.float32, device=device)
    return tree


class _View:
    """One avatar composed into one layout: the photo and the output frame on the device."""

    def __init__(self, state: Any, layout: Layout, paste: Any, device: str) -> None:
        image = state.avatar.image
        h, w = image.shape[:2]
        self.avatar = frame_to_tensor(torch.from_numpy(np.ascontiguousarray(image)).to(device))
        self.paste = paste  # PasteBack or AffinePaste: ``roi`` and ``region``
        y0, y1, x0, x1 = self.paste.roi
        self.avatar_region = self.avatar[:, :, y0:y1, x0:x1]
        self.letterbox = Letterbox((w, h), layout.size or (w, h), mirror=layout.mirror, background=layout.background,
                                   device=device)
        self.letterbox(self.avatar)  # the photo and the bars, painted once; frames rewrite the face region
        self.still = self.letterbox.buffer.cpu().numpy().copy()  # shown before the first motion
        self.bad = torch.zeros((), dtype=torch.bool, device=device)
        self.steps: dict[tuple, _Step] = {}

    def compose(self, prediction: Tensor) -> None:
        """Paste ``prediction`` (1, 3, S, S) in [0, 1] into the photo and the photo into the output buffer."""
        region = round_pixels(self.paste.region(prediction, self.avatar_region))
        y0, y1, x0, x1 = self.paste.roi
        if self.letterbox.resizes:
            full = self.avatar.clone()
            full[:, :, y0:y1, x0:x1] = region
            self.letterbox(full)
        else:
            self.letterbox.write_region(region, x0, y0)
        self.bad.copy_(~torch.isfinite(prediction).all())


class _Step:
    """One per-frame step: eager, or (``capture``) a CUDA graph captured on its second run."""

    def __init__(self, fn: Callable[[], None], *, capture: bool, pool: Any, mutable: Callable[[], list[Tensor]],
                 name: str, budget_gb: float | None = None) -> None:
        self.fn = fn
        self.budget_gb = budget_gb
        self.capture = capture
        self.pool = pool
        self.mutable = mutable
        self.name = name
        self.runs = 0
        self.graph: torch.cuda.CUDAGraph | None = None

    def __call__(self) -> None:
        self.runs += 1
        if self.graph is None and self.capture and self.runs > 1:
            # cuDNN picks its algorithms in the first runs: under the engine's memory budget
            self.graph = within_budget(self._capture, self.budget_gb, f"capturing the {self.name} step")
        if self.graph is not None:
            self.graph.replay()
        elif self.runs == 1:
            within_budget(self.fn, self.budget_gb, f"the first {self.name} step")
        else:
            self.fn()

    def _capture(self) -> torch.cuda.CUDAGraph | None:
        # Warm-up and capture run the step without a new input; the state they touch (filters,
        # last motion) is put back afterwards so the replay that follows sees this frame's state.
        saved = [t.clone() for t in self.mutable()]
        graph: torch.cuda.CUDAGraph | None = None
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_RUNS):
                    self.fn()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # thread_local: another thread preparing an avatar for an engine switch must not break the capture
            with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
                self.fn()
        except torch.cuda.OutOfMemoryError:
            raise  # the caller retries without the memory budget
        except RuntimeError as exc:
            log.warning("GPU frame path: capturing the %s step as a CUDA graph failed (%s); it runs eagerly.",
                        self.name, exc)
            self.capture = False
            graph = None
        finally:
            for t, s in zip(self.mutable(), saved):
                t.copy_(s)
        return graph


class GpuFramePath:
    """One avatar (a :class:`~.base.NeuralState`) of one neural engine on its device.

    ``render(driving, layout)`` returns the finished ``(h, w, 3)`` uint8 RGB frame of ``layout``
    (a fresh array each call). The engine supplies the network work through its hooks
    (``_reference``, ``_motion``, ``_ease``, ``_generate``, which call graphs through ``_run``);
    any engine built on :class:`~.base.NeuralAnimator` gets this path unchanged. An engine with its own
    crop and paste-back (LivePortrait, :mod:`.liveportrait_gpu`) overrides ``_make_paste``,
    ``_drive_step`` (whose step function it chooses) and ``_reference_of``, and may take more
    per-frame scalars (``scalar_count``).
    """

    scalar_count = _SCALARS

    def __init__(self, animator: Any, state: Any, *, capture: bool, box_smoothing: SmoothingConfig) -> None:
        self.animator = animator
        self.box_smoothing = box_smoothing
        self.state = state
        self.device = animator.device
        self.cuda = self.device == "cuda"
        self.capture = capture and self.cuda
        self.pool = torch.cuda.graph_pool_handle() if self.capture else None
        self.clock = HostClock()
        self.box_filter: TensorOneEuro | None = None
        self.scalars = torch.zeros(self.scalar_count, dtype=torch.float32, device=self.device)
        self._scalars_host = torch.zeros(self.scalar_count, dtype=torch.float32, pin_memory=self.cuda)
        self._bad_host = torch.zeros((), dtype=torch.bool, pin_memory=self.cuda)
        self._frames: dict[tuple[int, ...], tuple[Tensor, Tensor]] = {}  # shape -> (pinned staging, device)
        self._views: dict[Layout, _View] = {}
        self._done = torch.cuda.Event() if self.cuda else None

    # ---- buffers ---------------------------------------------------------------------------
    def _view(self, layout: Layout) -> _View:
        view = self._views.get(layout)
        if view is None:
            view = self._views[layout] = _View(self.state, layout, self._make_paste(), self.device)
        return view

    def _make_paste(self) -> Any:
        """The paste-back of the generated crop into the avatar photo (once per avatar and layout)."""
        state = self.state
        h, w = state.avatar.image.shape[:2]
        return PasteBack((w, h), state.box, self.animator.crop_size, state.source_crop, self.device)

    def _mutable(self) -> list[Tensor]:
        out = [] if self.box_filter is None else self.box_filter.buffers()
        for f in self.state.filters.values():
            out += f.buffers()
        return out + leaves(self.state.last_motion)

    def _upload_frame(self, frame: np.ndarray) -> Tensor:
        shape = tuple(frame.shape)
        if shape not in self._frames:
            staging = torch.empty(shape, dtype=torch.uint8, pin_memory=self.cuda)
            self._frames[shape] = (staging, torch.empty(shape, dtype=torch.uint8, device=self.device))
        staging, device = self._frames[shape]
        staging.numpy()[...] = frame
        device.copy_(staging, non_blocking=True)
        return device

    def _upload_scalars(self, *values: tuple[slice | int, Any]) -> None:
        host = self._scalars_host.numpy()
        for where, value in values:
            host[where] = value
        self.scalars.copy_(self._scalars_host, non_blocking=True)

    def _download(self, view: _View) -> np.ndarray:
        out = view.letterbox.buffer
        if not self.cuda:
            if bool(view.bad):
                raise FloatingPointError("the generator produced non-finite values")
            return out.numpy().copy()
        host = torch.empty(out.shape, dtype=torch.uint8, pin_memory=True)  # the caching host allocator reuses blocks
        host.copy_(out, non_blocking=True)
        self._bad_host.copy_(view.bad, non_blocking=True)
        self._done.record()
        self._done.synchronize()  # the frame's one wait: its download
        if bool(self._bad_host):
            raise FloatingPointError("the generator produced non-finite values")
        return host.numpy()  # keeps ``host`` alive; its block returns to the pool when the array is freed

    # ---- per frame -------------------------------------------------------------------------
    def render(self, driving: Any, layout: Layout) -> np.ndarray:
        with torch.inference_mode():
            view = self._view(layout)
            state = self.state
            amount = float(driving.extras.get("amount", 1.0))
            if driving.frame is None or driving.reference_frame is None:
                if state.last_motion is None:
                    return view.still.copy()
                self._upload_scalars((_AMOUNT, amount))
                key: tuple = ("ease",)
                fn = lambda: self._ease(view)  # noqa: E731
            else:
                if driving.reference_id != state.reference_id:
                    self._calibrate(driving)
                key, fn = self._drive_step(view, driving, amount)
            step = view.steps.get(key)
            if step is None:
                if len(view.steps) >= MAX_STEPS:
                    view.steps.pop(next(iter(view.steps)))
                step = view.steps[key] = _Step(fn, capture=self.capture, pool=self.pool, mutable=self._mutable,
                                               name=key[0], budget_gb=self.animator.memory_budget_gb)
            step()
            return self._download(view)

    def _drive_step(self, view: _View, driving: Any, amount: float) -> tuple[tuple, Callable[[], None]]:
        """Upload this frame's inputs; the step's key (one captured graph per key) and its function."""
        frame = self._upload_frame(driving.frame)
        box = face_crop_box(driving.observation, driving.observation.frame_size)
        self._upload_scalars((_BOX, box), (_CLOCK, self.clock.tick(driving.timestamp)), (_AMOUNT, amount))
        return ("drive", tuple(frame.shape)), lambda: self._drive(view, frame)

    def _drive(self, view: _View, frame: Tensor) -> None:
        a, state = self.animator, self.state
        clock = FilterClock.from_scalars(self.scalars[_CLOCK])
        raw_box = self.scalars[_BOX]
        if self.box_filter is None:
            self.box_filter = TensorOneEuro(raw_box)
        box = self.box_filter.step(raw_box, clock, self.box_smoothing, scale=raw_box[2])
        driver = crop_tensor(frame_to_tensor(frame), box, a.crop_size) / 255.0
        motion = a._motion(state, driver, clock)
        self._keep_motion(motion)
        view.compose(a._generate(state, motion))

    def _ease(self, view: _View) -> None:
        a, state = self.animator, self.state
        motion = a._ease(state, self.scalars[_AMOUNT])
        view.compose(a._generate(state, motion))

    def _keep_motion(self, motion: dict) -> None:
        """The last motion, for easing back when the face is lost: kept in buffers a graph can update."""
        state = self.state
        if state.last_motion is None or not _same_structure(state.last_motion, motion):
            state.last_motion = {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in motion.items()}
            return
        for dst, src in zip(leaves(state.last_motion), leaves(motion)):
            dst.copy_(src)

    def _calibrate(self, driving: Any) -> None:
        """The reference frame's keypoints (once per calibration, eager), written into the buffers
        the captured steps read; the filters restart with the next frame."""
        state = self.state
        new = as_tensors(self._reference_of(driving), self.device)
        if state.reference and _same_structure(state.reference, new):
            for dst, src in zip(leaves(state.reference), leaves(new)):
                dst.copy_(src)
        else:
            state.reference = new
            for view in self._views.values():  # graphs read the old buffers: capture again
                view.steps.clear()
        state.reference_id = driving.reference_id
        self.clock.reset()

    def _reference_of(self, driving: Any) -> dict:
        """What the engine keeps of the calibration frame (its ``_reference`` of the driver crop)."""
        a = self.animator
        frame = frame_to_tensor(torch.from_numpy(np.ascontiguousarray(driving.reference_frame)).to(self.device))
        box = face_crop_box(driving.reference, driving.reference.frame_size)
        reference = crop_tensor(frame, torch.tensor(box, dtype=torch.float32, device=self.device), a.crop_size) / 255.0
        return a._reference(self.state, reference)

    def describe(self) -> str:
        graphs = sum(s.graph is not None for v in self._views.values() for s in v.steps.values())
        mode = f"{graphs} CUDA graph(s)" if self.capture else "eager"
        return f"frame path on {self.device} ({mode})"
