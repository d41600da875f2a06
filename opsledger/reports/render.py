"""Reviews rendered for people: markdown (PNG charts beside it), HTML (charts embedded
and beside it), JSON. Charts are drawn headless with matplotlib (Agg).

Values from data (tenant ids above all) are untrusted: the pages are rendered from Jinja2
templates with autoescape (HTML) or a markdown-escaping filter, chart files are named by
:func:`~opsledger.reports.outputs.safe_file_name` and written only inside ``out``."""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from opsledger.reports.outputs import confined, markdown_text, safe_file_name, visible_controls
from opsledger.reports.review_tables import Link, cards, cell, tables
from opsledger.reports.review_tables import parse_time as _t

__all__ = ["write_review"]


def _short(text: str, limit: int = 60) -> str:
    """A chart title's share of an id (the page names it in full), controls visible."""
    text = visible_controls(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chart(plt: Any, out: Path, file: str, title: str, draw: Any) -> str:
    """One chart: ``draw(ax)`` on a new figure, titled, saved into ``out`` as ``file``."""
    fig, ax = plt.subplots(figsize=(8, 3))
    draw(ax)
    ax.set_title(title, parse_math=False)
    fig.tight_layout()
    fig.savefig(confined(out, file), dpi=90)
    plt.close(fig)
    return file


def _charts(review: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """(title, file name) for each chart written into ``out`` (monthly reviews): per tenant
    the daily SLO series against their targets, then deadlines met and missed per severity,
    then the alert timeline. Every axis says what it shows and in which unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: list[tuple[str, str]] = []
    for tenant in review.get("tenants", []):
        daily = tenant.get("daily")
        if not daily:
            continue
        slo, name = tenant["slo"], tenant["tenant"]
        days = [d["day"][5:] for d in daily]
        series = (
            ("availability", "daily availability vs target", slo["availability_target"],
             "availability (ratio)"),
            ("latency_p95_ms", "daily p95 latency vs 3 s", slo["latency_p95_target_ms"],
             "p95 latency (ms)"),
            ("freshness", "daily freshness vs target", slo["freshness_target"],
             "freshness (ratio)"),
            ("budget_remaining", "error budget remaining", 0, "failures left (count)"),
        )
        for key, title, target, unit in series:
            values = [d[key] if d[key] is not None else float("nan") for d in daily]

            def draw(ax: Any, values: list[float] = values, key: str = key,
                     target: float = target, unit: str = unit,
                     days: list[str] = days) -> None:
                ax.plot(days, values, marker="o", label=key)
                ax.axhline(target, color="red", linestyle="--", label="target")
                ax.set_xlabel("day (UTC, MM-DD)")
                ax.set_ylabel(unit)
                ax.tick_params(axis="x", labelrotation=90, labelsize=7)
                ax.legend(loc="best", fontsize=7)

            file = _chart(plt, out, safe_file_name(name, f"{key}.png"),
                          f"{_short(name)}: {title}", draw)
            charts.append((f"{name}: {title}", file))
    sla = review.get("sla", [])
    if sla:
        def draw_sla(ax: Any) -> None:
            labels = [f"{s['severity']} {kind}" for s in sla for kind in s["deadlines"]]
            met = [v["met"] for s in sla for v in s["deadlines"].values()]
            missed = [v["missed"] for s in sla for v in s["deadlines"].values()]
            ax.bar(labels, met, label="met", color="#2ca02c")
            ax.bar(labels, missed, bottom=met, label="missed", color="#d62728")
            ax.set_xlabel("severity and deadline")
            ax.set_ylabel("deadlines (count)")
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
            ax.legend(loc="best", fontsize=7)

        charts.append(("response deadlines met and missed",
                       _chart(plt, out, "sla.png", "response deadlines met and missed",
                              draw_sla)))
    quality = review.get("quality") or {}
    judged = [r for r in quality.get("rules", []) if r["alerts"]]
    if judged:
        def draw_precision(ax: Any) -> None:
            labels = [f"{_short(str(r['tenant']), 20)} {r['rule']}" for r in judged]
            bottom = [0] * len(judged)
            for key, colour in (("actionable", "#2ca02c"), ("noise", "#d62728"),
                                ("unjudged", "#8a93a3")):
                values = [r[key] for r in judged]
                ax.barh(labels, values, left=bottom, label=key, color=colour)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.set_xlabel("alerts (count)")
            ax.set_ylabel("tenant and rule")
            ax.tick_params(axis="y", labelsize=6)
            ax.legend(loc="best", fontsize=7)

        charts.append(("alert precision: actionable, noise and not judged per rule",
                       _chart(plt, out, "precision.png",
                              "alert precision: actionable, noise, not judged", draw_precision)))
    alerts = review.get("alerts", [])
    if alerts:
        rules = sorted({a["rule"] for a in alerts})
        start = _t(review["period_start"])

        def draw_alerts(ax: Any) -> None:
            for index, rule in enumerate(rules):
                days = [(_t(a["triggered_at"]) - start).total_seconds() / 86400
                        for a in alerts if a["rule"] == rule]
                ax.scatter(days, [index] * len(days), label=rule, s=18)
            ax.set_xlabel(f"days since {review['period_start'][:10]} (UTC)")
            ax.set_ylabel("rule")
            ax.set_yticks(range(len(rules)), rules, fontsize=7)

        charts.append(("alert timeline", _chart(plt, out, "alert-timeline.png",
                                                "alert timeline", draw_alerts)))
    return charts


def _markdown_cell(value: object) -> str:
    """A markdown table cell: text escaped; a link as ``[text](#anchor)``."""
    if isinstance(value, Link):
        return f"[{markdown_text(value.text)}]({quote(value.href, safe='#')})"
    return markdown_text(value)


@cache
def _environment() -> Environment:
    """The review templates (package data): HTML autoescaped, markdown through ``md``."""
    env = Environment(
        loader=PackageLoader("opsledger.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                     disabled_extensions=("md.j2",), default=True,
                                     default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_text
    env.filters["md_cell"] = _markdown_cell
    env.tests["link"] = lambda value: isinstance(value, Link)
    return env


def render_page(review: dict[str, Any], fmt: str, charts: list[dict[str, str]]) -> str:
    """The review page (``fmt`` ``html`` or ``md``) with ``charts`` (caption, file, href
    and, for HTML, the PNG as base64 ``data``)."""
    title = (f"{review['kind'].title()} review {review['period_start'][:10]} to "
             f"{review['period_end'][:10]}")
    shown = [{"name": t.name, "header": t.header, "anchor": t.anchor, "note": t.note,
              "rows": [[cell(v) for v in row] for row in t.rows]} for t in tables(review)]
    template = _environment().get_template(f"review.{fmt}.j2")
    return template.render(title=title, tables=shown, charts=charts, cards=cards(review))


def write_review(review: dict[str, Any], fmt: str, out: Path) -> Path:
    """Write ``index.md``/``index.html``/``review.json`` (and charts) into ``out``; returns
    the page's path as given (each file written is checked to lie inside ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        confined(out, "review.json").write_bytes(
            orjson.dumps(review, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return out / "review.json"
    charts = []
    for caption, file in _charts(review, out):
        chart = {"caption": caption, "file": file, "href": quote(file)}
        if fmt == "html":
            chart["data"] = base64.b64encode(confined(out, file).read_bytes()).decode()
        charts.append(chart)
    confined(out, f"index.{fmt}").write_text(render_page(review, fmt, charts), encoding="utf-8")
    recommended = (review.get("tuning") or {}).get("recommendation")
    if recommended:  # the page says: opsledger policy adopt tuned-policy.toml …
        confined(out, "tuned-policy.toml").write_text(recommended["policy_toml"],
                                                      encoding="utf-8")
    return out / f"index.{fmt}"
