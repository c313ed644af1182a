"""The neural engines' image work on torch tensors: the driver crop, the colour-matched feathered
paste-back into the avatar photo, and the letterboxed composition into the output frame; for
LivePortrait also the rotated (any 2x3 affine) crop and the masked paste-back through its inverse.

Each is the tensor twin of an OpenCV function of the CPU path (:func:`.crop.crop`,
:func:`.crop.paste_back`, :func:`livehead.stages.compose.letterbox`,
:func:`.liveportrait_face.warp_crop`, :func:`.liveportrait_face.paste_back`) and equals it within rounding
(the tests compare them on real photos). They run on any device; on CUDA the GPU frame path
(:mod:`.gpu_path`) chains them with the networks so a frame never leaves the GPU between upload and
the download of the finished output. Box, mask and crop geometry come from :mod:`.crop` (one owner).

Convention: images are ``(1, 3, H, W)`` float tensors with values in [0, 255] (RGB) unless a
docstring says otherwise; pixel centres sit at integer coordinates, as in OpenCV; sampling uses
``grid_sample(align_corners=False)``, whose -1/+1 are the outer edges of the first/last pixel.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from livehead.animators.neural.crop import crop_matrix, feather_mask, paste_ring
from livehead.stages.compose import fit_size

__all__ = ["AffinePaste", "Letterbox", "PasteBack", "affine_crop", "affine_theta", "crop_tensor", "crop_theta",
           "frame_to_tensor", "resize_matrix", "round_pixels"]


def frame_to_tensor(frame: Tensor) -> Tensor:
    """``(H, W, 3)`` uint8 RGB (any device) → ``(1, 3, H, W)`` float32 in [0, 255]."""
    if frame.dim() != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be (H, W, 3) RGB; got {tuple(frame.shape)}")
    return frame.permute(2, 0, 1).unsqueeze(0).float()


def round_pixels(image: Tensor) -> Tensor:
    """Values → integers in [0, 255] as ``np.clip(x + 0.5, 0, 255).astype(np.uint8)`` rounds (half up)."""
    return torch.floor(image + 0.5).clamp_(0.0, 255.0)


def crop_theta(box: Tensor, frame_size: tuple[int, int], size: int) -> Tensor:
    """``(1, 2, 3)`` matrix for ``F.affine_grid``: crop → frame, both in normalised coordinates.

    Args:
        box: ``(3,)`` ``(cx, cy, side)`` of the square crop in frame pixels (a tensor, so a
            captured CUDA graph reads the current box).
        frame_size: ``(w, h)`` of the frame.
        size: the crop's side in pixels.

    The crop pixel ``u`` shows frame pixel ``x = (u - size / 2) * side / size + cx``
    (:func:`.crop.crop_matrix` inverted); in normalised units that is
    ``x_n = (side / w) * u_n + (2 cx - side / size + 1) / w - 1``.
    """
    w, h = frame_size
    cx, cy, side = box[0], box[1], box[2]
    zero = torch.zeros_like(side)
    row_x = torch.stack([side / w, zero, (2 * cx - side / size + 1) / w - 1])
    row_y = torch.stack([zero, side / h, (2 * cy - side / size + 1) / h - 1])
    return torch.stack([row_x, row_y]).unsqueeze(0)


def crop_tensor(frame: Tensor, box: Tensor, size: int) -> Tensor:
    """``(1, C, H, W)`` float → ``(1, C, size, size)``: bilinear, the border replicated (``crop.crop``).

    ``crop.crop`` asks OpenCV for INTER_AREA when shrinking, but ``cv2.warpAffine`` samples
    bilinearly whatever the flag, so bilinear is the same picture.
    """
    theta = crop_theta(box.to(frame.dtype), (frame.shape[3], frame.shape[2]), size)
    grid = F.affine_grid(theta, [1, frame.shape[1], size, size], align_corners=False)
    return F.grid_sample(frame, grid, mode="bilinear", padding_mode="border", align_corners=False)


def affine_theta(matrix: np.ndarray, frame_size: tuple[int, int], size: int) -> np.ndarray:
    """``(2, 3)`` float64 matrix for ``F.affine_grid`` (crop → frame, normalised) of a general crop.

    Args:
        matrix: 2x3 affine, frame pixels → crop pixels (``cv2.warpAffine`` layout, e.g.
            :func:`.liveportrait_face.crop_matrix`, rotated or not).
        frame_size: ``(w, h)`` of the frame.
        size: the crop's side in pixels.

    The crop pixel ``u`` shows frame pixel ``A @ (u, 1)`` with ``A`` the inverse of ``matrix`` (made as
    OpenCV makes it); a pixel's normalised coordinate is ``(2 p + 1) / n - 1``. Computed on the host
    (float64), once per frame: six numbers to upload.
    """
    w, h = frame_size
    a = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    theta = np.empty((2, 3))
    for row, n in ((0, w), (1, h)):
        a0, a1, a2 = a[row]
        theta[row] = (a0 * size / n, a1 * size / n, (a0 * (size - 1) + a1 * (size - 1) + 2 * a2 + 1) / n - 1)
    return theta


def affine_crop(frame: Tensor, theta: Tensor, size: int, factor: int = 1) -> Tensor:
    """``(1, C, H, W)`` float → ``(1, C, size, size)`` integer-valued float: the twin of
    :func:`.liveportrait_face.warp_crop`.

    Args:
        frame: the image, values in [0, 255].
        theta: ``(1, 2, 3)`` :func:`affine_theta` of the crop at ``factor * size``.
        factor: supersampling (``warp_crop`` warps at ``factor * size`` then area-averages, which
            for an integer factor is the mean of ``factor``² blocks).

    Bilinear with the border replicated, rounded as OpenCV's uint8 output is after each step.
    """
    big = size * factor
    grid = F.affine_grid(theta.to(frame.dtype), [1, frame.shape[1], big, big], align_corners=False)
    out = round_pixels(F.grid_sample(frame, grid, mode="bilinear", padding_mode="border", align_corners=False))
    return out if factor == 1 else round_pixels(F.avg_pool2d(out, factor))


def _opencv_grid(sample: np.ndarray, roi: tuple[int, int, int, int], size: int) -> np.ndarray:
    """``(1, hr, wr, 2)`` float32 ``grid_sample`` grid (x, y) of where ``cv2.warpAffine`` samples a
    ``size``² source for the destination pixels in ``roi`` ``(y0, y1, x0, x1)``.

    ``sample`` is the 2x3 map destination → source pixels that OpenCV uses (with WARP_INVERSE_MAP
    the matrix given, else its inverse). OpenCV rounds the per-column terms and the per-row terms
    (offset included) to 1/1024 pixel separately, then keeps 1/32-pixel steps (AB_BITS 10,
    INTER_BITS 5, imgwarp.cpp). A paste-back grid is made once per avatar, so sampling where
    OpenCV samples costs nothing per frame; float positions differ by up to 4 levels on sharp
    edges of an enlarged crop.
    """
    y0, y1, x0, x1 = roi
    xs, ys = np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
    axes = []
    for row in (0, 1):
        per_column = np.rint(sample[row, 0] * xs * 1024.0)
        per_row = np.rint((sample[row, 1] * ys + sample[row, 2]) * 1024.0)
        fixed = per_row[:, None] + per_column[None, :]
        axes.append((2 * np.floor_divide(fixed + 16, 32) / 32.0 + 1) / size - 1)
    return np.stack(axes, -1)[None].astype(np.float32)


def _paste_roi(to_photo: np.ndarray, size: int, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the photo pixels a ``size``² crop can touch through ``to_photo`` (crop →
    photo pixels). A crop pixel is reached (with a bilinear weight above 0) from photo pixels whose
    crop coordinate lies in (-1, size); one spare pixel each side keeps rounding out of the way."""
    w, h = image_size
    corners = np.array([[-1.0, -1.0, 1.0], [size, -1.0, 1.0], [-1.0, size, 1.0], [size, size, 1.0]]) @ to_photo.T
    x0, x1 = max(0, int(np.floor(corners[:, 0].min())) - 1), min(w, int(np.ceil(corners[:, 0].max())) + 2)
    y0, y1 = max(0, int(np.floor(corners[:, 1].min())) - 1), min(h, int(np.ceil(corners[:, 1].max())) + 2)
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"the face crop lies outside the {w}x{h} photo")
    return y0, y1, x0, x1


