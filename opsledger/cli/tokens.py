"""``opsledger token …``: API tokens of ``opsledger serve`` (policy §5 scoping and audit
trail, §6 token rotation process and ownership).

``create`` and ``rotate`` print the new token once: in text, the token alone on stdout (so
``TOKEN=$(opsledger token create …)`` captures exactly it) and what it is, with the warning
to store it now, on stderr; with ``--json``, the :class:`~opsledger.results.IssuedToken`.
The store keeps only the token's hash; ``list`` and ``revoke`` never show a secret or a
hash. Every change is an audited operator action (``opsledger audit actions``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import click

from opsledger.cli.common import (
    LazyChoice,
    console,
    db_option,
    emit_json,
    err_console,
    fmt_time,
    json_option,
    open_ops,
    parse_time,
    run_command,
    safe,
    table,
    to_jsonable,
)

__all__ = ["MAX_DURATION", "parse_duration", "token_group"]

_SCOPES = LazyChoice("opsledger.domain.token:TokenScope")
#: The longest ``--overlap`` (the service refuses longer ones too).
MAX_DURATION = timedelta(days=30)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1),
          "s": timedelta(seconds=1)}
_DURATION = re.compile(r"(?:\d{1,7}[dhms])+")
_PART = re.compile(r"(\d{1,7})([dhms])")
_WARNING = ("store this token now: it is shown only this once (opsledger keeps only its "
            "hash)")


def parse_duration(value: str, field: str = "--overlap") -> timedelta:
    """``24h``, ``90m``, ``2d``, ``1d12h``, ``0s`` … as a duration within 0 and
    :data:`MAX_DURATION`; anything else is a usage error naming ``field``."""
    if not _DURATION.fullmatch(value):
        raise click.BadParameter(
            f"{value[:20]!r} is not a duration: give a number and a unit d, h, m or s "
            "(e.g. 24h, 90m, 2d, 1d12h)", param_hint=field)
    total = sum((int(n) * _UNITS[unit] for n, unit in _PART.findall(value)), timedelta(0))
    if total > MAX_DURATION:
        raise click.BadParameter(f"{value[:20]!r} is longer than {MAX_DURATION.days} days",
                                 param_hint=field)
    return total


def _print_issued(issued: Any, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """The new token, once: JSON (the IssuedToken, plus ``extra``), or the token alone on
    stdout and what it is, with the warning, on stderr."""
    if as_json:
        emit_json({**to_jsonable(issued), **(extra or {})})
        return
    info = issued.info
    console.print(safe(issued.token), soft_wrap=True)
    err_console.print(
        f"token {safe(info.token_id)}: scope={safe(info.scope)} "
        f"tenant={safe(info.tenant_id or '(every tenant)')} owner={safe(info.owner)} "
        f"issued {fmt_time(info.issued_at)} by {safe(info.issued_by)}", soft_wrap=True)
    err_console.print(f"[yellow]warning[/yellow] {_WARNING}", soft_wrap=True)


@click.group("token")
def token_group() -> None:
    """API tokens for `opsledger serve`: create, rotate, revoke, list (no secrets)."""


@token_group.command("create")
@db_option
@click.option("--tenant", help="the tenant (ingest and read tokens; none for operator)")
@click.option("--scope", type=_SCOPES, required=True,
              help="ingest: write publishes; read: the tenant's reads; operator: everything")
@click.option("--owner", required=True, help="who holds and rotates the token (policy §6)")
@click.option("--by", default="cli", help="who issues it (audited)")
@click.option("--at", help="business time of the issue (default now)")
@json_option
@run_command
def token_create(db: str | None, tenant: str | None, scope: str, owner: str, by: str,
                 at: str | None, as_json: bool) -> None:
    """Issue a token and print it once (only its hash is stored)."""
    when = parse_time(at)
    with open_ops(db) as ops:
        issued = ops.create_token(scope=scope, owner=owner, by=by, tenant_id=tenant, at=when)
    _print_issued(issued, as_json)


@token_group.command("rotate")
@click.argument("token_id")
@db_option
@click.option("--overlap", default="24h", show_default=True,
              help="how long the old token stays valid (e.g. 90m, 24h, 2d; at most 30d)")
@click.option("--owner", help="the successor's owner (default: the old token's)")
@click.option("--by", required=True, help="who rotates it (audited)")
@click.option("--at", help="business time of the rotation (default now)")
@json_option
@run_command
def token_rotate(token_id: str, db: str | None, overlap: str, owner: str | None, by: str,
                 at: str | None, as_json: bool) -> None:
    """Issue a successor (printed once); the old token stays valid for --overlap."""
    window = parse_duration(overlap)
    when = parse_time(at)
    with open_ops(db) as ops:
        issued = ops.rotate_token(token_id, by=by, overlap=window, owner=owner, at=when)
    expires_at = issued.info.issued_at + window  # the service's own `now + overlap`
    _print_issued(issued, as_json, {"predecessor": {"token_id": issued.info.predecessor,
                                                    "expires_at": expires_at}})
    if not as_json:
        err_console.print(f"token {safe(issued.info.predecessor)} stays valid until "
                          f"{fmt_time(expires_at)}", soft_wrap=True)


@token_group.command("revoke")
@click.argument("token_id")
@db_option
@click.option("--by", required=True, help="who revokes it (audited)")
@click.option("--reason", default="", help="why (audited)")
@click.option("--at", help="business time of the revocation (default now)")
@json_option
@run_command
def token_revoke(token_id: str, db: str | None, by: str, reason: str, at: str | None,
                 as_json: bool) -> None:
    """End a token at once (every process on the store refuses it from its next call)."""
    when = parse_time(at)
    with open_ops(db) as ops:
        info = ops.revoke_token(token_id, by=by, reason=reason, at=when)
    if as_json:
        emit_json(info)
        return
    console.print(f"token {safe(info.token_id)} revoked at {safe(info.revoked_at)} by "
                  f"{safe(info.revoked_by)}", soft_wrap=True)


@token_group.command("list")
@db_option
@click.option("--tenant", help="only this tenant's tokens (default: every token)")
@json_option
@run_command
def token_list(db: str | None, tenant: str | None, as_json: bool) -> None:
    """Tokens in the order issued, with their state now (never a secret or a hash)."""
    with open_ops(db) as ops:
        rows = ops.tokens(tenant)
    if as_json:
        emit_json(rows)
        return
    table(({"token": r.token_id, "tenant": r.tenant_id or "(every tenant)", "scope": r.scope,
            "owner": r.owner, "state": r.state, "issued_at": r.issued_at,
            "expires_at": r.expires_at, "revoked_at": r.revoked_at, "successor": r.successor}
           for r in rows),
          ["token", "tenant", "scope", "owner", "state", "issued_at", "expires_at",
           "revoked_at", "successor"])
