"""A CLI that fits habits (issue 14, point 8): each habit a new user hit, through the real
``opsledger`` command (click's runner in process; a subprocess where the process itself is
the point: start-up imports, the catch-all for unexpected errors)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from importlib import resources
from pathlib import Path
from uuid import UUID

import click
import pytest
from click.testing import CliRunner, Result

from opsledger.cli.main import main
from opsledger.serialize import dumps, fmt_time, to_jsonable

SOLO = "tenant-solo"
DAY = ["--day", "2026-11-03", "--as-of", "2026-11-04T00:00:00Z"]
#: The one time format of every output.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
    """``opsledger ARGS`` in process; asserts the exit status."""
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled one-day Pumuki sample, imported and swept."""
    url = f"sqlite:///{tmp_path_factory.mktemp('habits') / 'habits.db'}"
    sample = resources.files("opsledger.samples") / "saas-ingestion-audit.ndjson"
    with resources.as_file(sample) as path:
        run("import", "pumuki-audit", str(path), "--register-unknown", "--db", url)
    return url


def incident_id(db: str) -> str:
    rows = json.loads(run("incident", "list", "--all-tenants", "--json", "--db", db).stdout)
    return str(rows[0]["id"])


# ---- one serializer, one time format -------------------------------------------------------
class Colour(Enum):
    RED = "red"


@dataclass(frozen=True)
class Row:
    at: datetime
    colour: Colour
    total: Decimal
    id: UUID


def test_the_serializer_writes_every_time_as_rfc3339_utc_with_milliseconds() -> None:
    paris = timezone(timedelta(hours=1))
    row = Row(datetime(2026, 11, 3, 8, 0, 0, 123999, tzinfo=paris), Colour.RED,
              Decimal("12"), UUID(int=7))
    data = json.loads(dumps({"rows": [row], "tags": {"b", "a"}, "ratio": Decimal("0.5")}))
    assert data == {"rows": [{"at": "2026-11-03T07:00:00.123Z", "colour": "red", "total": 12,
                              "id": "00000000-0000-0000-0000-000000000007"}],
                    "tags": ["a", "b"], "ratio": 0.5}
    assert to_jsonable(row) == data["rows"][0]
    assert fmt_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"


def test_tenant_list_prints_one_time_format_in_text_and_json(db: str) -> None:
    listed = json.loads(run("tenant", "list", "--json", "--db", db).stdout)
    assert TIME.fullmatch(listed[0]["registered_at"])
    text = run("tenant", "list", "--db", db).stdout
    assert listed[0]["registered_at"] in text and "+00:00" not in text
    shown = run("tenant", "show", SOLO, "--db", db).stdout
    assert listed[0]["registered_at"] in shown and "+00:00" not in shown


# ---- --db before or after the command ----------------------------------------------------
def test_db_is_accepted_before_or_after_the_command_and_the_nearest_wins(
    db: str, tmp_path: Path
) -> None:
    after = run("slo", "--tenant", SOLO, *DAY, "--json", "--db", db).stdout
    before = run("--db", db, "slo", "--tenant", SOLO, *DAY, "--json").stdout
    assert after == before and json.loads(after)[0]["operations"] > 0
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    nearest = run("--db", empty, "tenant", "list", "--json", "--db", db).stdout
    assert json.loads(nearest)[0]["tenant_id"] == SOLO
    from_env = run("tenant", "list", "--json", env={"OPSLEDGER_DB": empty}).stdout
    assert json.loads(from_env) == []
    assert json.loads(run("--db", db, "tenant", "list", "--json",
                          env={"OPSLEDGER_DB": empty}).stdout)[0]["tenant_id"] == SOLO


# ---- one meaning per time flag ------------------------------------------------------------
def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def _leaves(group: click.Command, path: tuple[str, ...] = ()
            ) -> list[tuple[tuple[str, ...], click.Command]]:
    if isinstance(group, click.Group):
        found = [] if not group.invoke_without_command or not path else [(path, group)]
        for name, sub in sorted(group.commands.items()):
            found += _leaves(sub, (*path, name))
        return found
    return [(path, group)]


def test_no_visible_time_flag_breaks_at_for_writes_and_as_of_for_reads() -> None:
    """``--now`` survives only as a hidden alias; ``--at`` and ``--as-of`` never share a
    command visibly, so a read has no visible ``--at``."""
    for path, command in _leaves(main):
        visible = {o for opt in _options(command) if not opt.hidden for o in opt.opts}
        assert "--now" not in visible, path
        assert not {"--at", "--as-of"} <= visible, path


