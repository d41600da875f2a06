"""Files private to the user (issue 13, point 7): through the CLI a user runs, the database
(with its ``-wal``/``-shm``), the key file, checkpoints and exports are created ``0600``
whatever the umask allows; a key file that group or others can read is reported on open
(a warning, not a refusal) and by :func:`~opsledger.store.keys.key_file_exposure`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsledger import Operations
from opsledger.store.files import create_private, exposure, open_private, write_private
from opsledger.store.keys import key_file_exposure

SAMPLE = Path(__file__).resolve().parents[2] / "opsledger" / "samples"


def _cli(url: str, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    """One CLI command in a process whose umask lets group and others read new files."""
    return subprocess.run([sys.executable, "-m", "opsledger.cli", *args, "--db", url],
                          capture_output=True, text=True, umask=umask)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """This process's umask set to 022 for the test (the usual default)."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _import_sample(url: str) -> None:
    done = _cli(url, "import", "pumuki-audit", str(SAMPLE / "saas-ingestion-audit.ndjson"),
                "--register-unknown", "--json")
    assert done.returncode == 0, done.stderr


def test_import_creates_the_database_its_wal_and_the_key_file_0600(
    tmp_path: Path, loose_umask: None,
) -> None:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    _import_sample(url)

    created = {p.name: _mode(p) for p in tmp_path.iterdir()}
    assert created["store.db"] == 0o600 and created["store.db.keys"] == 0o600
    assert set(created.values()) == {0o600}, created
    with Operations.open(url) as ops:  # a reader and a writer: SQLite makes -wal and -shm
        ops.catch_up()
        ops.register_tenant("another", repositories=["r"], governance=None, by="t")
        live = {p.name: _mode(p) for p in tmp_path.iterdir()}
    assert {"store.db-wal", "store.db-shm"} <= set(live)
    assert set(live.values()) == {0o600}, live


def test_a_stricter_umask_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    done = _cli(f"sqlite:///{db}", "tenant", "list", umask=0o277)
    assert done.returncode == 0, done.stderr
    assert _mode(db) == 0o400 and _mode(Path(f"{db}.keys")) == 0o400


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def test_checkpoints_and_exports_are_written_0600_even_over_a_world_readable_file(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    _import_sample(url)
    key = tmp_path / "checkpoint.key"
    write_private(key, b"k3y\n")
    export, point = tmp_path / "export.csv", tmp_path / "checkpoint.json"
    for path in (export, point):
        path.write_text("old")
        path.chmod(0o644)

    done = _cli(url, "checkpoint", "--key-file", str(key), "--out", str(point))
    assert done.returncode == 0, done.stderr
    done = _cli(url, "audit", "export", "--tenant", "tenant-solo", "--out", str(export))
    assert done.returncode == 0, done.stderr

    assert _mode(point) == 0o600 and point.read_bytes().startswith(b"{")
    assert _mode(export) == 0o600 and export.read_text().count("\n") > 500
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    verified = _cli(url, "verify", "--checkpoint", str(point), "--key-file", str(key))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_exposed_key_file_is_reported_on_open_and_still_opens(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    _import_sample(url)
    keys = Path(f"{db}.keys")
    assert key_file_exposure(keys) is None
    quiet = _cli(url, "tenant", "list")
    assert quiet.returncode == 0 and "key file" not in quiet.stderr

    keys.chmod(0o640)
    warned = _cli(url, "tenant", "list")

    assert warned.returncode == 0 and "tenant-solo" in warned.stdout
    assert "group-readable" in warned.stderr and f"chmod 600 {keys}" in warned.stderr
    finding = key_file_exposure(keys)
    assert finding is not None and "group-readable (mode 0640)" in finding
    keys.chmod(0o606)
    assert "others-readable, others-writable (mode 0606)" in (key_file_exposure(keys) or "")
    assert key_file_exposure(tmp_path / "missing.keys") is None


def test_a_failed_private_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("before")
    with pytest.raises(RuntimeError), open_private(target) as handle:
        handle.write(b"half")
        raise RuntimeError("export failed")
    assert target.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert create_private(tmp_path / "new") is True and create_private(tmp_path / "new") is False
    assert exposure(tmp_path / "new") is None
