"""``opsledger notify …``: the notification outbox for operators (issue 16) — what waits,
what was delivered, what died and why (``list``, ``show``), a retry of dead letters
(``retry``), a marked test payload through a route (``test``), and the delivery worker
alone (``run``).

The config (channels, routes, quiet windows) is ``--config FILE`` or env
``OPSLEDGER_NOTIFY_CONFIG``; its secrets come from the environment or files it names, and
no command prints one. A config that does not validate names the key, the value and why
(exit 2).

``run`` holds the store's *notify* leadership (``<db>.notify.leader`` for a SQLite file,
an advisory lock on PostgreSQL), so two workers — two ``notify run``, or one and
``serve --notify-config`` — never deliver at once; SIGTERM or SIGINT ends the step in
progress after its current HTTP call and exits 0.
"""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opsledger.cli.common import (
    EXIT_REFUSED,
    console,
    db_option,
    emit_json,
    err_console,
    fmt_ms,
    json_option,
    open_ops,
    run_command,
    safe,
    store_url,
    table,
    text,
    to_jsonable,
)

if TYPE_CHECKING:
    from opsledger import NotifyConfig
    from opsledger.results import DeliveryReport

__all__ = ["CONFIG_ENV", "load_config", "notify_group", "os_user"]

#: The environment variable naming the notify config file when ``--config`` is not given.
CONFIG_ENV = "OPSLEDGER_NOTIFY_CONFIG"
_STATES = ("pending", "failed", "dead", "delivered", "suppressed")
_FILE = click.Path(dir_okay=False, path_type=Path)
_LIST_COLUMNS = ["id", "state", "route", "channel", "kind", "level", "tenant", "subject",
                 "attempts", "last_status", "next_attempt_at", "delivered_at"]


def os_user() -> str:
    """Who runs the command, for ``--by`` (the OS user; ``operator`` if it has no name)."""
    try:
        return getpass.getuser() or "operator"
    except Exception:  # no USER/LOGNAME and no passwd entry (a bare container)
        return "operator"


def load_config(file: Path | None, option: str = "--config") -> NotifyConfig:
    """The notify config from ``file``, else from the file env ``OPSLEDGER_NOTIFY_CONFIG``
    names; secrets resolved from the environment (and files relative to the config's
    folder). ``InvalidNotifyConfig`` (exit 2) when it does not validate."""
    if file is None:
        named = os.environ.get(CONFIG_ENV)
        if not named:
            raise click.UsageError(f"give {option} FILE (or set {CONFIG_ENV})")
        file = Path(named)
    try:
        content = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {safe(file)}: {exc.strerror or exc}",
                                 param_hint=option) from None
    except UnicodeDecodeError:
        raise click.BadParameter(f"{safe(file)} is not UTF-8 text", param_hint=option) from None
    from opsledger import load_notify_config

    return load_notify_config(content, env=dict(os.environ), base_dir=file.parent)


def _config_option(func: Any) -> Any:
    return click.option("--config", "config_file", type=_FILE, metavar="FILE",
                        help=f"the notify config (TOML; else env {CONFIG_ENV})")(func)


def _by_option(what: str) -> Callable[[Any], Any]:
    def option(func: Any) -> Any:
        return click.option("--by", default=os_user, show_default="the OS user",
                            help=f"who acts ({what})")(func)
    return option


@click.group("notify")
def notify_group() -> None:
    """The notification outbox: list, show, retry, test a route, run the delivery worker."""


