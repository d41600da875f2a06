"""Whole scenarios through the ``opsledger`` command, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def cli(*args: str, db: str | None = None, stdin: bytes | None = None,
        env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "opsledger.cli", *args]
    if db:
        command += ["--db", db]
    run_env = {**os.environ, **(env or {})}
    result = subprocess.run(command, input=stdin.decode() if stdin else None,
                            capture_output=True, text=True, env=run_env)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


def go_live_through_the_cli(db: str, version: str = "1.0.0") -> None:
    """The five checks' evidence, then activation (policy §6)."""
    for check in ("saas_ingestion_tests", "typecheck"):
        cli("gate", "record", check, "--result", "pass", "--version", version, "--commit",
            "abc123", "--source", "remote_ci", "--run-ref", "ci#7", "--by", "release", db=db)
    cli("gate", "record", "token_rotation", "--owner", "platform lead", "--process-doc",
        "docs/tokens.md", db=db)
    cli("gate", "record", "oncall_escalation", "--path-doc", "docs/oncall.md",
        "--reachability", "pass", db=db)
    cli("gate", "record", "rollback_to_local", "--result", "pass", db=db)
    activated = cli("gate", "activate", "--version", version, "--json", db=db)
    assert json.loads(activated.stdout) == {"activated": True, "refusals": []}


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(result.stdout)


