"""Hostile Pumuki lines through the real ``opsledger import`` command (issue 13, findings 2,
5 and the import parts of 6), on a SQLite file and on PostgreSQL.

Every bad line is refused with its file, line number and field, quoting little; the valid
lines around it are imported, and the store equals one that only ever saw the valid lines;
``verify`` and ``projections verify`` hold and the read commands answer afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from opsledger.domain.bounds import MAX_ATTEMPTS, MAX_LATENCY_MS, MAX_LINE_BYTES

from opsledger import Operations, import_pumuki_audit
from opsledger.cli.main import main

BIG = 10 * 1024 * 1024


def run(*args: str, db: str, stdin: bytes | None = None) -> Result:
    """One ``opsledger`` command in-process (the CLI a user runs), with ``--db``."""
    return CliRunner().invoke(main, [*args, "--db", db], input=stdin, catch_exceptions=False)


def flat(text: str) -> str:
    """Output with the console's line wrapping undone."""
    return " ".join(text.split())


def sample_lines(sample_audit: Path, n: int = 40) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sample_audit.read_bytes().splitlines()[:n]]


def dump(objects: list[Any]) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n"
                    for o in objects)


def hostile(base: dict[str, Any]) -> list[tuple[bytes, str | None, str]]:
    """(line, field expected in the refusal, error code expected) for every bad kind."""
    def with_(**changes: Any) -> bytes:
        line = {**base, "event_id": f"hostile-{len(changes)}-{sorted(changes)[0]}", **changes}
        return json.dumps(line).encode()

    missing = {k: v for k, v in base.items() if k != "tenant_id"}
    missing["endpoint"] = "m" * 60_000
    cases: list[tuple[bytes, str | None, str]] = [
        (with_(latency_ms=2**63), "latency_ms", "invalid_record"),
        (with_(attempts=2**63), "attempts", "invalid_record"),
        (with_(attempts=2**64), "attempts", "invalid_record"),
        (with_(latency_ms=MAX_LATENCY_MS + 1), "latency_ms", "invalid_record"),
        (with_(attempts=MAX_ATTEMPTS + 1), "attempts", "invalid_record"),
        (with_(status=600), "status", "invalid_record"),
        (with_(event_at="9999-12-31T23:59:59Z"), "event_at", "invalid_record"),
        (with_(event_at="1999-12-31T23:59:59.999Z"), "event_at", "invalid_record"),
        (with_(event_at="2100-01-01T00:00:00Z"), "event_at", "invalid_record"),
        (with_(event_at="9999-12-31T23:59:59-05:00"), "event_at", "invalid_record"),
        (with_(event_at="0001-01-01T00:00:00+05:00"), "event_at", "invalid_record"),
        (with_(event_at=1793000000), "event_at", "invalid_record"),
        (with_(latency_ms="145"), "latency_ms", "invalid_record"),
        (with_(attempts="1"), "attempts", "invalid_record"),
        (with_(status="202"), "status", "invalid_record"),
        (with_(retryable="false"), "retryable", "invalid_record"),
        (with_(latency_ms=145.0), "latency_ms", "invalid_record"),
        (with_(attempts=True), "attempts", "invalid_record"),
        (with_(tenant_id="x" * 100_000), "tenant_id", "invalid_record"),
        (with_(repository_id="repo\x1b[31m"), "repository_id", "invalid_record"),
        (json.dumps(missing).encode(), "tenant_id", "invalid_record"),
        (json.dumps({**base, "endpoint": "e" * BIG}).encode(), None, "line_too_long"),
    ]
    for name in ("tenant_id", "repository_id", "idempotency_key", "event_id", "request_id",
                 "endpoint", "payload_hash", "outcome", "error_code"):
        cases.append((with_(**{name: f"{base.get(name) or 'x'}\x00nul"}), name,
                      "invalid_record"))
    return cases


def mixed_file(sample_audit: Path) -> tuple[bytes, list[dict[str, Any]], dict[int, Any]]:
    """Valid sample lines with every hostile line between them: (file, valid, bad by line)."""
    valid = sample_lines(sample_audit)
    objects: list[Any] = []
    bad: dict[int, tuple[str | None, str]] = {}
    cases = hostile(valid[0])
    for index, line in enumerate(valid):
        objects.append(line)
        if index < len(cases):
            objects.append(cases[index][0])
            bad[len(objects)] = cases[index][1:]
    return dump(objects), valid, bad


