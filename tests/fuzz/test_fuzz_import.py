"""Issue 13 "Must show": hostile Pumuki lines through the real import, batch after batch.

After every batch: no uncaught exception (exit codes only 0/1/2), every line the
generator marked bad refused with its number (and its file when several files are
imported at once), every good line imported or counted as a duplicate / retry / collision,
``opsledger verify`` and ``projections verify`` exit 0, and every read command answers.
The default tier runs a small profile on SQLite and PostgreSQL; the slow tier runs
>= 100,000 generated lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

H = sys.modules["opsledger_fuzz_hostile"]
F = sys.modules["opsledger_fuzz_harness"]

REGISTERED = {"fz-alpha": H.GOOD_TENANTS["fz-alpha"], "fz-beta": H.GOOD_TENANTS["fz-beta"]}
# Per-tenant reads: one tenant registered by the CLI, one by --register-unknown.
READ_TENANTS = ["fz-alpha", "fz-gamma"]


def run_profile(db: str, tmp: Path, *, seed: int, batches: list[list[int]], huge_bytes: int,
                huge_lines: int, subprocess_every: int, import_seconds: int,
                hostile: float = 0.35) -> F.Fuzz:
    """Register tenants, import the batches, check after each; return the collector.
    A command that runs away ends the profile (reported as such)."""
    fuzz = F.Fuzz(db, tmp, import_seconds=import_seconds, read_seconds=import_seconds)
    for tenant, repos in REGISTERED.items():  # the others arrive through --register-unknown
        repo_args = [arg for repo in repos for arg in ("--repo", repo)]
        fuzz.must_pass(["tenant", "add", tenant, *repo_args, "--default-retention"],
                       subprocess_=True, label="setup")
    generator = H.HostileAudit(seed, huge_bytes=huge_bytes, huge_lines=huge_lines)
    for number, sizes in enumerate(batches):
        files: dict[Path, list[H.Line]] = {}
        for index, size in enumerate(sizes):
            lines = generator.file_lines(size, hostile)
            files[H.write_file(tmp / f"b{number:03d}-f{index}.ndjson", lines)] = lines
        label = f"batch {number} ({'+'.join(map(str, sizes))} lines)"
        fuzz.import_batch(files, subprocess_=number % subprocess_every == 0, label=label)
        fuzz.reads(READ_TENANTS, subprocess_=number % subprocess_every == 0,
                   label=f"after {label}")
        for path in files:
            path.unlink()
        if fuzz.hung:
            fuzz.note(f"stopped after {label}: a command ran away (see above)")
            break
    return fuzz


SMALL = [[700], [500, 400], [300, 300, 300]]


@pytest.mark.slow  # the per-field test (test_field_values, SQLite) stays in the default tier
def test_small_hostile_profile_on_sqlite(tmp_path: Path, sqlite_url: str) -> None:
    fuzz = run_profile(sqlite_url, tmp_path, seed=13, batches=SMALL, huge_bytes=1_500_000,
                       huge_lines=3, subprocess_every=2, import_seconds=45)
    assert not fuzz.problems, fuzz.report()


@pytest.mark.slow
def test_small_hostile_profile_on_postgres(tmp_path: Path, pg_url: str) -> None:
    fuzz = run_profile(pg_url, tmp_path, seed=14, batches=SMALL, huge_bytes=1_500_000,
                       huge_lines=3, subprocess_every=2, import_seconds=45)
    assert not fuzz.problems, fuzz.report()


@pytest.mark.slow
def test_100k_hostile_lines_on_sqlite(tmp_path: Path, sqlite_url: str) -> None:
    batches = [[12_500], [6_000, 6_500], [4_000, 4_000, 4_500], [12_500], [8_000, 4_500],
               [12_500], [5_000, 5_000, 2_500], [12_500]]
    fuzz = run_profile(sqlite_url, tmp_path, seed=100_013, batches=batches,
                       huge_bytes=3_000_000, huge_lines=10, subprocess_every=2,
                       import_seconds=150)
    assert fuzz.lines_imported >= 100_000 or fuzz.problems
    assert not fuzz.problems, fuzz.report()
