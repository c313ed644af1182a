"""Quality metrics for ``livehead eval``: pure functions on images, landmarks and series.

Conventions shared by every function here:

* Images are ``(H, W, 3) uint8`` RGB (any 8-bit image of equal shape works). Pixel metrics use the
  8-bit range: L1 on [0, 1] (as FOMM reports it), PSNR with peak 255, SSIM with L = 255.
* Landmarks are MediaPipe's ``(478, 3)`` pixels (see ``livehead.types``); distances use x/y only,
  because the tracker's z is a guess with a much larger error than x/y.
* "Face size" is ``FaceObservation.face_size`` (the head-pose scale, about the inter-ocular distance
  in pixels), so keypoint distances read as "fractions of the distance between the eyes" and do not
  depend on image resolution or how far the person sits from the camera.
* Rotations are ``(3, 3)`` matrices in the image axes of ``livehead.geometry``; angles come out in
  degrees. A head-pose *change* is ``R_current @ R_reference.T`` (camera-frame delta), the same
  form ``livehead.motion.transfer`` applies to the avatar.
* NaN means "not measurable" (no face, too few samples, a constant series); callers report it as
  unavailable, never as zero.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from livehead.face import landmarks as lm

__all__ = [
    "MOUTH",
    "akd",
    "brightness_ratio",
    "eye_opening",
    "frame_change",
    "geodesic_deg",
    "identity_distance",
    "inner_mouth_luma",
    "l1",
    "landmark_jitter",
    "masked_mean",
    "mouth_akd",
    "mouth_seam",
    "pearson",
    "per_eye_correlation",
    "pose_error_deg",
    "psnr",
    "ssim",
    "still_mask",
    "yaw_gain",
]

MOUTH = lm.as_index(lm.LIPS)  # the 40 lip-contour landmarks used by ``mouth_akd``

# SSIM constants of Wang et al. 2004 (and skimage with gaussian_weights=True, sigma=1.5,
# use_sample_covariance=False), so numbers compare with the papers.
_SSIM_K1, _SSIM_K2, _SSIM_SIGMA, _SSIM_WIN = 0.01, 0.03, 1.5, 11


def _check_pair(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what} needs two images of equal shape, got {a.shape} and {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"{what} needs (H, W) or (H, W, C) images, got shape {a.shape}")


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference on the [0, 1] scale (8-bit images divided by 255).

    >>> l1(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 51, np.uint8))
    0.2
    """
    _check_pair(a, b, "l1")
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))) / 255.0)


