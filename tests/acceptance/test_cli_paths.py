"""Paths an operator mistypes are usage errors (exit 2) naming the option or file, never a
traceback, and nothing is written: a missing input file, an ``--out`` in a missing folder."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from opsledger.cli.main import main


def test_a_missing_input_file_is_a_usage_error_and_opens_no_store(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    for command in (["import", "pumuki-audit"], ["import", "snapshots"]):
        result = CliRunner().invoke(main, [*command, str(tmp_path / "none.ndjson"),
                                           "--db", f"sqlite:///{db}"])
        assert result.exit_code == 2, result.output
        assert "none.ndjson' does not exist" in result.output
        assert "Traceback" not in result.output
    assert not db.exists()


def test_an_out_file_in_a_missing_folder_is_a_usage_error(sample_audit: Path,
                                                           tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["import", "pumuki-audit", str(sample_audit),
                                "--register-unknown", "--db", db]).exit_code == 0
    missing = tmp_path / "nodir"
    for args in (["audit", "export", "--tenant", "tenant-solo", "--format", "json"],
                 ["checkpoint", "--key-file", str(sample_audit)]):
        result = runner.invoke(main, [*args, "--out", str(missing / "out.json"), "--db", db])
        assert result.exit_code == 2, result.output
        assert "--out" in result.output and "does not exist" in result.output
        assert not missing.exists()
