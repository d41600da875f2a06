"""``python -m bench serve``: publishes over HTTP against the same records in process.

Four measurements, each into a fresh SQLite file (WAL), interleaved over ``--repeat`` runs
(best kept), with the eventsourcing library's own rates measured in the same run for scale:

* **single over HTTP** — M ``POST /v1/publishes`` of one JSON record each, one after the
  other over a keep-alive connection, to an ``opsledger serve`` app (uvicorn, its own
  process, no background scheduler), against M in-process ``record_publish`` calls of the
  same records (goal: >= 0.5x) and the library's one-event save;
* **batched over HTTP** — N simulated Pumuki audit lines posted as NDJSON bodies of 1,000
  lines (``application/x-ndjson``), against the in-process import of the same file
  (goal: >= 0.8x) and the library's batched append.

Tenants are registered (SaaS mode, gate active) and an ingest token issued before the
clock starts, on both sides alike. p50 and p99 request latencies are printed for the HTTP
runs. ``python -m bench serve [--lines N] [--single M] [--repeat K] [--json]``.
"""

from __future__ import annotations

import argparse
import http.client
import math
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench._baseline import library_batched, library_single
from bench._input import (
    SINGLE_REPOSITORY,
    SINGLE_TENANT,
    library_rows_from_lines,
    library_rows_from_records,
    single_records,
    write_audit_lines,
)
from bench._opsledger import _go_live
from bench._report import machine, render_json_value
from opsledger import Governance, Mode, Operations

__all__ = ["main"]

SINGLE_GOAL = 0.5
BATCH_GOAL = 0.8
BODY_LINES = 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare(db: Path, scopes: set[tuple[str, str]]) -> str:
    """Gate active, every tenant in SaaS mode with its repositories; an operator token
    (it may post for every tenant)."""
    ops = Operations.open(f"sqlite:///{db}")
    try:
        _go_live(ops)
        tenants: dict[str, set[str]] = {}
        for tenant, repository in scopes:
            tenants.setdefault(tenant, set()).add(repository)
        for tenant, repositories in sorted(tenants.items()):
            ops.register_tenant(tenant, repositories=sorted(repositories),
                                governance=Governance(), by="bench", mode=Mode.SAAS,
                                token_rotation_owner="bench")
        return str(ops.create_token(scope="operator", owner="bench", by="bench").token)
    finally:
        ops.close()


class _Server:
    """``opsledger serve``'s app in a child process on a free loopback port (``child``: the
    module that serves it, given the store URL, the port and ``extra``)."""

    def __init__(self, db: Path, child: str = "bench._serve_child", *extra: str) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", child, f"sqlite:///{db}", str(self.port), *extra])
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bench server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def _percentile(values: list[float], q: float) -> float:
    """Nearest rank: ``sorted[ceil(q n) - 1]``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class _Client:
    """One keep-alive HTTP/1.1 connection (the standard library's client: it costs the
    measurement least, so the figures are the server's)."""

    def __init__(self, base: str, token: str, content_type: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=300)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.connection.request("POST", path, body=body, headers=self.headers)
        answer = self.connection.getresponse()
        return answer.status, answer.read()

    def close(self) -> None:
        self.connection.close()


def _post_all(db: Path, token: str, bodies: list[bytes], content_type: str
              ) -> tuple[float, list[float]]:
    server = _Server(db)
    client = _Client(server.base, token, content_type)
    try:
        latencies = []
        started = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            status, text = client.post("/v1/publishes", body)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"POST /v1/publishes: {status} {text[:200]!r}")
        elapsed = time.perf_counter() - started
    finally:
        client.close()
        server.stop()
    return elapsed, latencies


def _http_single(db: Path, records: list[dict[str, Any]]) -> tuple[float, list[float]]:
    token = _prepare(db, {(SINGLE_TENANT, SINGLE_REPOSITORY)})
    return _post_all(db, token, [orjson.dumps(r) for r in records], "application/json")


def _inprocess_single(db: Path, records: list[dict[str, Any]]) -> float:
    _prepare(db, {(SINGLE_TENANT, SINGLE_REPOSITORY)})
    ops = Operations.open(f"sqlite:///{db}")
    try:
        started = time.perf_counter()
        results = [ops.record_publish(**fields) for fields in records]
        elapsed = time.perf_counter() - started
    finally:
        ops.close()
    if sum(r.status == "recorded" for r in results) != len(records):
        raise RuntimeError("in-process single: not every record was recorded")
    return elapsed


