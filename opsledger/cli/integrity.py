"""``opsledger verify`` and ``opsledger checkpoint``: the hash chain over the stored events
(tamper evidence, :mod:`opsledger.store.chain`).

The checkpoint key comes from ``--key-file FILE`` or the ``OPSLEDGER_CHECKPOINT_KEY``
environment variable; a missing key is an input error (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opsledger.cli.common import (
    console,
    db_option,
    emit_json,
    existing_folder,
    json_option,
    open_ops,
    run_command,
    safe,
)

if TYPE_CHECKING:
    from opsledger import ChainReport

__all__ = ["checkpoint", "verify"]

KEY_ENV = "OPSLEDGER_CHECKPOINT_KEY"
_file = click.Path(dir_okay=False, path_type=Path)


def _key_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--key-file", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"file holding the HMAC key (else env {KEY_ENV})")(func)


def _key(key_file: Path | None) -> bytes:
    """The checkpoint key: ``--key-file`` (trailing newline stripped), else the env var."""
    from opsledger import CheckpointKeyMissing

    key = key_file.read_bytes().rstrip(b"\r\n") if key_file else \
        os.environ.get(KEY_ENV, "").encode()
    if not key:
        raise CheckpointKeyMissing(f"no checkpoint key: pass --key-file FILE or set {KEY_ENV}")
    return key


@click.command("verify")
@db_option
@click.option("--from", "from_position", type=click.IntRange(min=1, max=2**63 - 1), default=None,
              help="start at this notification id, trusting the stored link before it")
@click.option("--checkpoint", "checkpoint_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="also prove the history up to this signed checkpoint unchanged")
@_key_option
@json_option
@run_command
def verify(db: str | None, from_position: int | None, checkpoint_file: Path | None,
           key_file: Path | None, as_json: bool) -> None:
    """Check the hash chain over the stored events: exit 0 when it holds, 1 with the first
    bad position otherwise (JSON: ok, events_checked, first_bad_position, reason)."""
    from opsledger import ChainReport, Checkpoint, CheckpointSignatureInvalid

    report: ChainReport | None = None
    point = None
    if checkpoint_file is not None:
        try:
            point = Checkpoint.load(checkpoint_file.read_bytes(), _key(key_file))
        except CheckpointSignatureInvalid as exc:
            report = ChainReport(False, 0, None, str(exc))
    if report is None:
        with open_ops(db) as ops:
            report = ops.verify_chain(from_position, point)
    if as_json:
        emit_json(report.to_dict())
    elif report.ok:
        against = f", matching the checkpoint at {point.n}" if point else ""
        console.print(f"chain holds: {report.events_checked} events checked{against}")
    else:
        at = f" at position {report.first_bad_position}" if report.first_bad_position else ""
        console.print(f"[red]chain broken{at}[/red]: {safe(report.reason)} "
                      f"({report.events_checked} events checked before)")
    if not report.ok:
        raise SystemExit(1)


@click.command("checkpoint")
@db_option
@click.option("--out", "out", type=_file, required=True, callback=existing_folder,
              help="where to write the checkpoint")
@_key_option
@json_option
@run_command
def checkpoint(db: str | None, out: Path, key_file: Path | None, as_json: bool) -> None:
    """Export the chain's head ``(n, h_n)``, signed with the checkpoint key (HMAC-SHA256),
    for a later ``verify --checkpoint FILE``. Run ``verify`` first: it signs what is there."""
    from opsledger.reports.outputs import write_private

    key = _key(key_file)
    with open_ops(db) as ops:
        point = ops.checkpoint(key)
    write_private(out, point.to_json() + b"\n")
    if as_json:
        emit_json({"n": point.n, "hash": point.hash.hex(), "out": str(out)})
    else:
        console.print(f"checkpoint at {point.n} ({point.hash.hex()[:16]}…) written to {safe(out)}")
