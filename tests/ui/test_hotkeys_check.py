"""The global hotkeys' doctor check."""

from __future__ import annotations

import pytest

from livehead.ui import hotkeys


def test_hotkeys_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    [check] = hotkeys.doctor_checks()
    assert check.status == "warn" and check.fix
