"""eval.methods: the still baseline, engines that cannot run are reported, a failing prepare too."""

from __future__ import annotations

import numpy as np
import pytest

from livehead.avatars.photo import load_avatar
from livehead.config import LiveHeadConfig
from livehead.eval.methods import STILL, Method, StillAnimator, prepare_state, resolve_engines

from _media import media

PHOTO = "aniportrait_Aragaki.png"


@pytest.fixture(scope="module")
def avatar():
    return load_avatar(media(PHOTO), working_size=(320, 320))


class TestStillAnimator:
    def test_renders_the_avatar_unchanged(self, avatar) -> None:
        still = StillAnimator()
        out = still.render(still.prepare(avatar), driving=None)
        np.testing.assert_array_equal(out, avatar.image)

    def test_describes_itself_as_the_baseline(self) -> None:
        assert StillAnimator().describe()["engine"] == STILL


class TestResolveEngines:
    def test_still_first_and_unknown_engine_reported(self) -> None:
        methods, report = resolve_engines(("mesh", "no-such-engine", STILL), LiveHeadConfig())
        assert [m.name for m in methods] == [STILL, "mesh"]
        assert all(m.smoothing for m in methods)
        assert list(report) == [STILL, "mesh", "no-such-engine"]
        assert report["mesh"]["available"] and report["mesh"]["describe"]["engine"] == "mesh"
        assert report["no-such-engine"]["available"] is False and report["no-such-engine"]["describe"] is None
        assert "no-such-engine" in report["no-such-engine"]["reason"]


class Broken:
    def prepare(self, avatar):
        raise RuntimeError("checkpoint missing (test)")


class TestPrepareState:
    def test_failing_prepare_marks_the_engine_unavailable(self, avatar) -> None:
        report = {"broken": {"available": True, "reason": None, "describe": {}}}
        method = Method("broken", "broken", Broken(), True)
        assert prepare_state(method, avatar, report) is None
        assert report["broken"]["available"] is False
        assert report["broken"]["reason"] == "RuntimeError: checkpoint missing (test)"

    def test_unavailable_engine_is_not_prepared_again(self, avatar) -> None:
        report = {"broken": {"available": False, "reason": "earlier", "describe": None}}
        assert prepare_state(Method("broken", "broken", Broken(), True), avatar, report) is None
        assert report["broken"]["reason"] == "earlier"

    def test_fresh_state_each_time(self, avatar) -> None:
        report = {STILL: {"available": True, "reason": None, "describe": {}}}
        method = Method(STILL, STILL, StillAnimator(), True)
        a, b = prepare_state(method, avatar, report), prepare_state(method, avatar, report)
        assert a is not None and a is not b
