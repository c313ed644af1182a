"""Mesh engine, layers: the background plate behind the person continues the background beside it."""

from __future__ import annotations

import cv2
import numpy as np

from livehead.animators.mesh.segmentation import PERSON_FROM, split_layers


def test_the_uncovered_background_continues_the_wall_beside_the_head():
    """A head in front of two walls, pink on the left and white on the right: where the head moves
    away, the plate beside its left edge is the pink wall and beside its right edge the white one,
    not one average of both (a beige band that outlines where the head was)."""
    h, w = 480, 640
    pink, white, hair = np.array([225, 170, 150]), np.array([235, 235, 230]), np.array([40, 30, 25])
    image = np.empty((h, w, 3), np.uint8)
    image[:, :200], image[:, 200:] = pink, white  # a narrow strip of pink wall beside the head
    person = np.zeros((h, w), np.uint8)
    cv2.ellipse(person, (300, h // 2 + 40), (160, 190), 0, 0, 360, 255, -1)
    image[person > 0] = hair
    probability = cv2.GaussianBlur(person.astype(np.float32) / 255, (0, 0), 3)
    # A face the segmentation must keep as person: the ellipse's middle.
    ring = np.stack([300 + 60 * np.cos(np.linspace(0, 2 * np.pi, 478)),
                     h / 2 + 40 + 80 * np.sin(np.linspace(0, 2 * np.pi, 478))], 1)
    layers = split_layers(image, ring, probability)
    inside = layers.person >= PERSON_FROM
    row = h // 2 + 40
    cols = np.nonzero(inside[row])[0]
    left, right = layers.plate[row, cols[0]:cols[0] + 20], layers.plate[row, cols[-1] - 19:cols[-1] + 1]
    assert np.abs(left.astype(int) - pink).max() < 5, left.mean(0)
    assert np.abs(right.astype(int) - white).max() < 5, right.mean(0)
    assert not inside[:, 0].any()
    np.testing.assert_array_equal(layers.plate[~inside], image[~inside])  # the rest is the photo itself
