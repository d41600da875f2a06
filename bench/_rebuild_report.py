"""Figures of one rebuild bench run and their text / JSON rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from bench._rebuild_store import StoreInfo
from bench._report import Comparison

__all__ = ["MemoryFigures", "RebuildReport", "render_json", "render_text"]

_MIB = 1024.0


@dataclass
class MemoryFigures:
    """Peak resident sets (KiB) of fresh processes doing one rebuild (or read) each.

    The peaks are each child's own VmHWM; ``ru_maxrss_kib`` keeps every child's raw
    ``ru_maxrss`` (in run order) for reference, which on Linux also counts the parent's
    resident set at fork."""

    target: float
    small_operations: int
    large_operations: int
    opsledger_small_kib: list[int] = field(default_factory=list)
    library_small_kib: list[int] = field(default_factory=list)
    opsledger_large_kib: list[int] = field(default_factory=list)
    large_store: StoreInfo | None = None
    large_seconds: list[float] = field(default_factory=list)
    ru_maxrss_kib: list[int] = field(default_factory=list)

    @property
    def small_mib(self) -> float:
        """The highest peak of the small-store rebuilds, MiB."""
        return max(self.opsledger_small_kib) / _MIB

    @property
    def large_mib(self) -> float | None:
        """The highest peak of the large-store rebuilds, MiB (None if not measured)."""
        return max(self.opsledger_large_kib) / _MIB if self.opsledger_large_kib else None

    @property
    def ratio(self) -> float | None:
        """Large peak / small peak (None if the large store was not measured)."""
        large = self.large_mib
        return None if large is None else large / self.small_mib

    @property
    def met(self) -> bool | None:
        """True if the ratio is within the target (None if not measured)."""
        ratio = self.ratio
        return None if ratio is None else ratio <= self.target

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the memory figures."""
        large = self.large_mib
        ratio = self.ratio
        return {
            "measure": "VmHWM of a fresh process after one rebuild (max over runs)",
            "operations": self.small_operations,
            "opsledger_peak_mib": round(self.small_mib, 1),
            "library_mapped_read_peak_mib": round(max(self.library_small_kib) / _MIB, 1),
            "large_operations": self.large_operations,
            "large_measured": large is not None,
            "large_opsledger_peak_mib": None if large is None else round(large, 1),
            "large_rebuild_events_per_s": (
                round(self.large_store.notifications / min(self.large_seconds), 1)
                if self.large_store and self.large_seconds else None
            ),
            "large_store": self.large_store.to_dict() if self.large_store else None,
            "ratio": None if ratio is None else round(ratio, 3),
            "target": self.target,
            "target_met": self.met,
            "ru_maxrss_kib": self.ru_maxrss_kib,
        }


@dataclass
class RebuildReport:
    """The machine, the store, the rate comparison and the memory figures of one run."""

    machine: dict[str, str]
    store: StoreInfo
    repeat: int
    rebuild: Comparison
    decode: Comparison
    memory: MemoryFigures

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the run (``python -m bench rebuild --json``)."""
        return {
            "machine": self.machine,
            "store": self.store.to_dict(),
            "repeat": self.repeat,
            "results": {c.name: c.to_dict() for c in (self.rebuild, self.decode)},
            "memory": self.memory.to_dict(),
            "all_targets_met": (self.rebuild.met and self.decode.met
                                and self.memory.met is not False),
            "all_targets_measured": self.memory.met is not None,
        }


def render_json(report: RebuildReport) -> str:
    """The report as indented JSON."""
    return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()


def render_text(report: RebuildReport) -> str:
    """The report as a short human-readable table."""
    machine = ", ".join(f"{k} {v}" for k, v in report.machine.items())
    store, m = report.store, report.memory
    how = "reused" if store.reused else f"built in {store.build_seconds:,.0f}s"
    out = [
        f"machine: {machine}",
        f"store: {store.path} ({how})",
        f"  {store.operations:,} simulated publish operations ({store.days} days x "
        f"{store.tenants} tenants, seed {store.seed}): {store.imported:,} imported + "
        f"{store.duplicates:,} duplicates -> {store.notifications:,} notifications",
        f"best of {report.repeat} (interleaved, each run in a fresh process)",
        "",
    ]
    labels = (("END TO END", report.rebuild), ("READ+DECODE PHASE", report.decode))
    for label, c in labels:
        verdict = "target met" if c.met else "target missed"
        out += [
            f"{label} — {c.name}: {c.description}",
            f"  opsledger {c.opsledger_rate:>10,.0f} events/s   "
            f"(runs: {_seconds(c.opsledger_seconds)})",
            f"  library   {c.library_rate:>10,.0f} events/s   {c.baseline}",
            f"{'':24}(runs: {_seconds(c.library_seconds)})",
            f"  ratio     {c.ratio:>10.3f}x   (target >= {c.target:.2f}x): {verdict}",
            "",
        ]
    out += [
        "peak memory of one rebuild (VmHWM of a fresh process, max over runs)",
        f"  {m.small_operations:>12,} operations  {m.small_mib:8.1f} MiB"
        f"   (library mapped read of the {store.operations:,}-operation store: "
        f"{max(m.library_small_kib) / _MIB:.1f} MiB)",
    ]
    large, ratio = m.large_mib, m.ratio
    if large is None or ratio is None:
        out += [
            f"  {m.large_operations:>12,} operations  not measured: add --with-10m (builds a "
            f"{m.large_operations:,}-operation store once, cached in --dir; long)",
            f"  ratio                            -   (target <= {m.target:.2f}): not measured",
        ]
    else:
        rate = (f", rebuild {m.large_store.notifications / min(m.large_seconds):,.0f} events/s"
                if m.large_store and m.large_seconds else "")
        out += [
            f"  {m.large_operations:>12,} operations  {large:8.1f} MiB{rate}",
            f"  ratio              {ratio:>10.3f}   (target <= {m.target:.2f}): "
            f"{'target met' if m.met else 'target missed'}",
        ]
    return "\n".join(out)


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}s" for v in values)