def _http_batched(db: Path, lines: list[bytes], scopes: set[tuple[str, str]]
                  ) -> tuple[float, list[float]]:
    token = _prepare(db, scopes)
    bodies = [b"".join(lines[i:i + BODY_LINES]) for i in range(0, len(lines), BODY_LINES)]
    return _post_all(db, token, bodies, "application/x-ndjson")


def _inprocess_import(db: Path, audit: Path, scopes: set[tuple[str, str]]) -> float:
    _prepare(db, scopes)
    ops = Operations.open(f"sqlite:///{db}")
    try:
        with audit.open("rb") as source:
            started = time.perf_counter()
            summary = ops.import_pumuki_audit([source])
            elapsed = time.perf_counter() - started
    finally:
        ops.close()
    if summary.rejected:
        raise RuntimeError(f"in-process import rejected {len(summary.rejected)} lines")
    return elapsed


def _args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench serve", description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--single", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    """Run the four measurements, print ratios and latencies."""
    args = _args(argv)
    say = (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    best: dict[str, float] = {}
    latency: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="opsledger-bench-serve-") as tmp:
        folder = Path(tmp)
        audit = folder / "audit.ndjson"
        write_audit_lines(audit, args.lines, seed=args.seed)
        lines = audit.read_bytes().splitlines(keepends=True)
        scopes = {(d["tenant_id"], d["repository_id"]) for d in map(orjson.loads, lines)}
        records = single_records(args.single)
        library_lines = library_rows_from_lines(lines)
        library_records = library_rows_from_records(records)
        runs = {
            "http_single": lambda db: _http_single(db, records),
            "inprocess_single": lambda db: (_inprocess_single(db, records), []),
            "library_single": lambda db: (library_single(db, library_records), []),
            "http_batched": lambda db: _http_batched(db, lines, scopes),
            "inprocess_import": lambda db: (_inprocess_import(db, audit, scopes), []),
            "library_batched": lambda db: (library_batched(db, library_lines), []),
        }
        for rep in range(args.repeat):
            order = list(runs) if rep % 2 == 0 else list(reversed(runs))
            for name in order:
                db = folder / f"{name}-{rep}.db"
                seconds, waits = runs[name](db)
                say(f"  run {rep + 1} {name:<17} {seconds:8.3f}s")
                if seconds < best.get(name, float("inf")):
                    best[name], latency[name] = seconds, waits
                for suffix in ("", "-wal", "-shm", ".lock", ".keys"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    rate = {name: (args.single if "single" in name else args.lines) / s
            for name, s in best.items()}
    figures = {
        "machine": machine(), "lines": args.lines, "single": args.single,
        "repeat": args.repeat, "body_lines": BODY_LINES,
        "rates_per_s": {k: round(v, 1) for k, v in rate.items()},
        "single_http_vs_inprocess": round(rate["http_single"] / rate["inprocess_single"], 3),
        "single_http_vs_library": round(rate["http_single"] / rate["library_single"], 3),
        "batched_http_vs_import": round(rate["http_batched"] / rate["inprocess_import"], 3),
        "batched_http_vs_library": round(rate["http_batched"] / rate["library_batched"], 3),
        "single_goal": SINGLE_GOAL, "batched_goal": BATCH_GOAL,
        "latency_ms": {name: {"p50": round(1000 * _percentile(v, 0.5), 2),
                              "p99": round(1000 * _percentile(v, 0.99), 2)}
                       for name, v in latency.items() if v},
    }
    if args.json:
        print(render_json_value(figures))
        return 0
    print(f"single POST  {rate['http_single']:9.1f}/s  vs record_publish "
          f"{rate['inprocess_single']:9.1f}/s = {figures['single_http_vs_inprocess']:.2f}x "
          f"(goal >= {SINGLE_GOAL}x; library one-event save {rate['library_single']:.1f}/s, "
          f"{figures['single_http_vs_library']:.2f}x)")
    print(f"NDJSON POST  {rate['http_batched']:9.1f}/s  vs import "
          f"{rate['inprocess_import']:9.1f}/s = {figures['batched_http_vs_import']:.2f}x "
          f"(goal >= {BATCH_GOAL}x; library batched append {rate['library_batched']:.1f}/s, "
          f"{figures['batched_http_vs_library']:.2f}x)")
    for name, lat in figures["latency_ms"].items():
        print(f"{name:<13} latency p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms")
    return 0
