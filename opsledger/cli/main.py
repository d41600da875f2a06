"""The ``opsledger`` command line. Only this layer reads the environment (OPSLEDGER_DB,
OPSLEDGER_DEBUG).

The command tree is built without importing the store or the services: each command
imports what it needs when it runs, so ``opsledger --help`` starts quickly."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from opsledger.cli.common import (
    EXIT_CODES_HELP,
    EXIT_INTERNAL,
    db_option,
    is_refusal,
    report_error,
)

__all__ = ["main"]


class OpsledgerGroup(click.Group):
    """The top-level group: typed errors become one line and their exit status wherever
    they are raised; run as a program (``args`` from ``sys.argv``), any other exception is
    one line and exit 3 unless ``OPSLEDGER_DEBUG=1`` asks for the traceback. Called with
    explicit ``args`` (an embedding host, click's test runner) other exceptions propagate."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not is_refusal(exc):
                raise
            raise SystemExit(report_error(exc)) from None

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        if args is not None or os.environ.get("OPSLEDGER_DEBUG"):
            return super().main(args, *rest, **extra)
        try:
            return super().main(args, *rest, **extra)
        except BrokenPipeError:  # `opsledger audit list | head`: the reader left
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            raise SystemExit(0) from None
        except Exception as exc:
            report_error(exc)
            raise SystemExit(EXIT_INTERNAL) from None


@click.group(cls=OpsledgerGroup, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="opsledger")
@db_option
def main(db: str | None) -> None:
    """opsledger — run the SaaS Production Operations Policy on an event-sourced ledger."""


def _register() -> None:
    from opsledger.cli.alerts import alerts_group
    from opsledger.cli.audit import audit
    from opsledger.cli.compliance import retention_group, tenant_forget
    from opsledger.cli.demo import demo
    from opsledger.cli.gate import gate_group
    from opsledger.cli.imports import import_group
    from opsledger.cli.incidents import incident_group, sla_cmd
    from opsledger.cli.integrity import checkpoint, verify
    from opsledger.cli.notify import notify_group
    from opsledger.cli.policy import policy
    from opsledger.cli.projections import doctor, projections
    from opsledger.cli.record import record
    from opsledger.cli.replay import replay_cmd
    from opsledger.cli.review import review_group
    from opsledger.cli.scheduler import scheduler_group
    from opsledger.cli.serve import serve_cmd
    from opsledger.cli.simulate import simulate_cmd
    from opsledger.cli.slo import slo_cmd
    from opsledger.cli.tenants import tenant
    from opsledger.cli.tokens import token_group

    for command in (import_group, audit, simulate_cmd, demo, projections, verify, checkpoint,
                    doctor, policy, tenant, record, gate_group, review_group, alerts_group,
                    slo_cmd, scheduler_group, replay_cmd, incident_group, sla_cmd,
                    retention_group, token_group, serve_cmd, notify_group):
        main.add_command(command)
    tenant.add_command(tenant_forget)


_register()

if __name__ == "__main__":
    main()