class _RegionPaste:
    """A paste-back that touches only ``roi`` of the photo; subclasses define ``region``."""

    roi: tuple[int, int, int, int]

    def region(self, prediction: Tensor, avatar_region: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, avatar: Tensor, prediction: Tensor) -> Tensor:
        """The whole photo ``(1, 3, H, W)`` with the face pasted in, rounded to integers."""
        y0, y1, x0, x1 = self.roi
        out = avatar.clone()
        out[:, :, y0:y1, x0:x1] = round_pixels(self.region(prediction, avatar[:, :, y0:y1, x0:x1]))
        return out


class PasteBack(_RegionPaste):
    """Paste a generated face crop into the avatar photo: the tensor twin of :func:`.crop.paste_back`.

    Everything that depends only on the avatar is computed once: the region of the photo the crop
    can touch (``roi``: ``(y0, y1, x0, x1)``), the sampling grid of that region into the crop, the
    warped feather mask and the source crop's mean colour in the seam ring. Per frame it costs one
    ``grid_sample`` of the region, whatever the photo's size.

    Args:
        image_size: ``(w, h)`` of the avatar photo.
        box: ``(cx, cy, side)`` of the avatar's face crop (NumPy, from :func:`.crop.face_crop_box`).
        size: the crop's side in pixels.
        source_crop: ``(size, size, 3)`` uint8, the avatar's own crop (the colour reference).
    """

    def __init__(self, image_size: tuple[int, int], box: np.ndarray, size: int, source_crop: np.ndarray,
                 device: str | torch.device) -> None:
        m = crop_matrix(box, size)  # photo pixels -> crop pixels (scale and shift only)
        try:
            self.roi = _paste_roi(cv2.invertAffineTransform(m), size, image_size)
        except ValueError:
            raise ValueError(f"the face crop {box.tolist()} lies outside the {image_size[0]}x{image_size[1]} photo") from None
        self.grid = torch.from_numpy(_opencv_grid(m, self.roi, size)).to(device)  # (1, hr, wr, 2) as (x, y)
        mask = torch.from_numpy(feather_mask(size))[None, None].to(device)
        self.alpha = F.grid_sample(mask, self.grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        ring = paste_ring(feather_mask(size))
        self.ring = torch.from_numpy(ring.astype(np.float32))[None, None].to(device)  # (1, 1, S, S)
        self.ring_count = float(ring.sum())
        mean = source_crop[ring].astype(np.float32).mean(0)
        self.source_mean = torch.from_numpy(mean).reshape(1, 3, 1, 1).to(device)

    def region(self, prediction: Tensor, avatar_region: Tensor) -> Tensor:
        """The photo's region with the face pasted in, float in [0, 255] (not rounded).

        Args:
            prediction: ``(1, 3, S, S)`` the generator's output in [0, 1].
            avatar_region: ``(1, 3, hr, wr)`` the photo inside ``roi``, [0, 255].
        """
        result = round_pixels(prediction.float() * 255.0)  # the CPU path's uint8 crop, so the seam matches
        shift = self.source_mean - (result * self.ring).sum(dim=(2, 3), keepdim=True) / self.ring_count
        corrected = (result + shift).clamp(0.0, 255.0)
        warped = F.grid_sample(corrected, self.grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return self.alpha * warped + (1.0 - self.alpha) * avatar_region



class AffinePaste(_RegionPaste):
    """Paste a generated crop into the photo through a general 2x3 crop matrix, blended by a fixed
    mask, without colour matching: the tensor twin of :func:`.liveportrait_face.paste_back`.

    Args:
        image_size: ``(w, h)`` of the avatar photo.
        matrix: 2x3 affine, photo pixels → pixels of the generated crop (LivePortrait: its rotated
            crop matrix scaled to the 2x output).
        mask: ``(n, n)`` float32 blend weights of the ``n``² generated crop.

    The grid and the warped mask are made once per avatar (``roi`` as :class:`PasteBack`); per frame
    one ``grid_sample`` of the region.
    """

    def __init__(self, image_size: tuple[int, int], matrix: np.ndarray, mask: np.ndarray,
                 device: str | torch.device) -> None:
        n = mask.shape[0]
        inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))  # what paste_back hands OpenCV
        self.roi = _paste_roi(inverse, n, image_size)
        # Without WARP_INVERSE_MAP OpenCV inverts ``inverse`` again: sample where that lands exactly.
        self.grid = torch.from_numpy(_opencv_grid(cv2.invertAffineTransform(inverse), self.roi, n)).to(device)
        weights = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None].to(device)
        self.alpha = F.grid_sample(weights, self.grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def region(self, prediction: Tensor, avatar_region: Tensor) -> Tensor:
        """The photo's region with the face pasted in, float in [0, 255] (not rounded).

        Args:
            prediction: ``(1, 3, n, n)`` the generator's output in [0, 1].
            avatar_region: ``(1, 3, hr, wr)`` the photo inside ``roi``, [0, 255].
        """
        result = round_pixels(prediction.float() * 255.0)  # the CPU path's uint8 crop
        # OpenCV warps the uint8 crop to uint8: rounded before the blend
        warped = round_pixels(F.grid_sample(result, self.grid, mode="bilinear", padding_mode="zeros",
                                            align_corners=False))
        return self.alpha * warped + (1.0 - self.alpha) * avatar_region


def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` float64 weights of OpenCV's resize along one axis: INTER_AREA when shrinking,
    INTER_LINEAR when enlarging (what :func:`~livehead.stages.compose.letterbox` asks for).

    Both are separable, so ``A_y @ image @ A_x.T`` is the resized image.
    """
    a = np.zeros((n_out, n_in))
    s = n_in / n_out
    if n_out <= n_in:  # area: each output pixel averages the input interval it covers
        for o in range(n_out):
            lo, hi = o * s, (o + 1) * s
            for i in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
                a[o, i] = (min(hi, i + 1) - max(lo, i)) / s
        return a
    for o in range(n_out):  # linear with half-pixel centres, the border repeated
        x = (o + 0.5) * s - 0.5
        i = int(np.floor(x))
        f = x - i
        if i < 0:
            i, f = 0, 0.0
        if i >= n_in - 1:
            i, f = n_in - 1, 0.0
        a[o, i] += 1.0 - f
        if f > 0.0:
            a[o, i + 1] += f
    return a


class Letterbox:
    """Fit an image into the output frame (bars, mirror): the tensor twin of ``stages.compose.letterbox``.

    Owns the ``(h, w, 3)`` uint8 output buffer on ``device``; the bars are painted once, so a frame
    whose image keeps its size (the usual case: avatars are prepared at the output's working size)
    only writes the pixels that changed (:meth:`write_region`).
    """

    def __init__(self, image_size: tuple[int, int], out_size: tuple[int, int], *, mirror: bool = False,
                 background: tuple[int, int, int] = (0, 0, 0), device: str | torch.device = "cpu") -> None:
        w, h = out_size
        self.image_size = image_size
        self.fit = fit_size(image_size, out_size)
        iw, ih = self.fit
        self.x0, self.y0 = (w - iw) // 2, (h - ih) // 2
        self.mirror = mirror
        self.resizes = self.fit != tuple(image_size)
        self.buffer = torch.empty((h, w, 3), dtype=torch.uint8, device=device)
        self.buffer[:] = torch.tensor(background, dtype=torch.uint8, device=device)
        if self.resizes:
            self.rows = torch.from_numpy(resize_matrix(image_size[1], ih).astype(np.float32)).to(device)
            self.cols = torch.from_numpy(resize_matrix(image_size[0], iw).astype(np.float32).T.copy()).to(device)

    def _place(self, image: Tensor, x: int, y: int) -> None:
        """Write ``(1, 3, hh, ww)`` integer-valued floats at (x, y) of the fitted image."""
        pixels = image[0].permute(1, 2, 0).to(torch.uint8)
        ww = pixels.shape[1]
        if self.mirror:
            pixels = pixels.flip(1)
            x = self.fit[0] - x - ww
        self.buffer[self.y0 + y:self.y0 + y + pixels.shape[0], self.x0 + x:self.x0 + x + ww] = pixels

    def __call__(self, image: Tensor) -> Tensor:
        """Compose the whole ``(1, 3, H, W)`` image (integers in [0, 255]); returns the output buffer."""
        if self.resizes:
            image = round_pixels(torch.matmul(torch.matmul(self.rows, image), self.cols))
        self._place(image, 0, 0)
        return self.buffer

    def write_region(self, region: Tensor, x: int, y: int) -> Tensor:
        """Update the output where the image changed: ``region`` ``(1, 3, hh, ww)`` (integers in
        [0, 255]) sits at (x, y) of the image. Only without resizing (``resizes`` False)."""
        if self.resizes:
            raise ValueError("write_region needs an image of the fitted size; compose the whole image instead")
        self._place(region, x, y)
        return self.buffer
