"""`livehead models`: the catalog table, JSON, --verify of a broken file, dispatch through the CLI."""

from __future__ import annotations

import json

from _media import needs_extra
from helpers import place_checkpoint
from livehead.commands.models import main
from livehead.models.catalog import CATALOG


class TestMain:
    def test_table(self, data_dir, capsys):
        place_checkpoint(data_dir, "00000189-checkpoint.pth.tar")
        assert main([]) == 0
        out = capsys.readouterr().out
        assert "vox-adv-cpk.pth.tar" in out and "missing" in out
        assert f"found: {data_dir / 'checkpoints' / '00000189-checkpoint.pth.tar'}" in out
        assert str(data_dir / "checkpoints") in out and "--checkpoint PATH" in out

    def test_json(self, data_dir, capsys):
        assert main(["--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["checkpoints_dir"] == str(data_dir / "checkpoints")
        assert {row["name"]: row["present"] for row in data["checkpoints"]} == {e.name: False for e in CATALOG}

    def test_verify_reports_broken_file(self, data_dir, capsys):
        needs_extra("neural", "torch")  # --verify loads the file; the listing above needs no torch
        place_checkpoint(data_dir, "vox-cpk.pth.tar", b"")
        assert main(["--verify"]) == 1
        out = capsys.readouterr().out
        assert "BROKEN" in out and "empty" in out

    def test_dispatched_by_cli(self, data_dir, capsys):
        from livehead.cli import main as cli_main

        assert cli_main(["models", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["checkpoints_dir"] == str(data_dir / "checkpoints")