def reads_answer(db: str) -> None:
    """verify, projections verify and the read commands all exit 0."""
    for args in (["verify"], ["projections", "verify"], ["projections", "status"],
                 ["audit", "list", "--all-tenants", "--json"],
                 ["audit", "summary", "--all-tenants", "--json"],
                 ["audit", "refusals", "--all-tenants"], ["audit", "actions", "--all-tenants"],
                 ["slo", "--all-tenants", "--month", "2026-11", "--json"],
                 ["alerts", "--all-tenants", "--json"], ["tenant", "list"],
                 ["incident", "list", "--all-tenants"]):
        result = run(*args, db=db)
        assert result.exit_code == 0, (args, result.output[-2000:])


def reference(valid: list[dict[str, Any]], snapshot: Any) -> Any:
    with Operations.open("memory://") as ops:
        import_pumuki_audit(ops, [dump(valid).splitlines()], register_unknown=True)
        ops.advance_by_event_time()
        return snapshot(ops)


@pytest.mark.policy("5.audit_trail")
def test_every_hostile_line_is_refused_by_file_line_and_field_and_the_rest_imported(
    db: str, sample_audit: Path, tmp_path: Path, snapshot: Any
) -> None:
    content, valid, bad = mixed_file(sample_audit)
    path = tmp_path / "hostile.ndjson"
    path.write_bytes(content)
    result = run("import", "pumuki-audit", str(path), "--register-unknown", "--json", db=db)
    assert result.exit_code == 0, result.output[-2000:]
    summary = json.loads(result.stdout)
    assert summary["imported"] == len(valid)
    refused = {r["line"]: r for r in summary["rejected"]}
    assert sorted(refused) == sorted(bad)
    for line, (field, code) in bad.items():
        assert refused[line]["file"] == str(path)
        assert refused[line]["field"] == field, refused[line]
        assert refused[line]["error"].startswith(code), refused[line]
        assert len(refused[line]["error"]) < 400, refused[line]  # never the record
    assert len(result.stdout) < 40_000
    with Operations.open(db) as ops:
        assert snapshot(ops) == reference(valid, snapshot)
    reads_answer(db)


def test_the_text_summary_names_each_file_and_line_and_quotes_little(
    db: str, sample_audit: Path, tmp_path: Path
) -> None:
    first, second = sample_lines(sample_audit, 6)[:3], sample_lines(sample_audit, 6)[3:]
    a, b = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    a.write_bytes(dump([first[0], {**first[1], "latency_ms": "9" * 5000}, first[2]]))
    b.write_bytes(dump([second[0], {k: v for k, v in second[1].items() if k != "outcome"},
                        second[2]]))
    text = run("import", "pumuki-audit", str(a), str(b), "--register-unknown", db=db)
    assert text.exit_code == 0, text.output
    assert f"{a}: line 2: invalid_record: latency_ms" in flat(text.stdout)
    assert f"{b}: line 2: invalid_record: outcome: Field required" in flat(text.stdout)
    assert "9" * 100 not in text.stdout
    again = run("import", "pumuki-audit", str(a), str(b), "--register-unknown", "--json", db=db)
    rejected = json.loads(again.stdout)["rejected"]
    assert [(r["file"], r["line"], r["field"]) for r in rejected] == [
        (str(a), 2, "latency_ms"), (str(b), 2, "outcome")]


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_an_offset_past_year_9999_or_1_refuses_that_line_only(
    db: str, sample_audit: Path, tmp_path: Path, when: str, snapshot: Any
) -> None:
    valid = sample_lines(sample_audit, 30)
    path = tmp_path / "offset.ndjson"
    path.write_bytes(dump([*valid[:20], {**valid[20], "event_at": when}, *valid[21:]]))
    result = run("import", "pumuki-audit", str(path), "--register-unknown", "--json", db=db)
    assert result.exit_code == 0, result.output[-2000:]
    summary = json.loads(result.stdout)
    assert summary["imported"] == 29
    assert [(r["line"], r["field"]) for r in summary["rejected"]] == [(21, "event_at")]
    with Operations.open(db) as ops:
        assert snapshot(ops) == reference(valid[:20] + valid[21:], snapshot)
    reads_answer(db)