def psnr(a: np.ndarray, b: np.ndarray, *, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10·log10(peak² / MSE)``; ``inf`` for identical images."""
    _check_pair(a, b, "psnr")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), mean over pixels and channels; 1 for identical.

    Gaussian window σ = 1.5 (11 taps), K1 = 0.01, K2 = 0.03, L = 255, the border of half a window
    left out of the mean: equal to ``skimage.metrics.structural_similarity(a, b, channel_axis=2,
    data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` within 1e-6,
    and several times faster (OpenCV blurs), which matters at a few hundred frames per clip.
    """
    _check_pair(a, b, "ssim")
    pad = (_SSIM_WIN - 1) // 2
    if min(a.shape[:2]) <= 2 * pad:
        raise ValueError(f"ssim needs images larger than {2 * pad}x{2 * pad}, got {a.shape}")
    x = a.astype(np.float32)
    y = b.astype(np.float32)
    c1 = (_SSIM_K1 * 255.0) ** 2
    c2 = (_SSIM_K2 * 255.0) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (_SSIM_WIN, _SSIM_WIN), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return float(ssim_map[pad:-pad, pad:-pad].mean(dtype=np.float64))


def _check_landmarks(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] not in (2, 3):
        raise ValueError(f"landmarks must be two (N, 2|3) arrays of equal shape, got {pred.shape} and {target.shape}")


def akd(pred: np.ndarray, target: np.ndarray, face_size: float, *, indices: np.ndarray | None = None) -> float:
    """Average keypoint distance in face sizes: mean over points of ``|pred - target|`` (x/y).

    Args:
        pred, target: (N, 2|3) pixels, same order (MediaPipe indices).
        face_size: pixels per face unit of ``target`` (``FaceObservation.face_size``).
        indices: the points to average over (default all).

    A shift of every point by (3, 4) pixels on a face of size 50 gives 5 / 50 = 0.1.
    """
    _check_landmarks(pred, target)
    if not face_size > 0:
        raise ValueError(f"face_size must be > 0 pixels, got {face_size}")
    p, t = pred[:, :2].astype(np.float64), target[:, :2].astype(np.float64)
    if indices is not None:
        p, t = p[indices], t[indices]
    return float(np.linalg.norm(p - t, axis=1).mean() / face_size)


def mouth_akd(pred: np.ndarray, target: np.ndarray, face_size: float) -> float:
    """``akd`` over the 40 lip landmarks only (``MOUTH``): the metric that sees speech."""
    return akd(pred, target, face_size, indices=MOUTH)


def geodesic_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle in degrees of the rotation taking ``b`` to ``a`` (the geodesic distance on SO(3)).

    Uses atan2(sin, cos) of ``a @ b.T`` rather than arccos of the trace, which loses precision
    below about 0.1°.
    """
    r = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64).T
    if r.shape != (3, 3):
        raise ValueError(f"rotations must be (3, 3), got {np.shape(a)} and {np.shape(b)}")
    cos = (np.trace(r) - 1.0) / 2.0
    sin = 0.5 * math.sqrt((r[2, 1] - r[1, 2]) ** 2 + (r[0, 2] - r[2, 0]) ** 2 + (r[1, 0] - r[0, 1]) ** 2)
    return math.degrees(math.atan2(sin, cos))


def pose_error_deg(
    driver_reference: np.ndarray,
    driver_current: np.ndarray,
    output_reference: np.ndarray,
    output_current: np.ndarray,
) -> float:
    """Degrees between the driver's head-rotation change and the output's.

    Changes are camera-frame deltas ``current @ reference.T``; the result is their geodesic
    distance, so an output that does not move scores the driver's own rotation, and one that
    follows exactly scores 0 whatever pose the avatar started in.
    """
    driver_delta = np.asarray(driver_current, np.float64) @ np.asarray(driver_reference, np.float64).T
    output_delta = np.asarray(output_current, np.float64) @ np.asarray(output_reference, np.float64).T
    return geodesic_deg(output_delta, driver_delta)


def pearson(x: np.ndarray, y: np.ndarray, *, min_samples: int = 3) -> float:
    """Pearson correlation of two series over the samples where both are finite.

    NaN when fewer than ``min_samples`` pairs remain or either series is constant there
    (a still avatar has no mouth motion to correlate: "undefined", not 0).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson needs two series of equal length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < min_samples:
        return math.nan
    if np.ptp(x[ok]) == 0.0 or np.ptp(y[ok]) == 0.0:
        return math.nan
    xc, yc = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(np.clip(float(xc @ yc) / den, -1.0, 1.0))


def eye_opening(eyes: tuple[float, float]) -> float:
    """One number per frame for the eye series: the mean of ``motion.eye_openness``'s two ratios."""
    return 0.5 * (float(eyes[0]) + float(eyes[1]))


def still_mask(
    landmarks: np.ndarray,
    face_sizes: np.ndarray,
    *,
    threshold: float = 0.008,
    window: int = 5,
    min_length: int = 5,
) -> np.ndarray:
    """(T,) bool: frames where the driver holds still.

    Args:
        landmarks: (T, N, 2|3) pixels, NaN rows for frames without a face.
        face_sizes: (T,) pixels, NaN without a face.
        threshold: speed below which a frame is still, in face sizes per frame (0.008 at 25 fps is
            0.2 face sizes per second: talking heads measured 0.005–0.02 with tracker noise ≈ 0.004).
        window: frames of centred moving average applied to the positions first, so tracker noise
            does not read as motion.
        min_length: shorter still runs are dropped (a pause of one or two frames is not "still").

    Convention: frame t's speed is the mean distance between the averaged positions at t - 1 and
    t; frame 0 is still when frame 1 is.
    """
    pts = np.asarray(landmarks, dtype=np.float64)[..., :2]
    sizes = np.asarray(face_sizes, dtype=np.float64)
    if pts.ndim != 3 or sizes.shape != (len(pts),):
        raise ValueError(f"still_mask needs (T, N, 2|3) landmarks and (T,) sizes, got {pts.shape} and {sizes.shape}")
    t = len(pts)
    if t < 2:
        return np.zeros(t, bool)
    half = max(window, 1) // 2
    avg = np.empty_like(pts)
    for i in range(t):
        # nanmean over the window: a lost frame inside the window does not poison its neighbours.
        chunk = pts[max(0, i - half) : i + half + 1]
        valid = np.isfinite(chunk).all(axis=(1, 2))
        avg[i] = chunk[valid].mean(0) if valid.any() else np.nan
    speed = np.full(t, np.inf)
    speed[1:] = np.linalg.norm(np.diff(avg, axis=0), axis=2).mean(1) / sizes[1:]
    speed[0] = speed[1]
    still = np.nan_to_num(speed, nan=np.inf) < threshold
    out = np.zeros(t, bool)
    start = None
    for i, s in enumerate(np.append(still, False)):
        if s and start is None:
            start = i
        elif not s and start is not None:
            if i - start >= min_length:
                out[start:i] = True
            start = None
    return out


def landmark_jitter(landmarks: np.ndarray, face_sizes: np.ndarray, mask: np.ndarray) -> float:
    """Mean frame-to-frame landmark movement in face sizes, over consecutive frames both in ``mask``.

    Args:
        landmarks: (T, N, 2|3) pixels (NaN without a face); face_sizes: (T,); mask: (T,) bool
            (e.g. ``still_mask`` of the driver). NaN when no such pair of frames exists.
    """
    pts = np.asarray(landmarks, dtype=np.float64)[..., :2]
    sizes = np.asarray(face_sizes, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if pts.ndim != 3 or sizes.shape != (len(pts),) or mask.shape != (len(pts),):
        raise ValueError(
            f"landmark_jitter needs (T, N, 2|3), (T,), (T,), got {pts.shape}, {sizes.shape}, {mask.shape}"
        )
    if len(pts) < 2:
        return math.nan
    step = np.linalg.norm(np.diff(pts, axis=0), axis=2).mean(1) / sizes[1:]
    use = mask[1:] & mask[:-1] & np.isfinite(step)
    return float(step[use].mean()) if use.any() else math.nan


def frame_change(previous: np.ndarray, current: np.ndarray, *, box: tuple[int, int, int, int] | None = None) -> float:
    """Mean absolute pixel change (0–255 scale) between two frames, inside ``box`` (x0, y0, x1, y1)."""
    _check_pair(previous, current, "frame_change")
    if box is not None:
        x0, y0, x1, y1 = box
        previous, current = previous[y0:y1, x0:x1], current[y0:y1, x0:x1]
        if previous.size == 0:
            raise ValueError(f"frame_change box {box} is empty for images of shape {current.shape}")
    return float(cv2.absdiff(previous, current).mean())


def masked_mean(values: np.ndarray, mask: np.ndarray) -> float:
    """Mean of the finite ``values`` where ``mask`` holds; NaN when there are none."""
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask, dtype=bool) & np.isfinite(v)
    return float(v[m].mean()) if m.any() else math.nan


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two 128-d face embeddings (dlib: < 0.6 means "same person")."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"embeddings must have equal length, got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b))


