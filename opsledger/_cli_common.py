"""Shared CLI plumbing: the store option, time parsing, JSON output and typed errors."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console
from rich.markup import escape

from opsledger.application import Operations
from opsledger.domain.errors import NaiveDatetime, OpsledgerError
from opsledger.domain.time import utc
from opsledger.storage import DEFAULT_URL

__all__ = ["console", "db_option", "emit_json", "open_ops", "parse_time", "run_command"]

F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False)


def db_option(func: F) -> F:
    """``--db URL`` on every command (else ``OPSLEDGER_DB``, else the SQLite default)."""
    return click.option(
        "--db", "db", default=None, metavar="URL",
        help=f"store URL (sqlite:///path.db, postgresql://…, memory://); env OPSLEDGER_DB; "
        f"default {DEFAULT_URL}",
    )(func)


def store_url(db: str | None) -> str:
    """The store the CLI opens: ``--db``, then ``OPSLEDGER_DB``, then the default."""
    return db or os.environ.get("OPSLEDGER_DB") or DEFAULT_URL


@contextmanager
def open_ops(db: str | None) -> Iterator[Operations]:
    """Open the store for one command."""
    ops = Operations.open(store_url(db))
    try:
        yield ops
    finally:
        ops.close()


def parse_time(value: str | None, field: str = "--at") -> datetime | None:
    """ISO-8601 with an offset (``Z`` accepted); a naive time is refused."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time", param_hint=field) from None
    try:
        return utc(parsed, field)
    except NaiveDatetime as exc:
        raise click.BadParameter(str(exc), param_hint=field) from None
    except OverflowError:  # an offset that carries it past year 1 or 9999
        raise click.BadParameter(f"{value[:40]!r} is out of range in UTC",
                                 param_hint=field) from None


def emit_json(data: Any) -> None:
    """Print stable JSON (sorted keys, UTC times) on stdout."""
    sys.stdout.write(
        orjson.dumps(data, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
        .decode() + "\n"
    )


def _default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def run_command(func: F) -> F:
    """Turn typed opsledger errors into a one-line message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OpsledgerError as exc:
            err_console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc}')}")
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]
