"""Reviews rendered for people: markdown (PNG charts beside it), HTML (charts embedded
and beside it), JSON. Charts are drawn headless with matplotlib (Agg)."""

from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["write_review"]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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
            ax.set_title(f"{name}: {title}")
            ax.tick_params(axis="x", labelrotation=90, labelsize=7)
            ax.legend(loc="best", fontsize=7)
            file = f"{name}-{key}.png"
            fig.tight_layout()
            fig.savefig(out / file, dpi=90)
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
        fig.savefig(out / "alert-timeline.png", dpi=90)
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
    return tables


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def write_review(review: dict[str, Any], fmt: str, out: Path) -> Path:
    """Write ``index.md``/``index.html``/``review.json`` (and charts) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = out / "review.json"
        path.write_bytes(orjson.dumps(review, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return path
    charts = _charts(review, out)
    title = f"{review['kind'].title()} review {review['period_start'][:10]} to " \
            f"{review['period_end'][:10]}"
    if fmt == "md":
        lines = [f"# {title}", ""]
        for name, header, rows in _tables(review):
            lines += [f"## {name}", "", "| " + " | ".join(header) + " |",
                      "|" + " --- |" * len(header)]
            lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
            lines.append("")
        lines += [f"![{caption}]({file})" for caption, file in charts]
        path = out / "index.md"
        path.write_text("\n".join(lines) + "\n")
        return path
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             "</title></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for name, header, rows in _tables(review):
        parts.append(f"<h2>{html.escape(name)}</h2><table border='1'><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row)
                  + "</tr>" for row in rows]
        parts.append("</table>")
    for caption, file in charts:
        data = base64.b64encode((out / file).read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(caption)}' "
                     f"src='data:image/png;base64,{data}'><figcaption>"
                     f"{html.escape(caption)} (<a href='{file}'>{file}</a>)</figcaption>"
                     "</figure>")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