def test_old_time_flags_still_work_as_hidden_aliases(db: str) -> None:
    new = run("slo", "--tenant", SOLO, *DAY, "--json", "--db", db).stdout
    old = run("slo", "--tenant", SOLO, "--day", "2026-11-03", "--now", "2026-11-04T00:00:00Z",
              "--json", "--db", db).stdout
    assert new == old
    bad = run("slo", "--tenant", SOLO, "--as-of", "yesterday", "--db", db, code=2)
    assert "--as-of" in bad.output and "--now" not in bad.output
    swept = run("scheduler", "run", "--once", "--at", "2026-11-05", "--json", "--db", db)
    assert isinstance(json.loads(swept.stdout), dict)
    run("scheduler", "run", "--once", "--now", "2026-11-05T00:00:00Z", "--db", db)


def test_a_date_is_midnight_utc_wherever_a_time_is_taken(db: str) -> None:
    by_date = run("alerts", "--tenant", SOLO, "--from", "2026-11-03", "--to", "2026-11-04",
                  "--json", "--db", db).stdout
    by_time = run("alerts", "--tenant", SOLO, "--from", "2026-11-03T00:00:00Z",
                  "--to", "2026-11-04T00:00:00Z", "--json", "--db", db).stdout
    assert by_date == by_time and json.loads(by_date)
    assert run("slo", "--tenant", SOLO, "--day", "2026-11-03", "--as-of", "2026-11-04",
               "--json", "--db", db).stdout == run("slo", "--tenant", SOLO, *DAY, "--json",
                                                   "--db", db).stdout


def test_a_time_without_an_offset_is_a_usage_error_quoting_the_text(db: str) -> None:
    naive = run("audit", "list", "--tenant", SOLO, "--from", "2026-11-03T07:00:00",
                "--db", db, code=2)
    assert "'2026-11-03T07:00:00' has no time zone" in naive.output
    assert "datetime.datetime" not in naive.output and "Traceback" not in naive.output


# ---- --json on every command ----------------------------------------------------------------
def test_every_command_has_json() -> None:
    missing = [" ".join(path) for path, command in _leaves(main)
               if not any("--json" in o.opts for o in _options(command))]
    assert missing == []


def test_json_of_the_commands_that_printed_only_text(db: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(run("policy", "show", "--db", db).stdout)
    assert json.loads(run("policy", "validate", str(policy), "--json").stdout)["valid"]
    policy.write_text("[alerts]\nerror_rate_threshold = 2\n")
    refused = run("policy", "validate", str(policy), "--json", code=1)
    assert json.loads(refused.stdout)["error"]["code"] == "invalid_policy"
    out = tmp_path / "export.csv"
    exported = json.loads(run("audit", "export", "--tenant", SOLO, "--out", str(out),
                              "--json", "--db", db).stdout)
    assert exported["rows"] > 0 and out.exists()
    for command in (["projections", "catch-up"], ["projections", "rebuild"]):
        assert "applied" in json.loads(run(*command, "--json", "--db", db).stdout)
    weekly = json.loads(run("review", "weekly", "--week", "2026-W45", "--tenant", SOLO,
                            "--json", "--db", db).stdout)
    assert isinstance(weekly, dict)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    run("tenant", "add", "acme", "--default-retention", "--db", fresh)
    mode = json.loads(run("tenant", "mode", "acme", "local_only", "--reason", "habits",
                          "--json", "--db", fresh).stdout)
    assert mode["mode"] == "local_only" and TIME.fullmatch(mode["registered_at"])


# ---- exit codes, in one table, documented ------------------------------------------------
def test_exit_codes_are_documented_in_help() -> None:
    helped = run("--help").stdout
    for line in ("0  ok", "1  refused or check failed", "2  usage", "3  unexpected error"):
        assert line in helped


def test_exit_codes_refused_check_failed_usage(db: str, tmp_path: Path) -> None:
    refused = run("tenant", "show", "nobody", "--db", db, code=1)
    assert "[unknown_tenant]" in refused.output
    run("incident", "ack", "no-such-incident", "--by", "me", "--db", db, code=1)
    run("import", "pumuki-audit", str(tmp_path / "missing.ndjson"), "--db", db, code=2)
    garbage = tmp_path / "garbage.ndjson"
    garbage.write_text("not json\n{}\n")
    every_line = run("import", "pumuki-audit", str(garbage), "--json", "--db", db, code=1)
    assert len(json.loads(every_line.stdout)["rejected"]) == 2
    run("verify", "--json", "--db", db)


# ---- no traceback for any bad argument ------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["slo", "--tenant", SOLO, "--month", "2026-13"],
    ["slo", "--tenant", SOLO, "--week", "2026-W60"],
    ["slo", "--tenant", SOLO, "--day", "2026-02-30"],
    ["slo", "--tenant", SOLO, "--rolling", "thirty"],
    ["slo", "--tenant", SOLO, "--rolling", "99999999d"],
    ["demo", "--month", "2026-13"],
    ["slo", "--tenant", SOLO, "--from", "2026-11-04", "--to", "2026-11-03"],
    ["sla", "--all-tenants", "--month", "2026-00"],
    ["review", "weekly", "--week", "2026-W99"],
    ["alerts", "--tenant", SOLO, "--as-of", "2026-11-03T25:00:00Z"],
    ["record", "publish", "--tenant", SOLO, "--repo", "r", "--key", "k", "--payload-hash",
     "a" * 64, "--outcome", "success", "--latency-ms", "1", "--attempts", "1", "--at", "soon"],
    ["replay", "--tenant", SOLO, "--from", "2026-11-04", "--to", "2026-11-03"],
])
def test_a_bad_argument_is_one_usage_line_and_exit_2(db: str, args: list[str]) -> None:
    result = run(*args, "--db", db, code=2)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "Error:" in result.output
    assert len(result.output.splitlines()) <= 4


