"""Text output of the CLI: the consoles, the one filter every value from data passes before
it reaches the terminal (:func:`safe`), number and time formats, and plain tables."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape

from opsledger.serialize import fmt_time

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["console", "err_console", "fmt_ms", "fmt_number", "fmt_percent", "progress_bar",
           "safe", "table", "text", "value_of"]

# Markup stays on for the CLI's own styles; data reaches it only through ``safe``. Emoji
# codes (":smile:") and highlighting would reinterpret data: both off.
console = Console(stderr=False, highlight=False, emoji=False,
                  width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, emoji=False)


# ---- text --------------------------------------------------------------------------------
def safe(value: object) -> str:
    """``value`` as text fit for the terminal: every control character (C0, ESC, DEL, C1,
    bidi overrides) shown as a visible ``\\x..``/``\\u....`` escape, and rich markup
    (``[bold]``) escaped so it prints literally. Every id or free text from data that
    the CLI prints in text mode goes through here (tables included)."""
    from opsledger.reports.outputs import visible_controls

    return escape(visible_controls(text(value)))


def text(value: object) -> str:
    """A value as the CLI writes it: times by :func:`fmt_time`, floats by
    :func:`fmt_number`, enums by value, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, Enum):
        return text(value.value)
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, Mapping | list | tuple):  # structured details: compact JSON
        from opsledger.serialize import to_jsonable

        return orjson.dumps(to_jsonable(value), option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def fmt_number(value: float | int | None, digits: int = 4) -> str:
    """A number without exponent: integers as is, others to at most ``digits`` places after
    the point, trailing zeros dropped (``10790``, ``0.0523``, ``1.5``)."""
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def fmt_ms(value: float | int | None) -> str:
    """A duration in milliseconds: ``10790 ms``."""
    return "-" if value is None else f"{value:.0f} ms"


def fmt_percent(ratio: float | None, digits: int = 2) -> str:
    """A ratio as a percentage: ``0.9995`` -> ``99.95 %``."""
    return "-" if ratio is None else f"{ratio * 100:.{digits}f} %"


def value_of(row: Any, name: str, default: Any = None) -> Any:
    """``row[name]`` for a dict or a result object (``getattr``), else ``default``."""
    if isinstance(row, Mapping):
        return row.get(name, default)
    try:  # a typed result: by today's key or by attribute
        return row[name]
    except (KeyError, TypeError):
        return getattr(row, name, default)


def table(rows: Iterable[Any], columns: list[str], batch: int = 500,
          headers: list[str] | None = None) -> None:
    """Rows (dicts or result objects) as aligned columns under a header, every value through
    :func:`safe`. Printed ``batch`` rows at a time (a column widens when a later row needs
    it), so a stream of any length prints in flat memory, and quickly."""
    from opsledger.reports.outputs import visible_controls

    titles = headers or columns
    widths = [cell_len(c) for c in titles]
    stream = iter(rows)
    header = True
    while (chunk := list(itertools.islice(stream, batch))) or header:
        cells = [[text(value_of(row, c)) for c in columns] for row in chunk]
        for values in cells:
            widths = [max(w, cell_len(visible_controls(v))) for w, v in zip(widths, values,
                                                                              strict=True)]
        lines = []
        if header:
            lines.append("[bold]" + _line(titles, widths) + "[/bold]")
            lines.append("  ".join("─" * w for w in widths))
            header = False
        lines += [_line(values, widths) for values in cells]
        console.print("\n".join(lines), soft_wrap=True)


def _line(values: list[str], widths: list[int]) -> str:
    from opsledger.reports.outputs import visible_controls

    return "  ".join(safe(v) + " " * (w - cell_len(visible_controls(v)))
                     for v, w in zip(values, widths, strict=True)).rstrip()


def progress_bar() -> Progress:
    """A progress bar on stderr (only on a terminal; gone when done)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    )