def test_the_readme_main_command_simulates_a_month_and_writes_the_review(
    tmp_path: Path,
) -> None:
    # README: `opsledger demo` on the default store (sqlite:///opsledger.db in the cwd);
    # three days here to keep the suite quick (the README's runs the whole month).
    env = {k: v for k, v in os.environ.items() if k != "OPSLEDGER_DB"}
    done = subprocess.run([sys.executable, "-m", "opsledger.cli", "demo", "--days", "3"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    assert "monthly review written to opsledger-demo/index.html" in done.stdout
    assert (tmp_path / "opsledger.db").exists()
    review = tmp_path / "opsledger-demo"
    assert (review / "index.html").read_text().count("data:image/png;base64,") >= 4
    assert len(list(review.glob("*.png"))) >= 4


def test_the_sample_demo_imports_the_sample_and_prints_the_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPSLEDGER_DB"}
    first = subprocess.run([sys.executable, "-m", "opsledger.cli", "demo", "--sample"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    assert "imported 571" in first.stdout and "rejected 0" in first.stdout
    assert "AUTH_POLICY_VIOLATION" in first.stdout and "526" in first.stdout
    assert (tmp_path / "opsledger.db").exists()
    second = subprocess.run([sys.executable, "-m", "opsledger.cli", "demo", "--sample",
                             "--json"],
                            cwd=tmp_path, capture_output=True, text=True, env=env, check=True)
    report = json.loads(second.stdout)
    assert report["import"]["imported"] == 0 and report["import"]["duplicates"] == 571
    assert sum(r["operations"] for r in report["audit"]) == 571


@pytest.mark.policy("5.audit_trail")
def test_import_from_stdin_with_json_summary_and_reported_bad_lines(
    tmp_path: Path, sample_audit: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    lines = sample_audit.read_bytes().splitlines(keepends=True)[:50]
    lines.insert(10, b"garbage\n")
    result = as_json(cli("import", "pumuki-audit", "-", "--register-unknown", "--json",
                         db=db, stdin=b"".join(lines)))
    assert (result["lines"], result["imported"]) == (51, 50)
    assert result["rejected"][0]["line"] == 11
    assert set(result) == {"lines", "imported", "duplicates", "retries", "collisions",
                           "key_missing", "rejected", "late_facts"}
    strict = cli("import", "pumuki-audit", "-", "--strict", "--json", db=db,
                 stdin=b"".join(lines), check=False)
    assert strict.returncode == 1 and "line 11" in strict.stderr


def test_the_store_comes_from_opsledger_db_when_no_db_option(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    cli("tenant", "add", "acme", "--repo", "web", "--default-retention", env={"OPSLEDGER_DB": url})
    shown = as_json(cli("tenant", "show", "acme", "--json", db=url))
    assert shown["repositories"] == ["web"]


@pytest.mark.policy("5.scoping")
@pytest.mark.policy("5.idempotency_key")
def test_tenants_records_and_audit_queries_through_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    refused = cli("tenant", "add", "acme", "--repo", "web", "--default-retention", "--mode",
                  "saas", "--token-owner", "carol", db=db, check=False)
    assert refused.returncode == 1 and "go-live gate is not active" in refused.stderr
    go_live_through_the_cli(db)
    cli("tenant", "add", "acme", "--repo", "web", "--default-retention", "--mode", "saas",
        "--token-owner", "carol",
        "--by", "alice", "--at", "2026-11-03T08:00:00Z", db=db)
    cli("tenant", "add", "globex", "--repo", "core", db=db)
    cli("tenant", "add-repo", "acme", "api", db=db)
    listed = as_json(cli("tenant", "list", "--json", db=db))
    assert [(t["tenant_id"], t["governance"] is not None) for t in listed] == [
        ("acme", True), ("globex", False)]
    base = ["record", "publish", "--tenant", "acme", "--repo", "web", "--payload-hash", "a" * 64,
            "--outcome", "success", "--latency-ms", "120", "--attempts", "1"]
    first = as_json(cli(*base, "--key", "k1", "--at", "2026-11-03T09:00:00Z", "--json", db=db))
    assert first["status"] == "recorded" and not first["collision"]
    collision = as_json(cli(*base[:7], "b" * 64, *base[8:], "--key", "k1",
                            "--at", "2026-11-03T09:01:00Z", "--json", db=db))
    assert collision["collision"]
    missing_key = cli(*base, "--at", "2026-11-03T09:02:00Z", db=db, check=False)
    assert missing_key.returncode == 2 and "missing_idempotency_key" in missing_key.stderr
    naive = cli(*base, "--key", "k2", "--at", "2026-11-03T09:02:00", db=db, check=False)
    assert naive.returncode == 2 and "time zone" in naive.stderr
    out_of_scope = cli(*base[:5], "billing", *base[6:], "--key", "k3",
                       "--at", "2026-11-03T09:03:00Z", db=db, check=False)
    assert out_of_scope.returncode == 1 and "repository_out_of_scope" in out_of_scope.stderr
    no_retention = cli("record", "publish", "--tenant", "globex", "--repo", "core", "--key", "k",
                       "--payload-hash", "c" * 64, "--outcome", "success", "--latency-ms", "1",
                       "--attempts", "1", "--at", "2026-11-03T09:04:00Z", db=db, check=False)
    assert "retention_policy_missing" in no_retention.stderr
    rows = as_json(cli("audit", "list", "--tenant", "acme", "--json", db=db))
    assert [r["collision"] for r in rows] == [0, 1]
    refusals = as_json(cli("audit", "refusals", "--all-tenants", "--json", db=db))
    assert sorted(r["reason"] for r in refusals) == ["repository_out_of_scope",
                                                     "retention_policy_missing"]
    unscoped = cli("audit", "list", db=db, check=False)
    assert unscoped.returncode != 0 and "--all-tenants" in unscoped.stderr
    status = as_json(cli("projections", "status", "--json", db=db))
    assert status[0]["position"] == status[0]["head"]


def test_policy_show_validate_and_adopt(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    shown = as_json(cli("policy", "show", "--json", db=db))
    assert shown["alerts"]["error_rate_threshold"] == 0.02
    assert "[slo]" in cli("policy", "show", db=db).stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts]\nerror_rate_threshold = 2\n")
    refused = cli("policy", "validate", str(bad), check=False)
    assert refused.returncode == 1 and "alerts.error_rate_threshold = 2" in refused.stderr
    good = tmp_path / "tuned.toml"
    good.write_text("[alerts]\nerror_rate_threshold = 0.03\n")
    cli("policy", "adopt", str(good), "--by", "review", "--reason", "tuning",
        "--effective-at", "2026-12-01T00:00:00Z", db=db)
    before = as_json(cli("policy", "show", "--json", "--at", "2026-11-30T00:00:00Z", db=db))
    after = as_json(cli("policy", "show", "--json", "--at", "2026-12-01T00:00:00Z", db=db))
    assert (before["alerts"]["error_rate_threshold"], after["alerts"]["error_rate_threshold"]) == (
        0.02, 0.03)


def test_simulate_writes_importable_lines(tmp_path: Path) -> None:
    out, snaps = tmp_path / "sim.ndjson", tmp_path / "snaps.ndjson"
    cli("simulate", "--days", "1", "--tenants", "2", "--seed", "5", "--out", str(out),
        "--snapshots", str(snaps))
    db = f"sqlite:///{tmp_path / 'sim.db'}"
    summary = as_json(cli("import", "pumuki-audit", str(out), "--register-unknown", "--json",
                          db=db))
    assert summary["imported"] + summary["duplicates"] == summary["lines"] > 1000
    assert summary["rejected"] == []
