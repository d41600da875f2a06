"""Drive the real CLI with hostile files and check what issue 13 demands after each batch.

Commands run either as a subprocess of the installed ``opsledger`` (what a user runs) or
in-process through click's CliRunner (faster); both count an uncaught exception as a
crash: a traceback, or an exit code other than the documented 0 (ok), 1 (check failed),
2 (typed refusal / usage error). Problems are collected, not raised one by one, so one
run lists every finding.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from opsledger.cli.main import main

HOSTILE = sys.modules["opsledger_fuzz_hostile"]
Line = HOSTILE.Line

_EXE = Path(sys.executable).with_name("opsledger")
CLI: list[str] = [str(_EXE)] if _EXE.exists() else [sys.executable, "-m", "opsledger.cli"]
REPLAY_FROM, REPLAY_TO, WEEK, MONTH = "2026-11-01T00:00:00Z", "2026-11-06T00:00:00Z", \
    "2026-W45", "2026-11"
MAX_REJECTION_CHARS = 1000  # a refusal quotes little: never the whole record
# A command that runs away (a line inside the bounds that makes the engine loop for
# minutes) is a finding, not a reason to hang the suite: it is stopped, reported, and the
# profile ends there (``Fuzz.hung``). Generous for 2 shared cores; the profiles size them.
IMPORT_SECONDS, READ_SECONDS = 150, 90


class Hang(Exception):
    """An in-process command ran past its time limit."""


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def _raise(signum: int, frame: Any) -> None:
        raise Hang(seconds)

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What one command did."""

    code: int
    stdout: str
    stderr: str
    crash: str | None  # traceback head when the command died of an uncaught exception