# ---- measures of issue 14 (mouth interior, per-eye blinks, head-turn gain, seams) ----------------
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, the luma of JPEG and of the numbers


def per_eye_correlation(driver: np.ndarray, output: np.ndarray) -> tuple[float, float]:
    """Pearson correlation of each eye's opening series, driver vs output.

    Args:
        driver, output: (T, 2) per-frame openings, column 0 the subject's right eye, column 1 the
            left (the same person's side in both: no mirroring), NaN where not measured.

    Returns:
        (right, left); each NaN when not measurable (see ``pearson``). Kept apart because a
        wink shows in one eye only, and a mean of both eyes hides an eye that does not move.
    """
    d, o = np.asarray(driver, dtype=np.float64), np.asarray(output, dtype=np.float64)
    if d.shape != o.shape or d.ndim != 2 or d.shape[1] != 2:
        raise ValueError(f"per_eye_correlation needs two (T, 2) series, got {d.shape} and {o.shape}")
    return pearson(d[:, 0], o[:, 0]), pearson(d[:, 1], o[:, 1])


def yaw_gain(driver: np.ndarray, output: np.ndarray, *, percentiles: tuple[float, float] = (5.0, 95.0),
             min_range: float = 2.0) -> float:
    """How much of the driver's head turn the output shows: output yaw range / driver yaw range.

    Args:
        driver, output: (T,) yaw in degrees per frame (any common zero), NaN where not measured;
            only frames measured in both count.
        percentiles: the range is the spread between these percentiles, so one tracker glitch
            does not set it.
        min_range: degrees; below this the driver hardly turns and the ratio is NaN (undefined).

    1 means the avatar turns as far as the driver; 0 a still head.
    """
    d, o = np.asarray(driver, dtype=np.float64).ravel(), np.asarray(output, dtype=np.float64).ravel()
    if d.shape != o.shape:
        raise ValueError(f"yaw_gain needs two series of equal length, got {d.shape} and {o.shape}")
    ok = np.isfinite(d) & np.isfinite(o)
    if ok.sum() < 3:
        return math.nan
    lo, hi = percentiles
    spread_d = float(np.percentile(d[ok], hi) - np.percentile(d[ok], lo))
    if spread_d < min_range:
        return math.nan
    return float(np.percentile(o[ok], hi) - np.percentile(o[ok], lo)) / spread_d


