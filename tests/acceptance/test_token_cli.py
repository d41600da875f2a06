"""``opsledger token …`` through the real command, on a SQLite file: the token printed once
and working, lists without secrets, rotation with an overlap, revocation, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opsledger import Operations, Unauthenticated


def cli(*args: str, db: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``opsledger ARGS --db DB`` as a user runs it (``--db`` after the command)."""
    result = subprocess.run([sys.executable, "-m", "opsledger.cli", *args, "--db", db],
                            capture_output=True, text=True, env={**os.environ})
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


def _secret(token: str) -> str:
    return token[len("olt_") + 16 + 1:]


def _authenticate(db: str, token: str, needs: str | None = None,
                  at: datetime | None = None) -> Any:
    with Operations.open(db) as ops:
        return ops.authenticate(token, needs=needs, at=at)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite file with the tenant ``acme``."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    cli("tenant", "add", "acme", "--default-retention", db=url)
    return url


@pytest.mark.policy("5.audit_trail")
def test_create_prints_the_token_once_and_list_and_audit_never_show_it(db: str) -> None:
    created = cli("token", "create", "--tenant", "acme", "--scope", "ingest", "--owner", "bob",
                  "--by", "alice", db=db)
    token = created.stdout.strip()
    assert created.stdout == token + "\n"  # alone on stdout: TOKEN=$(opsledger token create …)
    assert "store this token now" in created.stderr and _secret(token) not in created.stderr
    principal = _authenticate(db, token, needs="ingest")
    assert (principal.tenant_id, principal.scope, principal.owner) == ("acme", "ingest", "bob")
    as_json = json.loads(cli("token", "create", "--scope", "operator", "--owner", "root",
                             "--json", db=db).stdout)
    assert set(as_json) == {"token", "info"}
    assert as_json["info"]["scope"] == "operator" and as_json["info"]["tenant_id"] is None
    assert as_json["info"]["issued_by"] == "cli"  # --by defaults like the tenant commands
    assert _authenticate(db, as_json["token"], needs="read").scope == "operator"

    listed = cli("token", "list", db=db).stdout
    rows = json.loads(cli("token", "list", "--json", db=db).stdout)
    assert [(r["token_id"], r["scope"], r["state"]) for r in rows] == [
        (principal.token_id, "ingest", "active"), (as_json["info"]["token_id"], "operator",
                                                   "active")]
    assert [r["token_id"] for r in json.loads(
        cli("token", "list", "--tenant", "acme", "--json", db=db).stdout)] == [
        principal.token_id]
    actions = cli("audit", "actions", "--all-tenants", "--json", db=db).stdout
    issued = [a for a in json.loads(actions) if a["action"] == "ApiToken.Issued"]
    assert [(a["actor"], a["tenant_id"]) for a in issued] == [("alice", "acme"), ("cli", None)]
    for secret in (_secret(token), _secret(as_json["token"])):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        for shown in (listed, json.dumps(rows), actions):
            assert principal.token_id in shown
            assert secret not in shown and digest not in shown
            assert "secret_hash" not in shown


