"""Figures of one bench run and their text / JSON rendering."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import orjson

from bench._startup import Startup

__all__ = ["Comparison", "Report", "machine", "render_json", "render_json_value", "render_text"]


def machine() -> dict[str, str]:
    """What the figures were measured with."""
    return {
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "opsledger": version("opsledger"),
        "platform": platform.platform(terse=True),
    }


@dataclass
class Comparison:
    """One opsledger measurement against its library baseline (best of the repeats)."""

    name: str
    description: str
    baseline: str
    events: int
    target: float
    opsledger_seconds: list[float] = field(default_factory=list)
    library_seconds: list[float] = field(default_factory=list)

    @property
    def opsledger_rate(self) -> float:
        """Events per second of opsledger's best run."""
        return self.events / min(self.opsledger_seconds)

    @property
    def library_rate(self) -> float:
        """Events per second of the library's best run."""
        return self.events / min(self.library_seconds)

    @property
    def ratio(self) -> float:
        """opsledger rate / library rate (1.0 = as fast as the library)."""
        return self.opsledger_rate / self.library_rate

    @property
    def met(self) -> bool:
        """True if the ratio reaches the target."""
        return self.ratio >= self.target

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this comparison."""
        return {
            "description": self.description,
            "baseline": self.baseline,
            "events": self.events,
            "opsledger_events_per_s": round(self.opsledger_rate, 1),
            "library_events_per_s": round(self.library_rate, 1),
            "ratio": round(self.ratio, 3),
            "target": self.target,
            "target_met": self.met,
            "opsledger_seconds": [round(s, 4) for s in self.opsledger_seconds],
            "library_seconds": [round(s, 4) for s in self.library_seconds],
        }


@dataclass
class Report:
    """The machine, the parameters and every comparison of one run."""

    machine: dict[str, str]
    lines: int
    single: int
    repeat: int
    comparisons: list[Comparison]
    startup: Startup | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the run (``python -m bench --json``)."""
        return {
            "machine": self.machine,
            "lines": self.lines,
            "single": self.single,
            "repeat": self.repeat,
            "results": {c.name: c.to_dict() for c in self.comparisons},
            "all_targets_met": all(c.met for c in self.comparisons),
            "startup": self.startup.to_dict() if self.startup else None,
        }


def render_json(report: Report) -> str:
    """The report as indented JSON."""
    return render_json_value(report.to_dict())


def render_json_value(value: dict[str, Any]) -> str:
    """A JSON object, indented."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def render_text(report: Report) -> str:
    """The report as a short human-readable table."""
    machine = ", ".join(f"{k} {v}" for k, v in report.machine.items())
    out = [
        f"machine: {machine}",
        f"N = {report.lines:,} audit lines, M = {report.single:,} single records, "
        f"best of {report.repeat} (interleaved)",
        "",
    ]
    for c in report.comparisons:
        verdict = "target met" if c.met else "target missed"
        out += [
            f"{c.name}: {c.description}",
            f"  opsledger {c.opsledger_rate:>10,.0f} events/s"
            f"   (runs: {_seconds(c.opsledger_seconds)})",
            f"  library   {c.library_rate:>10,.0f} events/s   {c.baseline}"
            f"   (runs: {_seconds(c.library_seconds)})",
            f"  ratio     {c.ratio:>10.3f}x   (target >= {c.target:.2f}x): {verdict}",
            "",
        ]
    if report.startup is not None:
        out += report.startup.render()
    return "\n".join(out).rstrip()


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}s" for v in values)