def test_strict_refuses_an_offset_overflow_cleanly_and_writes_nothing(
    db: str, sample_audit: Path, tmp_path: Path, snapshot: Any
) -> None:
    valid = sample_lines(sample_audit, 10)
    path = tmp_path / "strict.ndjson"
    path.write_bytes(dump([*valid[:4], {**valid[4], "event_at": "9999-12-31T23:59:59-05:00"},
                           *valid[5:]]))
    with Operations.open(db) as ops:
        before = snapshot(ops)
    for source, stdin in ((str(path), None), ("-", path.read_bytes())):
        result = run("import", "pumuki-audit", source, "--strict", "--register-unknown", db=db,
                     stdin=stdin)
        assert result.exit_code == 1  # refused (exit-code table, cli/common.py)
        assert "Traceback" not in result.output
        assert "import_refused" in result.stderr and "line 5" in flat(result.stderr)
        assert "event_at" in result.stderr
    with Operations.open(db) as ops:
        assert snapshot(ops) == before
    reads_answer(db)


def test_strict_from_stdin_imports_everything_when_every_line_is_good(
    db: str, sample_audit: Path
) -> None:
    valid = sample_lines(sample_audit, 25)
    result = run("import", "pumuki-audit", "-", "--strict", "--register-unknown", "--json",
                 db=db, stdin=dump(valid))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 25


def test_a_bom_before_the_first_line_is_accepted(db: str, sample_audit: Path,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "bom.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + dump(sample_lines(sample_audit, 5)))
    result = run("import", "pumuki-audit", str(path), "--register-unknown", "--json", db=db)
    summary = json.loads(result.stdout)
    assert (summary["imported"], summary["rejected"]) == (5, [])
    strict = run("import", "pumuki-audit", str(path), "--strict", "--json", db=db)
    assert json.loads(strict.stdout)["duplicates"] == 5


def test_a_ten_megabyte_line_is_refused_unread_without_echo(
    sqlite_url: str, sample_audit: Path, tmp_path: Path
) -> None:
    valid = sample_lines(sample_audit, 3)
    path = tmp_path / "huge.ndjson"
    huge = {**valid[1], "tenant_id": "t" * BIG}
    path.write_bytes(dump([valid[0], huge, valid[2]]) + b"z" * (MAX_LINE_BYTES + 1))
    result = run("import", "pumuki-audit", str(path), "--register-unknown", db=sqlite_url)
    assert result.exit_code == 0, result.output[-2000:]
    assert "lines 4  imported 2" in result.stdout
    assert f"{path}: line 2: line_too_long" in flat(result.stdout)
    assert f"{path}: line 4: line_too_long" in flat(result.stdout)
    assert len(result.output) < 5_000
    strict = run("import", "pumuki-audit", str(path), "--strict", db=sqlite_url)
    assert strict.exit_code == 1 and "line 2: line_too_long" in flat(strict.stderr)
    assert len(strict.output) < 2_000


def test_snapshot_lines_are_bounded_and_named_too(db: str, sample_dir: Path,
                                                  sample_audit: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.ndjson"
    audit.write_bytes(dump(sample_lines(sample_audit, 20)))
    run("import", "pumuki-audit", str(audit), "--register-unknown", db=db)
    rows = [json.loads(x) for x in
            (sample_dir / "downstream-snapshots.ndjson").read_bytes().splitlines()[:6]]
    rows[1]["visible_at"] = "9999-12-31T23:59:59-05:00"
    rows[2]["tenant_id"] = "tenant-solo\x00"
    rows[3]["visible_at"] = 1793000000
    path = tmp_path / "snapshots.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + dump(rows) + b"{" + b"x" * BIG + b"\n")
    result = run("import", "snapshots", str(path), "--json", db=db)
    assert result.exit_code == 0, result.output[-2000:]
    summary = json.loads(result.stdout)
    assert [(r["file"], r["line"], r["field"]) for r in summary["rejected"]] == [
        (str(path), 2, "visible_at"), (str(path), 3, "tenant_id"), (str(path), 4, "visible_at"),
        (str(path), 7, None)]
    assert summary["recorded"] + summary["duplicates"] == 3
    strict = run("import", "snapshots", str(path), "--strict", db=db)
    assert strict.exit_code == 1 and "line 2" in flat(strict.stderr)
    assert "Traceback" not in strict.output
    reads_answer(db)
