"""kill -9 helpers for the crash tests: forked CLI runs and SQLite store copies.

A forked child of the test process already has opsledger imported, so one kill point costs
the work it interrupts, not an interpreter start-up (~0.5 s here); it runs the real CLI
entry point (``opsledger.cli.main.main``) with stdout/stderr sent to /dev/null, and the test
sends it SIGKILL at a random moment of its run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

__all__ = ["copy_store", "fork_cli", "kill_delays", "run_to_end", "run_until_killed"]


def fork_cli(argv: list[str]) -> int:
    """Start ``opsledger ARGV`` in a forked child; its pid (exit 0, 1, 2; 70 on a crash)."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        from opsledger.cli.main import main

        try:
            main(argv, standalone_mode=False)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os._exit(code)


def run_to_end(argv: list[str]) -> tuple[int, float]:
    """Run a forked CLI command to completion: (exit code, seconds)."""
    started = time.perf_counter()
    _, status = os.waitpid(fork_cli(argv), 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - started


def run_until_killed(argv: list[str], delay: float) -> bool:
    """Run ``argv`` forked and SIGKILL it ``delay`` seconds in, unless it ended first.
    True when the kill landed on a running process."""
    pid = fork_cli(argv)
    deadline = time.perf_counter() + delay
    while time.perf_counter() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.waitstatus_to_exitcode(status) != 0:
                raise AssertionError(f"`opsledger {' '.join(argv)}` failed: exit "
                                     f"{os.waitstatus_to_exitcode(status)}")
            return False
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def copy_store(source: Path, target: Path) -> Path:
    """Copy a closed SQLite store: the file and everything beside it named after it (WAL,
    the tenants' key store), except its schema lock."""
    for path in source.parent.glob(source.name + "*"):
        if path.is_file() and not path.name.endswith(".lock"):
            shutil.copy2(path, target.parent / (target.name + path.name[len(source.name):]))
    return target


def kill_delays(rng: random.Random, full: float) -> float:
    """A random moment of a run that takes ``full`` seconds uninterrupted."""
    return rng.uniform(0.0, full)
