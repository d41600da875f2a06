"""Shared CLI plumbing: the store option, time parsing, JSON output and the exit-code table
(text output, with :func:`safe`, lives in :mod:`opsledger.cli.text` and is re-exported).

Nothing heavy is imported here: the store, the services and their drivers load inside the
commands (``opsledger --help`` stays quick)."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import Enum
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.markup import escape

from opsledger.cli.text import (
    console,
    err_console,
    fmt_ms,
    fmt_number,
    fmt_percent,
    progress_bar,
    safe,
    table,
    text,
    value_of,
)
from opsledger.serialize import dumps, dumps_array_chunks, fmt_time, to_jsonable

if TYPE_CHECKING:
    from opsledger.application import Operations

__all__ = [
    "EXIT_CODES",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "LazyChoice",
    "console",
    "db_option",
    "emit_json",
    "emit_json_stream",
    "err_console",
    "exit_code_for",
    "fmt_ms",
    "fmt_number",
    "fmt_percent",
    "fmt_time",
    "is_refusal",
    "json_option",
    "open_ops",
    "parse_time",
    "progress_bar",
    "report_error",
    "required_time",
    "run_command",
    "safe",
    "table",
    "text",
    "to_jsonable",
    "usage_of",
    "value_of",
]

F = TypeVar("F", bound=Callable[..., Any])

# ---- exit codes: the one table -----------------------------------------------------------
EXIT_OK = 0
#: refused (a typed OpsledgerError refusal), or a check failed (verify, doctor, an import
#: in which every line was rejected, a policy that does not validate).
EXIT_REFUSED = 1
#: usage: bad arguments, missing files, an unusable store URL (click's own code too).
EXIT_USAGE = 2
#: an unexpected error (a bug): one line on stderr; OPSLEDGER_DEBUG=1 shows the traceback.
EXIT_INTERNAL = 3

#: Exit status per error ``code``; an error's own code is looked up, then its base classes'
#: codes in order (``invalid_input`` covers every malformed argument, ``error`` the rest).
EXIT_CODES: dict[str, int] = {
    "invalid_input": EXIT_USAGE,          # a malformed argument: nothing was stored
    "unknown_view": EXIT_USAGE,           # --view NAME that does not exist
    "store_unavailable": EXIT_USAGE,      # --db names a store that cannot be opened
    "key_store_missing": EXIT_USAGE,      # the store's key file is missing
    "import_refused": EXIT_REFUSED,       # --strict import refused on a bad line
    "invalid_policy": EXIT_REFUSED,       # a policy file that does not validate
    "checkpoint_signature_invalid": EXIT_REFUSED,
    "error": EXIT_REFUSED,                # every other typed refusal (scope, conflict, ...)
}

EXIT_CODES_HELP = """\b
Exit status:
  0  ok
  1  refused or check failed: a typed refusal ([code] message), verify found a
     broken chain, doctor needs action, a policy does not validate, an import
     in which every line was rejected
  2  usage: bad arguments or times, missing files, an unusable --db
  3  unexpected error (a bug): one line; OPSLEDGER_DEBUG=1 shows the traceback
\b
Times: --at is the business time of a write, --as-of the state as it stood
then (reads). Give ISO-8601 with an offset (Z accepted) or a date (midnight
UTC). Output times are RFC 3339 UTC with milliseconds: 2026-11-03T07:00:00.123Z.
--db URL may come before or after the command (the one nearest it wins), else
env OPSLEDGER_DB, else the default store."""


def exit_code_for(exc: BaseException) -> int:
    """The exit status for ``exc`` by :data:`EXIT_CODES` (not an OpsledgerError: 3)."""
    for cls in type(exc).__mro__:
        code = cls.__dict__.get("code")
        if isinstance(code, str) and code in EXIT_CODES:
            return EXIT_CODES[code]
    return EXIT_INTERNAL


def is_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is a typed opsledger error (checked without importing the domain
    before one is raised)."""
    if "opsledger.domain.errors" not in sys.modules:
        return False
    from opsledger import OpsledgerError

    return isinstance(exc, OpsledgerError)


