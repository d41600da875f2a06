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


def _when(value: Any) -> str:
    """A stored time to the second, UTC (``2026-11-03 07:03:03Z``)."""
    if not value:
        return "-"
    return _t(str(value)).strftime("%Y-%m-%d %H:%M:%SZ")


def _met(value: Any) -> str:
    return "-" if value is None else ("met" if value else "not met")


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _cards(review: dict[str, Any]) -> list[dict[str, str]]:
    """The summary first: per tenant, each SLO's value against its target, met or not."""
    cards: list[dict[str, str]] = []
    if review["kind"] != "monthly":
        return cards
    for t in review.get("tenants", []):
        slo = t["slo"]
        for name, value, target, met in (
                ("availability", slo["availability"], slo["availability_target"],
                 slo["availability_met"]),
                ("p95 latency (ms)", slo["latency_p95_ms"], slo["latency_p95_target_ms"],
                 slo["latency_met"]),
                ("freshness", slo["freshness"], slo["freshness_target"], slo["freshness_met"]),
                ("integrity", slo["unresolved_critical_isolation_incidents"], 0,
                 slo["integrity_met"])):
            cards.append({"tenant": str(t["tenant"]), "name": name,
                          "value": _cell(value), "target": _cell(target), "met": _met(met),
                          "state": "none" if met is None else ("met" if met else "missed")})
    return cards


def _tables(review: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    tables = []
    if review["kind"] == "weekly":
        rows = [[t["tenant"], w.replace("_", " "),
                 *[t[w][k] for k in ("operations", "error_rate", "latency_p95_ms", "freshness",
                                     "isolation_blocked", "confirmed_violations")]]
                for t in review["tenants"] for w in ("this_week", "last_week")]
        tables.append(("Weekly review", ["tenant", "week", "operations", "error rate",
                                         "p95 ms", "freshness", "blocked crossings",
                                         "confirmed violations"], rows))
        return tables
    slo_rows = [[t["tenant"], t["slo"]["availability"], _met(t["slo"]["availability_met"]),
                 t["slo"]["latency_p95_ms"], _met(t["slo"]["latency_met"]),
                 t["slo"]["freshness"], _met(t["slo"]["freshness_met"]),
                 _met(t["slo"]["integrity_met"]), t["slo"]["error_budget_remaining"]]
                for t in review["tenants"]]
    tables.append(("SLO compliance", ["tenant", "availability", "target", "p95 ms", "target",
                                      "freshness", "target", "integrity",
                                      "budget left (failures)"], slo_rows))
    sla_rows = [[s["severity"], s["incidents"],
                 ", ".join(f"{k} {v['met']}/{v['met'] + v['missed']}"
                           for k, v in s["deadlines"].items()),
                 s["mtta_minutes"], s["time_to_mitigation_minutes"], s["mttr_minutes"],
                 "-" if s["status_cadence_kept"] is None else
                 ("kept" if s["status_cadence_kept"] else "not kept")]
                for s in review["sla"]]
    tables.append(("SLA compliance", ["severity", "incidents", "deadlines met", "MTTA min",
                                      "mitigation min", "MTTR min", "SEV1 status cadence"],
                   sla_rows))
    tables.append(("Alerts per rule", ["rule", "alerts"],
                   [[k, v] for k, v in review["alerts_per_rule"].items()]))
    tables.append(("Alerts", ["triggered", "tenant", "rule", "level", "observed",
                              "threshold", "resolved", "judgement"],
                   [[_when(a["triggered_at"]), a["tenant"], a["rule"], a["level"],
                     _number(a["observed"]), _number(a["threshold"]),
                     _when(a.get("resolved_at")), _judgement(a)] for a in review["alerts"]]))
    tables.append(("Incidents", ["id", "title", "tenant", "severity", "state", "cause",
                                 "opened", "resolved"],
                   [[i["id"], i.get("title") or "-", i["tenant"] or "(platform)",
                     i["severity"], i["state"], i["cause"], _when(i["opened_at"]),
                     _when(i.get("resolved_at"))] for i in review["incidents"]]))
    tables.append(("Threshold tuning: policies adopted this month", ["at", "by", "changes"],
                   [[_when(a["at"]), a["by"], _changes(a["details"])]
                    for a in review.get("threshold_tuning", [])]))
    tables += _quality(review.get("quality"))
    tables += _what_if(review.get("what_if"))
    return tables


def _quality(quality: dict[str, Any] | None) -> list[tuple[str, list[str], list[list[Any]]]]:
    """Detection quality (``alerts quality``): per tenant and rule, and what was missed."""
    if not quality:
        return []
    return [
        ("Detection quality per rule", ["tenant", "rule", "alerts", "actionable", "noise",
                                        "not judged", "precision", "missed",
                                        "time to detect (median s)"],
         [[r["tenant"], r["rule"], r["alerts"], r["actionable"], r["noise"], r["unjudged"],
           "-" if r["precision"] is None else f"{r['precision']:.0%}", r["missed"],
           _number(r["time_to_detect_median_s"])] for r in quality["rules"]]),
        ("Missed detections", ["tenant", "rule", "what", "when", "incident"],
         [[m["tenant"] or "(platform)", m["rule"], m["kind"], _when(m["at"]),
           m["incident_id"] or "-"] for m in quality["missed"]]),
    ]


def _judgement(alert: dict[str, Any]) -> str:
    """An alert's judgement: the operator's verdict (and why), else actionable when it is
    linked to an incident, else not judged."""
    verdict = alert.get("verdict")
    if verdict is not None:
        reason = alert.get("verdict_reason")
        return f"{verdict} ({reason})" if reason else str(verdict)
    return "actionable (incident)" if alert.get("incident_id") else "not judged"


def _changes(details: Any) -> str:
    """A policy adoption's details in one line."""
    if isinstance(details, str):
        return details
    return ", ".join(f"{k}: {v}" for k, v in sorted(dict(details or {}).items()))


def _what_if(what_if: dict[str, Any] | None) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The candidate thresholds replayed over the month: per rule, and the alerts each side
    alone raised."""
    if not what_if:
        return []
    return [
        ("What-if: candidate thresholds, per rule", ["rule", "fired", "would fire", "same"],
         [[rule, r["fired"], r["would_fire"], r["same"]]
          for rule, r in what_if["rules"].items()]),
        ("What-if: alerts the candidate would not raise (removed)",
         ["tenant", "rule", "triggered"],
         [[tenant, rule, _when(at)] for tenant, rule, at in what_if.get("only_recorded", [])]),
        ("What-if: alerts only the candidate raises (added)", ["tenant", "rule", "triggered"],
         [[tenant, rule, _when(at)] for tenant, rule, at in what_if.get("only_candidate", [])]),
    ]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return _met(value)
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
    return template.render(title=title, tables=tables, charts=charts, cards=_cards(review))


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
