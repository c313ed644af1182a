"""bench.liveportrait: a crop too small for the networks is refused with the size that works."""

from __future__ import annotations

from _media import needs_extra

needs_extra("neural", "torch")  # a light install skips this module

from livehead.bench import liveportrait


def test_too_small_a_crop_names_the_size_that_works(capsys):
    assert liveportrait.main(["--size", "64", "--iters", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err
    assert "--size 64 is too small" in err and "--size 128 or more" in err
