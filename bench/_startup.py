"""Start-up time of the ``opsledger`` command beside a bare Python interpreter.

``opsledger --help`` (the venv's console script beside ``sys.executable``; else
``python -m opsledger.cli --help``) and ``python -c pass`` are each started ``runs`` times in
fresh processes, interleaved so that machine noise hits both, and the medians are reported.
The difference is what importing the CLI costs; issue 14 asks for ``--help`` well under half a
second.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RUNS", "TARGET_SECONDS", "Startup", "command", "measure"]

RUNS = 5
TARGET_SECONDS = 0.5


def command() -> list[str]:
    """The ``opsledger --help`` command line of this interpreter's environment."""
    script = Path(sys.executable).with_name("opsledger")
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "opsledger.cli", "--help"]


BASELINE = [sys.executable, "-c", "pass"]


@dataclass
class Startup:
    """Wall-clock seconds of each run of both commands."""

    command: list[str]
    opsledger_seconds: list[float] = field(default_factory=list)
    python_seconds: list[float] = field(default_factory=list)

    @property
    def opsledger_median(self) -> float:
        """Median seconds of ``opsledger --help``."""
        return statistics.median(self.opsledger_seconds)

    @property
    def python_median(self) -> float:
        """Median seconds of ``python -c pass``."""
        return statistics.median(self.python_seconds)

    @property
    def met(self) -> bool:
        """True if ``opsledger --help`` starts in under :data:`TARGET_SECONDS`."""
        return self.opsledger_median < TARGET_SECONDS

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "command": " ".join(Path(self.command[0]).name if i == 0 else part
                                for i, part in enumerate(self.command)),
            "runs": len(self.opsledger_seconds),
            "opsledger_help_median_s": round(self.opsledger_median, 4),
            "python_pass_median_s": round(self.python_median, 4),
            "target_s": TARGET_SECONDS,
            "target_met": self.met,
            "opsledger_help_seconds": [round(s, 4) for s in self.opsledger_seconds],
            "python_pass_seconds": [round(s, 4) for s in self.python_seconds],
        }

    def render(self) -> list[str]:
        """The report's text rows."""
        verdict = "target met" if self.met else "target missed"
        runs = ", ".join(f"{s:.3f}s" for s in self.opsledger_seconds)
        base = ", ".join(f"{s:.3f}s" for s in self.python_seconds)
        return [
            f"startup: opsledger --help beside python -c pass, median of "
            f"{len(self.opsledger_seconds)} fresh processes",
            f"  opsledger --help {self.opsledger_median:8.3f}s   (runs: {runs})",
            f"  python -c pass   {self.python_median:8.3f}s   (runs: {base})",
            f"  difference       {self.opsledger_median - self.python_median:8.3f}s   "
            f"(target: --help < {TARGET_SECONDS:.1f}s): {verdict}",
        ]


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(runs: int = RUNS) -> Startup:
    """Start both commands ``runs`` times, alternating which goes first."""
    result = Startup(command())
    _time(result.command)  # warm the file cache once; not counted
    for run in range(runs):
        order = [(result.command, result.opsledger_seconds), (BASELINE, result.python_seconds)]
        for argv, into in order if run % 2 == 0 else reversed(order):
            into.append(_time(argv))
    return result
