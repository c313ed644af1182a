"""bench.liveportrait: a crop the networks cannot take is refused with the sizes that work."""

from __future__ import annotations

import copy
import dataclasses

from _media import needs_extra

needs_extra("neural", "torch")  # a light install skips this module

from livehead.bench import liveportrait
from livehead.models.configs import LIVEPORTRAIT, build_models


def test_too_small_a_crop_names_the_size_that_works(capsys):
    smallest = liveportrait.minimum_crop(build_models(LIVEPORTRAIT))
    assert liveportrait.main(["--size", str(smallest // 2), "--iters", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err
    assert f"--size {smallest // 2} does not fit" in err and f"a multiple of {smallest}" in err


def test_the_smallest_crop_follows_the_architecture():
    """F's down blocks and W's hourglass depth set it; a shallower hourglass takes smaller crops."""
    params = copy.deepcopy(dict(LIVEPORTRAIT.model_params))
    public = liveportrait.minimum_crop(build_models(LIVEPORTRAIT))
    params["warping_module_params"]["dense_motion_params"]["num_blocks"] -= 2
    shallow = dataclasses.replace(LIVEPORTRAIT, model_params=params)
    assert liveportrait.minimum_crop(build_models(shallow)) == public // 4
