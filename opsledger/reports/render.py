"""Reviews rendered for people: markdown (PNG charts beside it), HTML (charts embedded
and beside it), JSON. Charts are drawn headless with matplotlib (Agg).

Values from data (tenant ids above all) are untrusted: the pages are rendered from Jinja2
templates with autoescape (HTML) or a markdown-escaping filter, chart files are named by
:func:`~opsledger.reports.outputs.safe_file_name` and written only inside ``out``."""

from __future__ import annotations

import base64
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from opsledger.reports.outputs import confined, markdown_text, safe_file_name, visible_controls

__all__ = ["write_review"]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _short(text: str, limit: int = 60) -> str:
    """A chart title's share of an id (the page names it in full), controls visible."""
    text = visible_controls(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _charts(review: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """(title, file name) for each chart written into ``out`` (monthly reviews)."""
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
            ("availability", "daily availability vs target", slo["availability_target"]),
            ("latency_p95_ms", "daily p95 latency (ms) vs 3 s", slo["latency_p95_target_ms"]),
            ("freshness", "daily freshness vs target", slo["freshness_target"]),
            ("budget_remaining", "error budget remaining (failures)", 0),
        )
        for key, title, target in series:
            fig, ax = plt.subplots(figsize=(8, 3))
            values = [d[key] if d[key] is not None else float("nan") for d in daily]
            ax.plot(days, values, marker="o", label=key)
            ax.axhline(target, color="red", linestyle="--", label="target")
            ax.set_title(f"{_short(name)}: {title}", parse_math=False)
            ax.tick_params(axis="x", labelrotation=90, labelsize=7)
            ax.legend(loc="best", fontsize=7)
            file = safe_file_name(name, f"{key}.png")
            fig.tight_layout()
            fig.savefig(confined(out, file), dpi=90)
            plt.close(fig)
            charts.append((f"{name}: {title}", file))
    alerts = review.get("alerts", [])
    if alerts:
        rules = sorted({a["rule"] for a in alerts})
        start = _t(review["period_start"])
        fig, ax = plt.subplots(figsize=(8, 3))
        for index, rule in enumerate(rules):
            days = [(_t(a["triggered_at"]) - start).total_seconds() / 86400
                    for a in alerts if a["rule"] == rule]
            ax.scatter(days, [index] * len(days), label=rule, s=18)
        ax.set_xlabel(f"days since {review['period_start'][:10]}")
        ax.set_yticks(range(len(rules)), rules, fontsize=7)
        ax.set_title("alert timeline")
        fig.tight_layout()
        fig.savefig(confined(out, "alert-timeline.png"), dpi=90)
        plt.close(fig)
        charts.append(("alert timeline", "alert-timeline.png"))
    return charts


def _tables(review: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    tables = []
    if review["kind"] == "weekly":
        rows = [[t["tenant"], w, *[t[w][k] for k in ("operations", "error_rate",
                                                      "latency_p95_ms", "freshness",
                                                      "isolation_blocked",
                                                      "confirmed_violations")]]
                for t in review["tenants"] for w in ("this_week", "last_week")]
        tables.append(("Weekly review", ["tenant", "week", "operations", "error rate",
                                         "p95 ms", "freshness", "blocked crossings",
                                         "confirmed violations"], rows))
        return tables
    slo_rows = [[t["tenant"], t["slo"]["availability"], t["slo"]["availability_met"],
                 t["slo"]["latency_p95_ms"], t["slo"]["latency_met"], t["slo"]["freshness"],
                 t["slo"]["freshness_met"], t["slo"]["integrity_met"],
                 t["slo"]["error_budget_remaining"]] for t in review["tenants"]]
    tables.append(("SLO compliance", ["tenant", "availability", "met", "p95 ms", "met",
                                      "freshness", "met", "integrity", "budget left"],
                   slo_rows))
    sla_rows = [[s["severity"], s["incidents"],
                 ", ".join(f"{k} {v['met']}/{v['met'] + v['missed']}"
                           for k, v in s["deadlines"].items()),
                 s["mtta_minutes"], s["time_to_mitigation_minutes"], s["mttr_minutes"]]
                for s in review["sla"]]
    tables.append(("SLA compliance", ["severity", "incidents", "deadlines met", "MTTA min",
                                      "mitigation min", "MTTR min"], sla_rows))
    tables.append(("Alerts per rule", ["rule", "alerts"],
                   [[k, v] for k, v in review["alerts_per_rule"].items()]))
    tables.append(("Incidents", ["opened", "tenant", "severity", "state", "cause"],
                   [[i["opened_at"], i["tenant"], i["severity"], i["state"], i["cause"]]
                    for i in review["incidents"]]))
    what_if = review.get("what_if")
    if what_if:
        tables.append(("What-if: candidate thresholds", ["rule", "fired", "would fire", "same"],
                       [[rule, r["fired"], r["would_fire"], r["same"]]
                        for rule, r in what_if["rules"].items()]))
    return tables


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


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
    return env


def render_page(review: dict[str, Any], fmt: str, charts: list[dict[str, str]]) -> str:
    """The review page (``fmt`` ``html`` or ``md``) with ``charts`` (caption, file, href
    and, for HTML, the PNG as base64 ``data``)."""
    title = (f"{review['kind'].title()} review {review['period_start'][:10]} to "
             f"{review['period_end'][:10]}")
    tables = [{"name": name, "header": header, "rows": [[_cell(v) for v in row] for row in rows]}
              for name, header, rows in _tables(review)]
    template = _environment().get_template(f"review.{fmt}.j2")
    return template.render(title=title, tables=tables, charts=charts)


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
    return out / f"index.{fmt}"