@notify_group.command("list")
@db_option
@click.option("--state", type=click.Choice(_STATES), help="only deliveries in this state")
@click.option("--tenant", help="only this tenant's")
@click.option("--route", help="only this route's")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
@run_command
def notify_list(db: str | None, state: str | None, tenant: str | None, route: str | None,
                limit: int, as_json: bool) -> None:
    """Deliveries (one per notification and route), newest first."""
    with open_ops(db) as ops:
        rows = ops.notifications(state=state, tenant_id=tenant, route=route, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table(rows, _LIST_COLUMNS)


@notify_group.command("show")
@click.argument("delivery_id")
@db_option
@json_option
@run_command
def notify_show(delivery_id: str, db: str | None, as_json: bool) -> None:
    """One delivery: its notification (summary, details) and every attempt."""
    with open_ops(db) as ops:
        detail = ops.notification(delivery_id)
    if as_json:
        emit_json(detail)
        return
    d, n = detail.delivery, detail.notification
    console.print(f"[bold]{safe(d.delivery_id)}[/bold] {safe(d.state)} route={safe(d.route)} "
                  f"channel={safe(d.channel)} attempts={d.attempts}", soft_wrap=True)
    facts = [("notification", d.notification_id), ("kind", d.kind), ("level", d.level),
             ("tenant", d.tenant_id or "(platform)"), ("subject", d.subject),
             ("created_at", d.created_at), ("next_attempt_at", d.next_attempt_at),
             ("delivered_at", d.delivered_at), ("last_status", d.last_status),
             ("last_error", d.last_error), ("reason", d.reason)]
    if n is not None:
        facts += [("occurred_at", n.occurred_at), ("audience", n.audience),
                  ("summary", n.summary), ("details", n.details)]
    for name, value in facts:
        if value is not None:
            console.print(f"  {name:<16}{safe(value)}", soft_wrap=True)
    if not detail.attempts:
        console.print("  (no attempt yet)")
        return
    table(({"#": a.attempt, "at": a.at, "outcome": a.outcome, "status": a.status,
            "error": a.error, "duration": fmt_ms(a.duration_ms) if a.duration_ms is not None
            else None, "next_attempt_at": a.next_attempt_at, "by": a.by}
           for a in detail.attempts),
          ["#", "at", "outcome", "status", "error", "duration", "next_attempt_at", "by"])


@notify_group.command("retry")
@click.argument("delivery_ids", nargs=-1)
@db_option
@click.option("--all-dead", is_flag=True, help="every dead delivery")
@_by_option("recorded with the retry")
@json_option
@run_command
def notify_retry(delivery_ids: tuple[str, ...], db: str | None, all_dead: bool, by: str,
                 as_json: bool) -> None:
    """Make dead (or failed) deliveries due now again (the next worker step sends them)."""
    if bool(delivery_ids) == all_dead:
        raise click.UsageError("give delivery IDs, or --all-dead (not both)")
    with open_ops(db) as ops:
        rows = ops.retry_notifications(delivery_ids, all_dead=all_dead, by=by)
    if as_json:
        emit_json(rows)
        return
    err_console.print(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'} due again "
                      f"(retried by {safe(by)})", soft_wrap=True)
    if rows:
        table(rows, _LIST_COLUMNS)


@notify_group.command("test")
@db_option
@click.option("--route", required=True, help="the route (its channel) to test")
@_config_option
@_by_option("shown in the answer; a test records nothing")
@json_option
@run_command
def notify_test(db: str | None, route: str, config_file: Path | None, by: str,
                as_json: bool) -> None:
    """Send a marked test payload through a route now (nothing enters the outbox); exit 1
    when the receiver does not accept it."""
    config = load_config(config_file)
    with open_ops(db) as ops:
        attempt = ops.test_notification_route(config, route, by=by)
    if as_json:
        emit_json(attempt)
        return
    console.print(f"test notification accepted through route {safe(route)}: status "
                  f"{safe(attempt.status)} in {fmt_ms(attempt.duration_ms)}", soft_wrap=True)


@notify_group.command("run")
@db_option
@_config_option
@click.option("--tick", type=click.FloatRange(0.01, 3600), default=1.0, show_default=True,
              metavar="SECONDS", help="seconds between delivery steps")
@click.option("--once", is_flag=True, help="one step, then exit (1 if another worker "
              "holds the notify leadership or the step failed)")
@click.option("--json", "as_json", is_flag=True,
              help="one JSON object per step that did something (with --once: the step)")
@run_command
def notify_run(db: str | None, config_file: Path | None, tick: float, once: bool,
               as_json: bool) -> None:
    """The delivery worker alone: each tick catch the views up and deliver what is due;
    one worker per store at a time (the notify leadership). SIGTERM: finish, exit 0."""
    from datetime import timedelta

    import orjson

    from opsledger.api.engine import Engine, ServeSettings
    from opsledger.api.leader import leadership_for
    from opsledger.api.notify import DeliveryJob, describe_report
    from opsledger.application import Operations

    config = load_config(config_file)
    _logging()
    engine = Engine(Operations.open(store_url(db)),
                    ServeSettings(scheduler=False, tick_seconds=tick))
    try:
        job = DeliveryJob(engine, config, leadership_for(engine.ops.store, "notify"),
                          every=timedelta(seconds=tick))

        def show(at: datetime, report: DeliveryReport) -> None:
            if as_json and (once or report.routed or report.attempted):
                line = orjson.dumps(to_jsonable({"at": at, **report.to_dict()}),
                                    option=orjson.OPT_SORT_KEYS)
                sys.stdout.write(line.decode() + "\n")
                sys.stdout.flush()
            elif once and not as_json:
                console.print(f"{text(at)} {describe_report(report)}", soft_wrap=True)

        job.on_step = show
        with _until_signalled(job.request_stop) as stop:
            try:
                if not job.tick() and not once:
                    logging.getLogger("opsledger.cli.notify").info(
                        "another worker holds the notify leadership: waiting for it")
                while not once and not stop.wait(tick):
                    job.tick()
            finally:
                job.stop()
        if once:
            _check_once(job.state.steps > 0, job.state.last_error)
    finally:
        engine.close()


class _ToStderr(logging.Handler):
    """Log lines to whatever ``sys.stderr`` is when each is written."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _logging() -> None:
    """The worker's log lines (counts, leadership, errors) on stderr."""
    ours = logging.getLogger("opsledger")
    if not any(isinstance(h, _ToStderr) for h in ours.handlers):
        handler = _ToStderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ours.addHandler(handler)
    if ours.getEffectiveLevel() > logging.INFO:
        ours.setLevel(logging.INFO)


def _check_once(stepped: bool, error: str | None) -> None:
    """``--once``: exit 1 when the step failed, or never ran (another worker leads)."""
    if error is not None:
        err_console.print(f"[red]error[/red] the delivery step failed ({safe(error)})",
                          soft_wrap=True)
        raise SystemExit(EXIT_REFUSED)
    if not stepped:
        err_console.print("[red]error[/red] another worker holds the notify leadership of "
                          "this store: nothing delivered", soft_wrap=True)
        raise SystemExit(EXIT_REFUSED)


@contextmanager
def _until_signalled(also: Callable[[], None]) -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT, which also calls ``also`` (the step in progress
    ends after its current HTTP call; the loop ends)."""
    stop = threading.Event()

    def note(sig: int, frame: Any) -> None:
        stop.set()
        also()

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
