"""LivePortrait on the GPU frame path (:mod:`.gpu_path`): its own crop and paste-back, the rest shared.

LivePortrait differs from fomm/fv2v in three places, each a hook of :class:`~.gpu_path.GpuFramePath`:

* the driver crop (``_drive_step`` / ``_drive``): its box is LivePortrait's (:mod:`.liveportrait_face`),
  One Euro-filtered on the host as on the arrays path (three numbers; the crop's supersampling
  factor, a shape, depends on the filtered box, and a captured graph cannot change shapes). The
  host uploads the crop's six :func:`~.tensor_frame.affine_theta` numbers with the clock, and the
  driver's eye and lip ratios (retargeting targets); one graph per frame size, supersampling factor
  and eye/lip mode;
* the calibration crop (``_reference_of``), the same crop unfiltered;
* the paste-back (``_make_paste``): the 2x output through the inverse of the avatar's rotated crop
  matrix, blended with :func:`~.liveportrait_face.paste_mask` (:class:`~.tensor_frame.AffinePaste`).

M, the filters on angles / expression / t / scale, relative motion, retargeting, stitching, W + G
and the composition run on the device through the engine's hooks (:mod:`.liveportrait`), the same
code the arrays path runs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from livehead.animators.neural import liveportrait_face as face
from livehead.animators.neural.gpu_path import _AMOUNT, _CLOCK, _SCALARS, GpuFramePath, _View
from livehead.animators.neural.tensor_filters import FilterClock
from livehead.animators.neural.tensor_frame import AffinePaste, affine_crop, affine_theta, frame_to_tensor

__all__ = ["LivePortraitFramePath"]

# Per-frame scalars after the shared ones: the driver crop's theta (2x3) | the driver's eye, lip ratios
_THETA = slice(_SCALARS, _SCALARS + 6)
_RATIOS = slice(_SCALARS + 6, _SCALARS + 8)


class LivePortraitFramePath(GpuFramePath):
    """One avatar of the ``liveportrait`` engine on its device (see the module docstring)."""

    scalar_count = _SCALARS + 8

    def _make_paste(self) -> AffinePaste:
        a, state = self.animator, self.state
        h, w = state.avatar.image.shape[:2]
        scale = np.diag([a.output_size / a.crop_size] * 2)  # the output is larger than the crop
        return AffinePaste((w, h), scale @ state.box, a._mask, self.device)

    def _theta(self, matrix: np.ndarray, frame_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """The crop's ``(2, 3)`` theta at its supersampled size, and the supersampling factor."""
        factor = face.supersampling(matrix)
        size = self.animator.crop_size * factor
        return affine_theta(np.diag([factor, factor]) @ matrix, (frame_shape[1], frame_shape[0]), size), factor

    def _drive_step(self, view: _View, driving: Any, amount: float) -> tuple[tuple, Callable[[], None]]:
        a = self.animator
        eyes, lips = a.modes(driving)
        frame = self._upload_frame(driving.frame)
        matrix = a.driver_crop_matrix(self.state, driving.observation, driving.timestamp)
        theta, factor = self._theta(matrix, driving.frame.shape)
        self._upload_scalars((_THETA, theta.ravel()), (_CLOCK, self.clock.tick(driving.timestamp)),
                             (_AMOUNT, amount), (_RATIOS, a.driver_ratios(driving.observation)))
        key = ("drive", tuple(frame.shape), factor, eyes, lips)
        return key, lambda: self._drive_lp(view, frame, factor, eyes, lips)

    def _drive_lp(self, view: _View, frame: Tensor, factor: int, eyes: str, lips: str) -> None:
        a, state = self.animator, self.state
        clock = FilterClock.from_scalars(self.scalars[_CLOCK])
        theta = self.scalars[_THETA].reshape(1, 2, 3)
        driver = affine_crop(frame_to_tensor(frame), theta, a.crop_size, factor) / 255.0
        info = a._driver_motion(state, driver, clock)
        motion = {"x_d": a._keypoints(state, info, eyes, lips, self.scalars[_RATIOS])}
        self._keep_motion(motion)
        view.compose(a._generate(state, motion))

    def _reference_of(self, driving: Any) -> dict:
        a = self.animator
        image = driving.reference_frame
        theta, factor = self._theta(a.reference_crop_matrix(driving.reference), image.shape)
        frame = frame_to_tensor(torch.from_numpy(np.ascontiguousarray(image)).to(self.device))
        theta_t = torch.from_numpy(theta.astype(np.float32))[None].to(self.device)
        crop = affine_crop(frame, theta_t, a.crop_size, factor) / 255.0
        self.state.driver_box = None  # the host-side box filter restarts with the next frame, as the others do
        return a._reference(self.state, crop, driving.reference)
