"""Start-up time of the ``opsledger`` command beside a bare Python interpreter.

``opsledger --help`` (the venv's console script beside ``sys.executable``; else
``python -m opsledger.cli --help``) and ``python -c pass`` are each started ``runs`` times in
fresh processes, interleaved so that machine noise hits both, and the medians are reported.
The difference is what importing the CLI costs; issue 14 asks for ``--help`` well under half a
second.

A second row times a simple read the same way: ``opsledger slo --tenant … --month …`` against a
small SQLite store written once into a temporary directory (200 simulated publishes), so it
is start-up — imports, opening the store, one query — not the size of a store that is measured;
issue 19 asks for it under 0.3 s. Byte-code caching is left on for both children (a user's
interpreter writes ``.pyc`` files; a ``PYTHONDONTWRITEBYTECODE`` of this process would make every
run compile the whole package again).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["READ_TARGET_SECONDS", "RUNS", "TARGET_SECONDS", "Startup", "command", "measure"]

RUNS = 5
TARGET_SECONDS = 0.5
READ_TARGET_SECONDS = 0.3


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
    read_seconds: list[float] = field(default_factory=list)

    @property
    def opsledger_median(self) -> float:
        """Median seconds of ``opsledger --help``."""
        return statistics.median(self.opsledger_seconds)

    @property
    def python_median(self) -> float:
        """Median seconds of ``python -c pass``."""
        return statistics.median(self.python_seconds)

    @property
    def read_median(self) -> float:
        """Median seconds of the simple read (``opsledger slo``)."""
        return statistics.median(self.read_seconds)

    @property
    def met(self) -> bool:
        """True if ``opsledger --help`` starts in under :data:`TARGET_SECONDS`."""
        return self.opsledger_median < TARGET_SECONDS

    @property
    def read_met(self) -> bool:
        """True if the simple read ends in under :data:`READ_TARGET_SECONDS`."""
        return self.read_median < READ_TARGET_SECONDS

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
            "simple_read": "opsledger slo --tenant tenant-01 --month 2026-11 (200 publishes)",
            "simple_read_median_s": round(self.read_median, 4),
            "simple_read_target_s": READ_TARGET_SECONDS,
            "simple_read_target_met": self.read_met,
            "simple_read_seconds": [round(s, 4) for s in self.read_seconds],
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
            f"  opsledger slo    {self.read_median:8.3f}s   (runs: "
            f"{', '.join(f'{s:.3f}s' for s in self.read_seconds)}; a simple read of a small "
            f"store, target < {READ_TARGET_SECONDS:.1f}s): "
            f"{'target met' if self.read_met else 'target missed'}",
        ]


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    return time.perf_counter() - start


def _small_store(path: Path) -> str:
    """A SQLite store of 200 simulated publishes (the size bench's inputs), imported and
    caught up as the CLI does; its URL."""
    from bench._size import opsledger_store, simulated_inputs

    url = f"sqlite:///{path}"
    opsledger_store(url, *simulated_inputs(200, 7))
    return url


def measure(runs: int = RUNS) -> Startup:
    """Start the three commands ``runs`` times each, rotating which goes first."""
    result = Startup(command())
    with tempfile.TemporaryDirectory() as tmp:
        read = [*result.command[:-1], "slo", "--db", _small_store(Path(tmp) / "small.db"),
                "--tenant", "tenant-01", "--month", "2026-11"]
        _time(result.command)  # warm the file cache (and write byte code) once; not counted
        _time(read)
        order = [(result.command, result.opsledger_seconds), (BASELINE, result.python_seconds),
                 (read, result.read_seconds)]
        for run in range(runs):
            for argv, into in order[run % 3:] + order[:run % 3]:
                into.append(_time(argv))
    return result
