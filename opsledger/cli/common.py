"""Shared CLI plumbing: the store option, time parsing, JSON output, typed errors and the
one filter every value from data passes before it reaches the terminal (:func:`safe`)."""

from __future__ import annotations

import functools
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape

from opsledger.application import Operations
from opsledger.domain.errors import NaiveDatetime, OpsledgerError
from opsledger.domain.time import utc
from opsledger.reports.outputs import visible_controls
from opsledger.store.url import DEFAULT_URL

__all__ = [
    "console", "db_option", "emit_json", "emit_json_stream", "json_array_chunks", "open_ops",
    "parse_time", "run_command", "safe", "table",
]

F = TypeVar("F", bound=Callable[..., Any])
# Markup stays on for the CLI's own styles; data reaches it only through ``safe``. Emoji
# codes (":smile:") and highlighting would reinterpret data: both off.
console = Console(stderr=False, highlight=False, emoji=False,
                  width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, emoji=False)


def safe(value: object) -> str:
    """``value`` as text fit for the terminal: every control character (C0, ESC, DEL, C1,
    bidi overrides) shown as a visible ``\\x..``/``\\u....`` escape, and rich markup
    (``[bold]``) escaped so it prints literally. Every id or free text from data that
    the CLI prints in text mode goes through here (tables included)."""
    return escape(visible_controls(str(value)))


def table(rows: Iterable[dict[str, Any]], columns: list[str], batch: int = 500) -> None:
    """Rows as aligned columns under a header, every value through :func:`safe`. Printed
    ``batch`` rows at a time (a column widens when a later row needs it), so a stream of
    any length prints in flat memory, and quickly (a rich Table measures every cell)."""
    widths = [cell_len(c) for c in columns]
    stream = iter(rows)
    header = True
    while (chunk := list(itertools.islice(stream, batch))) or header:
        cells = [["" if row.get(c) is None else str(row.get(c)) for c in columns]
                 for row in chunk]
        for values in cells:
            widths = [max(w, cell_len(visible_controls(v))) for w, v in zip(widths, values,
                                                                              strict=True)]
        lines = []
        if header:
            lines.append("[bold]" + _line(columns, widths) + "[/bold]")
            lines.append("  ".join("─" * w for w in widths))
            header = False
        lines += [_line(values, widths) for values in cells]
        console.print("\n".join(lines), soft_wrap=True)


def _line(values: list[str], widths: list[int]) -> str:
    return "  ".join(safe(v) + " " * (w - cell_len(visible_controls(v)))
                     for v, w in zip(values, widths, strict=True)).rstrip()


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
        _warn_stopped_views(ops)
    finally:
        ops.close()


def _warn_stopped_views(ops: Operations) -> None:
    """On stderr, after a command: each stopped view, whose reads answer from its rows as
    they stood before the event it could not apply."""
    for name, stop in sorted(ops.views.stops().items()):
        err_console.print(escape(
            f"warning: view {name} is stopped at event {stop.failed_at} ({stop.error_type}: "
            f"{stop.message}); it answers as of event {stop.position}; see `opsledger doctor`"
        ), style="yellow", soft_wrap=True)


def existing_folder(ctx: click.Context, param: click.Parameter, value: Path | None
                    ) -> Path | None:
    """An ``--out`` file whose folder must exist: a clear usage error (exit 2) naming the
    option, not a traceback about a temporary file."""
    if value is not None and not value.expanduser().absolute().parent.is_dir():
        raise click.BadParameter(f"the folder {safe(value.parent)} does not exist")
    return value


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


def json_array_chunks(items: Iterable[Any]) -> Iterator[bytes]:
    """The bytes of :func:`emit_json` of ``list(items)`` (without the final newline), one
    item at a time: a JSON array written as its items are read."""
    option = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    first = True
    for item in items:
        body = orjson.dumps(item, default=_default, option=option).replace(b"\n", b"\n  ")
        yield (b"[\n  " if first else b",\n  ") + body
        first = False
    yield b"[]" if first else b"\n]"


def emit_json_stream(items: Iterable[Any]) -> None:
    """Print ``items`` as the JSON array :func:`emit_json` would, item by item (memory flat
    in the number of items)."""
    out = sys.stdout
    for chunk in json_array_chunks(items):
        out.write(chunk.decode())
    out.write("\n")


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):  # PostgreSQL's SUM of integers: an integer, as on SQLite
        return int(obj) if obj == obj.to_integral_value() else float(obj)
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
            err_console.print(f"[red]error[/red] {safe(f'[{exc.code}] {exc}')}")
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]
