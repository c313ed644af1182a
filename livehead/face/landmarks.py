"""Named index sets of MediaPipe FaceMesh's 478 landmarks (468 mesh points + 2 × 5 iris points).

"Left"/"right" are the subject's: the subject's right eye appears on the image's left.
"""

from __future__ import annotations

import numpy as np

# Lips, ordered along each contour from the subject's right mouth corner to the left one.
LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)
INNER_MOUTH_CORNERS = (78, 308)
# The opening as one closed polygon: upper inner lip corner to corner, then the lower one back.
INNER_MOUTH_RING = LIPS_UPPER_INNER + tuple(reversed(LIPS_LOWER_INNER[1:-1]))
UPPER_LIP_CENTER_INNER = 13
LOWER_LIP_CENTER_INNER = 14

# Eyes: upper lid from outer to inner corner, lower lid likewise (subject's right = image left).
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (263, 362)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)

RIGHT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
LEFT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 129, 358, 64, 294, 48, 278)
CHEEKS = (50, 280, 205, 425, 187, 411, 123, 352, 117, 346, 207, 427, 214, 434, 192, 416)
JAW_LOWER = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288)
CHIN_INNER = (18, 200, 199, 175, 83, 313, 201, 421, 208, 428, 32, 262)

# Points that barely move with expression: used to fit the rigid head pose. None lies on the face
# outline: outline landmarks follow the silhouette, which slides over the head when it turns.
RIGID = (
    151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 107, 336, 108, 337, 69, 299, 104, 333,
    33, 133, 362, 263, 129, 358, 98, 327, 116, 345, 143, 372, 34, 264,
)

LIPS = tuple(sorted(set(LIPS_UPPER_OUTER + LIPS_LOWER_OUTER + LIPS_UPPER_INNER + LIPS_LOWER_INNER)))
RIGHT_EYE = tuple(sorted(set(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER)))
LEFT_EYE = tuple(sorted(set(LEFT_EYE_UPPER + LEFT_EYE_LOWER)))


def as_index(indices: tuple[int, ...]) -> np.ndarray:
    return np.asarray(indices, dtype=np.int64)