def report_error(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr; its exit status."""
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        err_console.print(f"[red]error[/red] {safe(f'[{code}] {exc}')}", soft_wrap=True)
    else:
        err_console.print(f"[red]unexpected error[/red] {safe(type(exc).__name__)}: "
                          f"{safe(str(exc)[:300])} (run with OPSLEDGER_DEBUG=1 for the "
                          "traceback)", soft_wrap=True)
    return exit_code_for(exc)


def run_command(func: F) -> F:
    """Turn typed opsledger errors into a one-line message and their exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if not is_refusal(exc):
                raise
            raise SystemExit(report_error(exc)) from None

    return wrapper  # type: ignore[return-value]


# ---- the store ---------------------------------------------------------------------------
_DB_KEY = "opsledger.db"


def _remember_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Keep the nearest ``--db`` given: options are processed outside in, so a command's
    own ``--db`` overwrites the group's."""
    if value is not None:
        ctx.meta[_DB_KEY] = value
    return value


def db_option(func: F) -> F:
    """``--db URL`` (here, or before the command; else ``OPSLEDGER_DB``, else the default)."""
    return click.option(
        "--db", "db", default=None, metavar="URL", callback=_remember_db, expose_value=True,
        help="store URL (sqlite:///path.db, postgresql://…, memory://); may also come "
        "before the command; env OPSLEDGER_DB",
    )(func)


def store_url(db: str | None) -> str:
    """The store the CLI opens: the nearest ``--db``, then ``OPSLEDGER_DB``, then the
    default."""
    if db is None:
        ctx = click.get_current_context(silent=True)
        db = ctx.meta.get(_DB_KEY) if ctx is not None else None
    if db:
        return db
    from opsledger import DEFAULT_URL

    return os.environ.get("OPSLEDGER_DB") or DEFAULT_URL


@contextmanager
def open_ops(db: str | None) -> Iterator[Operations]:
    """Open the store for one command."""
    from opsledger.application import Operations

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


# ---- arguments ---------------------------------------------------------------------------
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time(value: str | None, field: str = "--at") -> datetime | None:
    """ISO-8601 with an offset (``Z`` accepted), or a date ``YYYY-MM-DD`` (midnight UTC); a
    time without an offset is a usage error naming the option and the text given."""
    if value is None:
        return None
    if _DATE.fullmatch(value):
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        except ValueError as exc:
            raise click.BadParameter(f"{value!r}: {exc}", param_hint=field) from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value[:40]!r} is not an ISO-8601 time or a date "
                                 "(YYYY-MM-DD)", param_hint=field) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise click.BadParameter(f"{value[:40]!r} has no time zone: add Z or an offset "
                                 "(e.g. 2026-11-03T07:00:00Z)", param_hint=field)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # an offset that carries it past year 1 or 9999
        raise click.BadParameter(f"{value[:40]!r} is out of range in UTC",
                                 param_hint=field) from None


def required_time(value: str, field: str) -> datetime:
    """:func:`parse_time` of a required option."""
    parsed = parse_time(value, field)
    if parsed is None:  # pragma: no cover - click enforces required options
        raise click.MissingParameter(param_hint=field)
    return parsed


@contextmanager
def usage_of(param_hint: str) -> Iterator[None]:
    """Turn a malformed or out-of-range value raised inside into a usage error naming the
    option."""
    from opsledger import InvalidInput

    try:
        yield
    except (InvalidInput, ValueError, OverflowError) as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


class LazyChoice(click.Choice):  # type: ignore[type-arg]
    """A ``click.Choice`` whose values are read from ``"module:NAME"`` on first use, so the
    command tree (and ``--help``) builds without importing the domain."""

    def __init__(self, source: str, sort: bool = False) -> None:
        self._source = source
        self._sort = sort
        self._loaded: tuple[str, ...] | None = None
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        if self._loaded is None:
            module, name = self._source.split(":")
            values = getattr(import_module(module), name)
            items = [v.value if isinstance(v, Enum) else str(v) for v in values]
            self._loaded = tuple(sorted(items) if self._sort else items)
        return self._loaded

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        """click's constructor assigns the (empty) list: ignored, the source decides."""


def json_option(func: F) -> F:
    """``--json``: the result as JSON on stdout (one serializer, RFC 3339 times)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="print the result as JSON")(func)


# ---- JSON --------------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    """Print stable JSON (sorted keys, RFC 3339 UTC times with milliseconds) on stdout."""
    sys.stdout.write(dumps(data).decode() + "\n")


def json_array_chunks(items: Iterable[Any]) -> Iterator[bytes]:
    """The bytes of :func:`emit_json` of ``list(items)`` (without the final newline), one
    item at a time: a JSON array written as its items are read."""
    return dumps_array_chunks(items)


def emit_json_stream(items: Iterable[Any]) -> None:
    """Print ``items`` as the JSON array :func:`emit_json` would, item by item (memory flat
    in the number of items)."""
    out = sys.stdout
    for chunk in dumps_array_chunks(items):
        out.write(chunk.decode())
    out.write("\n")