def _subprocess(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


_BROKEN = ("import sys, opsledger.application as a\n"
           "def boom(*args, **kwargs): raise RuntimeError('disk on fire')\n"
           "a.Operations.open = boom\n"
           "sys.argv = ['opsledger', 'tenant', 'list', '--db', 'memory://']\n"
           "from opsledger.cli.main import main\nmain()\n")


def test_an_unexpected_error_is_one_line_and_exit_3_unless_debugging() -> None:
    quiet = _subprocess(_BROKEN, {"OPSLEDGER_DEBUG": ""})
    assert quiet.returncode == 3, quiet.stderr
    assert "Traceback" not in quiet.stderr and "OPSLEDGER_DEBUG=1" in quiet.stderr
    assert "RuntimeError: disk on fire" in quiet.stderr
    loud = _subprocess(_BROKEN, {"OPSLEDGER_DEBUG": "1"})
    assert loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr


# ---- human-readable text ----------------------------------------------------------------
#: A line of a timeline: time, kind, summary.
ENTRY = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z  \S+  \S")


def test_timelines_print_one_line_per_entry_without_reprs(db: str) -> None:
    lines = run("incident", "timeline", incident_id(db), "--db", db).stdout.splitlines()
    assert lines and all(ENTRY.match(line) for line in lines), lines[:3]
    replayed = run("replay", "--tenant", SOLO, "--from", "2026-11-03", "--to", "2026-11-04",
                   "--db", db).stdout
    for text in ("\n".join(lines), replayed):
        assert "datetime.datetime" not in text and "{'" not in text and "+00:00" not in text
    assert "latency_p95_ms=" in replayed
    gate = run("gate", "status", "--db", db).stdout
    assert "owners: primary=" in gate and "{'" not in gate


def test_every_time_in_a_timeline_has_millisecond_precision(db: str) -> None:
    lines = run("incident", "timeline", incident_id(db), "--db", db).stdout.splitlines()
    assert all(TIME.match(line) for line in lines)


def test_numbers_are_formatted_and_every_column_has_a_header(db: str) -> None:
    alerts = run("alerts", "--tenant", SOLO, "--db", db).stdout
    assert " ms " in alerts and " %" in alerts and "e+0" not in alerts
    slo = run("slo", "--tenant", SOLO, *DAY, "--db", db).stdout
    assert re.search(r"\d+\.\d+ %", slo) and re.search(r"\d+ ms", slo)
    header = next(line for line in slo.splitlines() if "availability" in line)
    cells = [c.strip() for c in re.split(r"[┃│]", header)[1:-1]]
    assert len(cells) == 12 and all(cells) and cells[1] == "mode", cells  # point 9: mode shown


# ---- start-up ---------------------------------------------------------------------------
def test_importing_the_cli_does_not_import_the_heavy_libraries() -> None:
    done = _subprocess("import sys, opsledger.cli.main\n"
                       "print(sorted(m for m in ('matplotlib', 'psycopg', 'cryptography',"
                       " 'pydantic', 'eventsourcing', 'apscheduler')"
                       " if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_read_of_a_sqlite_store_loads_no_driver_cipher_chart_or_scheduler(
    tmp_path: Path,
) -> None:
    """PostgreSQL's driver, the cipher, the charts and APScheduler are imported when a
    command needs them, not by every read of a SQLite store."""
    done = _subprocess("import sys\nfrom opsledger import Operations\n"
                       f"ops = Operations.open('sqlite:///{tmp_path / 'r.db'}')\n"
                       "ops.tenants()\n"
                       "print(sorted(m for m in ('psycopg', 'cryptography', 'matplotlib',"
                       " 'apscheduler') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_runs_as_a_program() -> None:
    done = subprocess.run([sys.executable, "-m", "opsledger.cli", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Exit status" in done.stdout