@pytest.mark.policy("6.token_rotation")
def test_rotate_keeps_the_old_token_for_the_overlap_and_revoke_ends_one_at_once(
    db: str,
) -> None:
    old = json.loads(cli("token", "create", "--tenant", "acme", "--scope", "read", "--owner",
                         "bob", "--json", db=db).stdout)
    rotated = json.loads(cli("token", "rotate", old["info"]["token_id"], "--overlap", "90m",
                             "--owner", "dave", "--by", "carol", "--json", db=db).stdout)
    assert set(rotated) == {"token", "info", "predecessor"}
    new = rotated["info"]
    assert (new["predecessor"], new["owner"], new["issued_by"], new["scope"]) == (
        old["info"]["token_id"], "dave", "carol", "read")
    issued_at = datetime.fromisoformat(new["issued_at"].replace("Z", "+00:00"))  # to the ms
    expires_at = issued_at + timedelta(minutes=90)
    assert rotated["predecessor"] == {
        "token_id": old["info"]["token_id"],
        "expires_at": expires_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    assert _authenticate(db, old["token"], "read", expires_at - timedelta(seconds=1))
    with pytest.raises(Unauthenticated) as expired:
        _authenticate(db, old["token"], "read", expires_at + timedelta(milliseconds=1))
    assert expired.value.reason == "expired"
    assert _authenticate(db, rotated["token"], "read", expires_at).owner == "dave"

    again = cli("token", "rotate", old["info"]["token_id"], "--by", "carol", db=db, check=False)
    assert again.returncode == 1 and "[illegal_transition]" in again.stderr

    text = cli("token", "rotate", new["token_id"], "--by", "carol", db=db)
    successor = text.stdout.strip()
    assert text.stdout == successor + "\n" and successor.startswith("olt_")
    assert f"token {new['token_id']} stays valid until" in text.stderr  # the default 24 h
    revoked = cli("token", "revoke", new["token_id"], "--by", "erin", "--reason", "leaked", db=db)
    assert f"token {new['token_id']} revoked at" in revoked.stdout and "erin" in revoked.stdout
    with pytest.raises(Unauthenticated) as refused:
        _authenticate(db, rotated["token"])  # revoked at once, overlap or not
    assert refused.value.reason == "revoked"
    assert _authenticate(db, successor, "read").token_id != new["token_id"]
    info = json.loads(cli("token", "revoke", old["info"]["token_id"], "--by", "erin", "--json",
                          db=db).stdout)
    assert (info["state"], info["revoked_by"]) == ("revoked", "erin")
    states = {r["token_id"]: r["state"] for r in json.loads(
        cli("token", "list", "--json", db=db).stdout)}
    assert sorted(states.values()) == ["active", "revoked", "revoked"]


@pytest.mark.policy("5.scoping")
def test_bad_arguments_are_usage_errors_and_unknown_ids_are_refused_like_other_lookups(
    db: str,
) -> None:
    token = cli("token", "create", "--tenant", "acme", "--scope", "ingest", "--owner", "bob",
                db=db).stdout.strip()
    token_id = token[len("olt_"):len("olt_") + 16]
    before = cli("audit", "actions", "--all-tenants", "--json", db=db).stdout
    for args in (
        ["create", "--tenant", "acme", "--scope", "admin", "--owner", "bob"],
        ["create", "--tenant", "acme", "--scope", "operator", "--owner", "bob"],
        ["create", "--scope", "read", "--owner", "bob"],
        ["create", "--tenant", "acme", "--scope", "read", "--owner", "bob\x1b[2J"],
        ["rotate", token_id, "--by", "carol", "--overlap", "31d"],
        ["rotate", token_id, "--by", "carol", "--overlap", "24"],
        ["rotate", token_id, "--by", "carol", "--overlap", "-1h"],
        ["rotate", token_id],  # --by is required for rotate and revoke
        ["revoke", token_id],
    ):
        refused = cli("token", *args, db=db, check=False)
        assert refused.returncode == 2, (args, refused.stderr)
        assert "Traceback" not in refused.stderr and "\x1b[2J" not in refused.stderr
    missing = cli("incident", "show", "nope", db=db, check=False)
    for args in (["revoke", "0" * 16, "--by", "x"], ["rotate", "0" * 16, "--by", "x"],
                 ["revoke", token, "--by", "x"]):  # a whole token given as the id
        unknown = cli("token", *args, db=db, check=False)
        assert unknown.returncode == missing.returncode == 1
        assert "[unknown_token]" in unknown.stderr and _secret(token)[:6] not in unknown.stderr
    no_tenant = cli("token", "create", "--tenant", "nobody", "--scope", "read", "--owner", "b",
                    db=db, check=False)
    assert no_tenant.returncode == 1 and "[unknown_tenant]" in no_tenant.stderr
    assert cli("token", "list", "--tenant", "nobody", db=db, check=False).returncode == 1
    assert cli("audit", "actions", "--all-tenants", "--json", db=db).stdout == before
    assert _authenticate(db, token, "ingest").token_id == token_id