def _around(image: np.ndarray, polygon: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` within ``margin`` pixels of ``polygon``'s box, and the polygon in its
    coordinates: a mouth is a few thousand pixels of a million, and measuring it should cost that."""
    pts = np.asarray(polygon, dtype=np.float64)[:, :2]
    h, w = image.shape[:2]
    x0, y0 = (np.floor(pts.min(0)) - margin).astype(int)
    x1, y1 = (np.ceil(pts.max(0)) + margin + 1).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return image[y0:y1, x0:x1], pts - np.array([x0, y0], dtype=np.float64)


def _polygon_mask(shape: tuple[int, int], polygon: np.ndarray, shift: int = 3) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(polygon, dtype=np.float64)[:, :2] * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=shift)
    return mask


def inner_mouth_luma(image: np.ndarray, polygon: np.ndarray, *, min_pixels: int = 12) -> float:
    """Mean luma (BT.601, 0–255) inside the inner-lip ``polygon`` (N, 2) pixels of ``image`` (H, W, 3) RGB.

    NaN when the opening's area is under ``min_pixels`` pixels (a closed mouth has no interior).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"inner_mouth_luma needs an (H, W, 3) image, got {image.shape}")
    if cv2.contourArea(np.asarray(polygon, dtype=np.float32)[:, :2]) < min_pixels:
        return math.nan
    image, polygon = _around(image, polygon, 2)
    mask = _polygon_mask(image.shape[:2], polygon) > 0
    return float((image[mask].astype(np.float64) @ _LUMA).mean()) if mask.any() else math.nan


def brightness_ratio(output: np.ndarray, driver: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean inner-mouth luma of the output over that of the driver, over frames in ``mask``.

    Args:
        output, driver: (T,) ``inner_mouth_luma`` per frame (NaN where closed or not measured).
        mask: (T,) bool, e.g. the frames where the driver's mouth is clearly open; None = all.

    1 means the avatar's open mouth is as bright as the driver's (teeth where the driver shows
    teeth); 0.3 a dark hole. Means are taken over the frames where both are finite.
    """
    o, d = np.asarray(output, dtype=np.float64).ravel(), np.asarray(driver, dtype=np.float64).ravel()
    if o.shape != d.shape:
        raise ValueError(f"brightness_ratio needs two series of equal length, got {o.shape} and {d.shape}")
    ok = np.isfinite(o) & np.isfinite(d)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool).ravel()
    if not ok.any() or d[ok].mean() <= 0:
        return math.nan
    return float(o[ok].mean() / d[ok].mean())


def mouth_seam(image: np.ndarray, polygon: np.ndarray, *, band: int = 2, ring: tuple[int, int] = (3, 9)) -> float:
    """Edge strength on the inner-lip line relative to the lips just outside it; a pasted mouth scores high.

    Args:
        image: (H, W, 3) uint8 RGB.
        polygon: (N, 2) inner-lip contour in pixels (the opening).
        band: half-width in pixels of the strip along the contour that is scored.
        ring: (inner, outer) distance in pixels of the reference ring outside the opening.

    Returns:
        mean |Laplacian| of luma (after a σ = 1 px blur) in the strip, over the same in the ring;
        NaN for an opening too small to have a strip and a ring. A real inner lip line is an edge,
        so compare with the driver's own score (``seam(output) / seam(driver)``): a thin dark
        outline or a hard paste edge raises it, a smeared blend lowers it.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"mouth_seam needs an (H, W, 3) image, got {image.shape}")
    image, polygon = _around(image, polygon, ring[1] + band + 4)  # + 4: the blur's reach
    if image.size == 0:
        return math.nan
    mask = _polygon_mask(image.shape[:2], polygon)
    if int((mask > 0).sum()) < 12:
        return math.nan
    luma = cv2.GaussianBlur((image.astype(np.float32) @ _LUMA.astype(np.float32)), (0, 0), 1.0)
    lap = np.abs(cv2.Laplacian(luma, cv2.CV_32F))
    outside = cv2.distanceTransform(255 - mask, cv2.DIST_L2, 3)
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    strip = (outside <= band) & (inside <= band)
    reference = (outside >= ring[0]) & (outside <= ring[1])
    if strip.sum() < 8 or reference.sum() < 8:
        return math.nan
    base = float(lap[reference].mean())
    return float(lap[strip].mean()) / max(base, 1e-6)
