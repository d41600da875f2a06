"""Helpers shared by the tests (imported as ``opsledger_test_support``)."""

from __future__ import annotations

from typing import Any

EVIDENCE = {
    "saas_ingestion_tests": {"version": "1.0.0", "commit": "abc123", "source": "remote_ci",
                             "run_ref": "ci#1"},
    "typecheck": {"version": "1.0.0", "commit": "abc123", "source": "remote_ci",
                  "run_ref": "ci#1"},
    "token_rotation": {"owner": "platform lead", "process_doc": "docs/tokens.md"},
    "oncall_escalation": {"path_doc": "docs/oncall.md"},
    "rollback_to_local": {},
}


def go_live(ops: Any, at: Any = None, version: str = "1.0.0") -> None:
    """Record passing evidence for the five checks and activate SaaS mode (policy §6)."""
    moment = at or ops.clock.now()
    for check, details in EVIDENCE.items():
        values = {**details, **({"version": version} if "version" in details else {})}
        ops.record_gate_evidence(check, result="pass", by="release", at=moment, details=values)
    ops.activate_saas(version, by="release", at=moment)


def saas_tenant(ops: Any, tenant_id: str, repositories: list[str], at: Any = None,
                **kwargs: Any) -> Any:
    """Register a tenant in SaaS mode the way the policy allows: gate active, retention
    policy and token-rotation owner in place."""
    from opsledger import Governance, Mode

    if ops.gate_status(at=at)["mode"] != "saas":
        go_live(ops, at=at)
    kwargs.setdefault("governance", Governance())
    kwargs.setdefault("by", "t")
    return ops.register_tenant(tenant_id, repositories=repositories, mode=Mode.SAAS,
                               token_rotation_owner="token owner", at=at, **kwargs)


def tracking_position(db: Any) -> int:
    """The lowest view position in a SQLite store file (in its current views file),
    read from outside the process (0 while the tracking table does not exist yet)."""
    import sqlite3

    from opsledger.store.views_db import ViewsFile

    db = ViewsFile(str(db)).current_path() or db
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT MIN(notification_id) FROM opsledger_tracking").fetchone()
            return int(row[0] or 0)
    except sqlite3.OperationalError:
        return 0