@dataclass
class Fuzz:
    """One store under fuzz: runs commands, collects every violated demand."""

    db: str
    out: Path
    problems: list[str] = field(default_factory=list)
    lines_imported: int = 0
    import_seconds: int = IMPORT_SECONDS
    read_seconds: int = READ_SECONDS
    hung: bool = False

    def run(self, args: list[str], *, subprocess_: bool) -> Outcome:
        """Run ``opsledger ARGS --db DB`` one way or the other."""
        argv = [*args, "--db", self.db]
        limit = self.import_seconds if args[0] == "import" else self.read_seconds
        if subprocess_:
            try:
                done = subprocess.run([*CLI, *argv], capture_output=True, timeout=limit)
            except subprocess.TimeoutExpired:
                self.hung = True
                return Outcome(-1, "", "", f"no answer within {limit} s (killed)")
            out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
            crash = None
            if "Traceback (most recent call last)" in err or done.returncode not in (0, 1, 2):
                crash = _head(err)
            return Outcome(done.returncode, out, err, crash)
        with _deadline(limit):
            result = CliRunner().invoke(main, argv, catch_exceptions=True)
        crash = None
        exc = result.exception
        if isinstance(exc, Hang):
            self.hung = True
            crash = f"no answer within {limit} s (interrupted)"
        elif exc is not None and not isinstance(exc, SystemExit):
            crash = _head("".join(traceback.format_exception(exc)))
        elif result.exit_code not in (0, 1, 2):
            crash = f"exit code {result.exit_code}"
        return Outcome(result.exit_code, result.stdout, result.stderr, crash)

    def note(self, what: str) -> None:
        """Record one violated demand."""
        self.problems.append(what)

    def must_pass(self, args: list[str], *, subprocess_: bool, label: str) -> Outcome:
        """Run a command that must answer with exit 0."""
        done = self.run(args, subprocess_=subprocess_)
        if done.crash:
            self.note(f"{label}: `opsledger {' '.join(args)}` crashed:\n{done.crash}")
        elif done.code != 0:
            self.note(f"{label}: `opsledger {' '.join(args)}` exit {done.code}: "
                      f"{_head(done.stderr or done.stdout, 6)}")
        return done

    # ------------------------------------------------------------------ the checks --
    def import_batch(self, files: dict[Path, list[Any]], *, subprocess_: bool,
                     label: str) -> None:
        """Import ``files`` in one command; check every labelled line's fate."""
        args = ["import", "pumuki-audit", *map(str, files), "--register-unknown", "--json"]
        done = self.run(args, subprocess_=subprocess_)
        first = next(iter(files))
        if done.crash:
            hostile = [f"{path.name}:{n} {line.why}" for path, lines in files.items()
                       for n, line in enumerate(lines, start=1) if line.why != "valid"]
            self.note(f"{label}: import of {len(files)} file(s) crashed (first of "
                      f"{len(hostile)} non-plain lines: {hostile[:3]}; "
                      f"first line of {first.name}: {files[first][0].raw[:80]!r}):\n"
                      f"{done.crash}")
            return
        if done.code != 0:
            self.note(f"{label}: import exit {done.code}: {_head(done.stderr, 4)}")
            return
        try:
            summary = orjson.loads(done.stdout)
        except orjson.JSONDecodeError:
            self.note(f"{label}: import --json printed no JSON: {done.stdout[:200]!r}")
            return
        self._check_summary(summary, files, label)

    def _check_summary(self, summary: dict[str, Any], files: dict[Path, list[Any]],
                       label: str) -> None:
        refused: dict[Path, set[int]] = {path: set() for path in files}
        for entry in summary.get("rejected", []):
            text = orjson.dumps(entry).decode()
            if len(text) > MAX_REJECTION_CHARS:
                self.note(f"{label}: a rejection quotes {len(text)} chars "
                          f"(line {entry.get('line')}): {text[:100]}…")
            path = _file_of(entry, files)
            if path is None:
                self.note(f"{label}: rejection names none of the {len(files)} files: "
                          f"{text[:160]}")
                continue
            number = entry.get("line")
            if not isinstance(number, int) or not 1 <= number <= len(files[path]):
                self.note(f"{label}: rejection with no valid line number: {text[:160]}")
                continue
            refused[path].add(number)
        good = 0
        for path, lines in files.items():
            for number, line in enumerate(lines, start=1):
                if line.expect == "bad" and number not in refused[path]:
                    self.note(f"{label}: bad line {path.name}:{number} ({line.why}) was not "
                              f"refused: {line.raw[:100]!r}")
                elif line.expect == "good" and number in refused[path]:
                    reason = next((e for e in summary["rejected"] if e.get("line") == number
                                   and _file_of(e, files) == path), {})
                    self.note(f"{label}: good line {path.name}:{number} ({line.why}) refused: "
                              f"{str(reason.get('error'))[:160]}")
                good += line.expect == "good"
        accepted = int(summary.get("imported", 0)) + int(summary.get("duplicates", 0))
        if accepted < good:
            self.note(f"{label}: {good} good lines but imported+duplicates = {accepted}")
        self.lines_imported += sum(len(lines) for lines in files.values())

    def reads(self, tenants: list[str], *, subprocess_: bool, label: str) -> None:
        """The chain and the views hold, and every read command answers (``subprocess_``:
        the two verifications as subprocesses)."""
        commands: list[list[str]] = [
            ["verify"], ["projections", "verify"], ["projections", "status"],
            ["audit", "list", "--all-tenants", "--limit", "5"],
            ["audit", "summary", "--all-tenants"], ["audit", "summary", "--all-tenants", "--json"],
            ["audit", "refusals", "--all-tenants", "--limit", "5"], ["tenant", "list"],
        ]
        for tenant in tenants:
            commands += [
                ["slo", "--tenant", tenant, "--month", MONTH],
                ["alerts", "--tenant", tenant],
                ["replay", "--tenant", tenant, "--from", REPLAY_FROM, "--to", REPLAY_TO],
                ["review", "weekly", "--tenant", tenant, "--week", WEEK, "--format", "json"],
            ]
        for args in commands:
            if self.hung:
                return
            # As a user runs them for the checks; in-process for the rest (start-up costs).
            self.must_pass(args, subprocess_=subprocess_ and args[-1] == "verify", label=label)

    def report(self, limit: int = 40) -> str:
        """The collected problems: counts per distinct last line, then the first ones."""
        shapes = Counter(p.strip().splitlines()[-1].strip()[:160] for p in self.problems)
        counts = "\n".join(f"  {n} x {shape}" for shape, n in shapes.most_common(25))
        shown = "\n".join(f"- {p}" for p in self.problems[:limit])
        return f"{len(self.problems)} problems; by shape:\n{counts}\nfirst ones:\n{shown}"


def _file_of(entry: dict[str, Any], files: dict[Path, list[Any]]) -> Path | None:
    if len(files) == 1:
        return next(iter(files))
    # The file may be a field of its own or part of the message; names are distinct.
    values = [str(v) for v in entry.values()]
    named = [path for path in files if any(path.name in v for v in values)]
    return named[0] if len(named) == 1 else None


def _head(text: str, lines: int = 12) -> str:
    """The last frames and the message of a traceback (or the first lines of a text)."""
    rows = [r for r in text.strip().splitlines() if r.strip()]
    if "Traceback (most recent call last)" in text:
        return "\n".join("    " + r[:200] for r in rows[-lines:])
    return " | ".join(r[:200] for r in rows[:lines])
