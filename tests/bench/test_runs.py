"""bench.runs: the synthetic source loops over its frames like a clip with loop=True."""

from __future__ import annotations

import numpy as np

from livehead.bench.runs import ScriptedSource


class TestScriptedSource:
    def test_loops_and_reopens(self) -> None:
        source = ScriptedSource(size=(160, 120), seconds=0.2, fps=10.0)
        frames = [source.read() for _ in range(3)]
        w, h = source.size
        assert frames[0].shape == (h, w, 3) and frames[0].dtype == np.uint8
        assert w <= 160 and h <= 120 and (w == 160 or h == 120), "the avatar is fitted inside the size asked for"
        assert not np.array_equal(frames[0], frames[1]), "the scripted face moves"
        np.testing.assert_array_equal(frames[2], frames[0])  # two frames, then the loop starts again
        source.read()
        source.reopen()
        np.testing.assert_array_equal(source.read(), frames[0])
        source.close()
