"""Internal helpers of :mod:`opsledger.sim.simulate`: time formatting, the publish
fault model and the streaming writers. Not a public API."""

from __future__ import annotations

import heapq
from collections import Counter
from datetime import UTC, datetime
from hashlib import sha256
from random import Random
from typing import IO, Final

import orjson

__all__: list[str] = []

MINUTE_MS: Final = 60_000
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000
ENDPOINT: Final = "http://127.0.0.1:18787/v1/ingest/hotspots"

# Relative traffic per UTC hour: busy 07-19, a trickle at night, never zero.
HOUR_WEIGHTS: Final = (
    0.12,
    0.1,
    0.1,
    0.1,
    0.12,
    0.2,
    0.4,
    0.9,
    1.1,
    1.25,
    1.3,
    1.2,
    1.0,
    1.15,
    1.3,
    1.3,
    1.2,
    1.0,
    0.8,
    0.5,
    0.3,
    0.2,
    0.15,
    0.12,
)

# Background transient faults on the first attempt: (probability, status or None).
_BACKGROUND_FAULTS: Final = ((0.005, 502), (0.003, 429), (0.002, None))
_FAULT_PERSISTS: Final = 0.35  # chance a retry hits the same fault again
_BACKOFF_MS: Final = (0, 0, 250, 750)  # cumulative back-off before attempt n (1-based)
_NEVER_VISIBLE: Final = 0.005  # accepted payloads that never show up downstream
_REPUBLISH: Final = 0.6  # failed batches re-published later with the same key and hash

_minute_prefix: dict[int, str] = {}


def fmt_ms(t_ms: int) -> str:
    """Format epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    minute, ms_in_minute = divmod(t_ms, MINUTE_MS)
    prefix = _minute_prefix.get(minute)
    if prefix is None:
        if len(_minute_prefix) > 50_000:
            _minute_prefix.clear()
        moment = datetime.fromtimestamp(minute * 60, tz=UTC)
        prefix = _minute_prefix[minute] = moment.strftime("%Y-%m-%dT%H:%M:")
    sec, ms = divmod(ms_in_minute, 1000)
    return f"{prefix}{sec:02d}.{ms:03d}Z"


def event_digest(record: dict[str, object]) -> str:
    """``event_id`` for a record: sha256 of its sorted-key canonical JSON, 24 hex."""
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return "saas-ingestion-" + sha256(canonical).hexdigest()[:24]


def audit_line(record: dict[str, object]) -> bytes:
    """Serialize a record (without ``event_id``) as a compact Pumuki audit line."""
    body = orjson.dumps(record)
    return b'{"event_id":"' + event_digest(record).encode() + b'",' + body[1:] + b"\n"


class Batch:
    """One payload of one repository: a key/hash pair that may be published several times."""

    __slots__ = ("accepted", "hash", "key", "repo", "republished", "tenant")

    def __init__(self, tenant: str, repo: str, key: str, payload_hash: str) -> None:
        self.tenant = tenant
        self.repo = repo
        self.key = key
        self.hash = payload_hash
        self.accepted = False
        self.republished = False


def base_latency(rng: Random) -> int:
    """One attempt's latency: log-normal around ~110 ms with a long tail."""
    lat = rng.lognormvariate(4.7, 0.55)
    roll = rng.random()
    if roll < 0.003:
        lat = rng.uniform(3000.0, 12000.0)
    elif roll < 0.015:
        lat *= rng.uniform(3.0, 12.0)
    return max(5, int(lat))


def transport(rng: Random, forced: int | None) -> tuple[int, int | None, bool]:
    """Attempts made, failing status (``None`` = network error) and whether it succeeded.

    ``forced`` is a status every attempt fails with (``0`` = network error), or ``None``
    for the background fault model.
    """
    if forced is not None:
        return 3, (forced or None), False
    roll = rng.random()
    for prob, status in _BACKGROUND_FAULTS:
        if roll < prob:
            attempts = 2
            while attempts <= 3 and rng.random() < _FAULT_PERSISTS:
                attempts += 1
            if attempts > 3:
                return 3, status, False
            return attempts, status, True
        roll -= prob
    return 1, None, True


def operation_latency(rng: Random, attempts: int) -> int:
    """Wall time of an operation: each attempt's latency plus the back-off between them."""
    total = _BACKOFF_MS[attempts]
    for _ in range(attempts):
        total += base_latency(rng)
    return total


class Writer:
    """Completion-order writer: holds lines at most ``lateness_ms`` past their event time.

    A line with event time ``e`` gets completion time ``c = e + delay`` with
    ``0 <= delay <= lateness_ms`` and lines leave in ``c`` order, so any line written
    before it has an event time ``<= c <= e + lateness_ms``.
    """

    def __init__(self, out: IO[bytes] | None) -> None:
        self._out = out
        self._heap: list[tuple[int, int, bytes]] = []
        self._seq = 0
        self._buf: list[bytes] = []
        self.count = 0

    def push(self, due_ms: int, line: bytes) -> None:
        """Queue ``line`` to be written once time reaches ``due_ms``."""
        self.count += 1
        if self._out is None:
            return
        self._seq += 1
        heapq.heappush(self._heap, (due_ms, self._seq, line))

    def release(self, now_ms: int) -> None:
        """Write every queued line due at or before ``now_ms``."""
        heap = self._heap
        buf = self._buf
        while heap and heap[0][0] <= now_ms:
            buf.append(heapq.heappop(heap)[2])
        if len(buf) >= 512 and self._out is not None:
            self._out.write(b"".join(buf))
            buf.clear()

    def close(self) -> None:
        """Write everything still queued."""
        if self._out is None:
            return
        heap = self._heap
        while heap:
            self._buf.append(heapq.heappop(heap)[2])
        if self._buf:
            self._out.write(b"".join(self._buf))
            self._buf.clear()


class Engine:
    """State of one simulation run (one RNG stream, so output is deterministic)."""

    def __init__(
        self,
        seed: int,
        repos: dict[str, tuple[str, ...]],
        period_ms: tuple[int, int],
        lateness_ms: int,
        audit: Writer,
        snaps: Writer,
    ) -> None:
        self.rng = Random(seed)
        self.start, self.end = period_ms
        self.audit, self.snaps = audit, snaps
        self.tenants = tuple(repos)
        self.repos = repos
        self.lateness_ms = lateness_ms
        self.windows: dict[str, list[tuple[int, int, str]]] = {t: [] for t in self.tenants}
        self.last: dict[str, Batch] = {}  # last batch per repository (collision source)
        self.run_no: dict[str, int] = {}
        self.pending: list[tuple[int, int, str, str, Batch | None]] = []
        self.seq = 0
        self.outcomes: Counter[str] = Counter()

    def schedule(self, t: int, action: str, tenant: str, batch: Batch | None = None) -> None:
        if not self.start <= t < self.end:
            return
        self.seq += 1
        heapq.heappush(self.pending, (t, self.seq, action, tenant, batch))

    def new_batch(self, tenant: str, repo: str | None = None) -> Batch:
        rng = self.rng
        repos = self.repos[tenant]
        if repo is None:
            repo = repos[int(rng.random() * len(repos))]
        if repo == repos[0]:  # one repository per tenant publishes from CI with run keys
            n = self.run_no.get(repo, 1000) + 1
            self.run_no[repo] = n
            key = f"ci-{repo}-run-{n}"
        else:
            key = f"pumuki-hotspots-v1-{rng.getrandbits(128):032x}"
        return Batch(tenant, repo, key, f"{rng.getrandbits(256):064x}")

    def emit(self, t: int, batch: Batch, outcome: dict[str, object]) -> None:
        record: dict[str, object] = {
            "event_at": fmt_ms(t),
            "tenant_id": batch.tenant,
            "repository_id": batch.repo,
            "endpoint": ENDPOINT,
            "idempotency_key": batch.key,
            "payload_hash": batch.hash,
        }
        record.update(outcome)
        self.outcomes[str(outcome.get("error_code", ""))] += 1
        self.audit.push(t + int(self.rng.random() * (self.lateness_ms + 1)), audit_line(record))

    def blocked(self, t: int, tenant: str, code: str) -> None:
        """A publish refused client-side before any request (attempts 0)."""
        self.emit(
            t,
            self.new_batch(tenant),
            {
                "outcome": "error",
                "attempts": 0,
                "latency_ms": self.rng.randint(0, 5),
                "error_code": code,
                "retryable": False,
            },
        )

    def publish(self, t: int, batch: Batch, conflict: bool = False) -> None:
        """One publish operation of ``batch`` at ``t`` under the tenant's active episodes."""
        rng = self.rng
        active = [k for s, e, k in self.windows[batch.tenant] if s <= t < e]
        forced: int | None = None
        if "outage" in active:
            forced = 503 if rng.random() < 0.75 else 0
        elif "error_burst" in active and rng.random() < 0.4:
            forced = 500
        status: int | None
        if conflict and forced is None:  # the server rejects a clashing payload at once
            attempts, status, ok = 1, 409, False
        else:
            attempts, status, ok = transport(rng, forced)
        latency = operation_latency(rng, attempts)
        if "slow" in active and rng.random() < 0.7:
            latency = max(latency, int(rng.uniform(3500.0, 15000.0)))
        if ok:
            first = not batch.accepted
            batch.accepted = True
            self.emit(
                t,
                batch,
                {
                    "outcome": "success",
                    "attempts": attempts,
                    "latency_ms": latency,
                    "request_id": f"req-{rng.getrandbits(80):020x}",
                    "status": 202 if first else 200,
                },
            )
            if first:
                self.snapshot(t, batch, "freshness_delay" in active)
            return
        outcome: dict[str, object] = {
            "outcome": "error",
            "attempts": attempts,
            "latency_ms": latency,
        }
        if status is not None:
            outcome["status"] = status
        outcome["error_code"] = "HTTP_STATUS" if status is not None else "NETWORK"
        outcome["retryable"] = status != 409
        self.emit(t, batch, outcome)
        if status != 409 and not batch.republished and rng.random() < _REPUBLISH:
            batch.republished = True
            lo, hi = (50, 70) if "outage" in active else (3, 20)
            self.schedule(t + int(rng.uniform(lo, hi) * MINUTE_MS), "publish", batch.tenant, batch)

    def snapshot(self, t: int, batch: Batch, delayed: bool) -> None:
        rng = self.rng
        lo, hi = (20.0, 45.0) if delayed else (0.5, 10.0)
        visible = t + int(rng.uniform(lo, hi) * MINUTE_MS)
        if rng.random() < _NEVER_VISIBLE:
            return
        record = {
            "tenant_id": batch.tenant,
            "repository_id": batch.repo,
            "payload_hash": batch.hash,
            "idempotency_key": batch.key,
            "visible_at": fmt_ms(visible),
        }
        self.snaps.push(visible, orjson.dumps(record) + b"\n")

    def add_episode(self, kind: str, tenant: str, start: int, end: int) -> None:
        """Register an episode window and schedule the lines it injects."""
        self.windows[tenant].append((start, end, kind))
        span = end - start
        if kind == "auth_failures":
            step = min(70_000, max(0, span - 30_000) // 8)
            for i in range(8):
                self.schedule(min(end - 1, start + 30_000 + i * step), "auth", tenant)
        elif kind == "isolation":
            self.schedule(start, "isolation", tenant)
            self.schedule(max(start, end - MINUTE_MS), "isolation", tenant)
        elif kind == "collisions":
            n = max(2, span // (5 * MINUTE_MS))
            for i in range(n):
                at = start + span * (2 * i + 1) // (2 * n)
                self.schedule(at - span // (4 * n), "duplicate_recent", tenant)
                self.schedule(at, "collision_ok" if i % 3 == 2 else "collision", tenant)

    def collide(self, t: int, tenant: str, accept: bool) -> None:
        rng = self.rng
        repos = self.repos[tenant]
        first = int(rng.random() * len(repos))
        base = next((self.last[r] for r in repos[first:] + repos[:first] if r in self.last), None)
        if base is None:
            base = self.new_batch(tenant)
            self.publish(t, base)
            t += 1000
        clash = Batch(tenant, base.repo, base.key, f"{rng.getrandbits(256):064x}")
        clash.republished = True  # a clashing payload is never re-sent
        self.publish(t, clash, conflict=not accept)

    def run_action(self, t: int, action: str, tenant: str, batch: Batch | None) -> None:
        if batch is not None:
            self.publish(t, batch)
        elif action in ("auth", "isolation"):
            code = "AUTH_POLICY_VIOLATION" if action == "auth" else "ISOLATION_VIOLATION"
            self.blocked(t, tenant, code)
        elif action == "duplicate_recent":
            recent = [self.last[r] for r in self.repos[tenant] if r in self.last]
            if recent:
                self.publish(t, recent[self.rng.randrange(len(recent))])
        else:
            self.collide(t, tenant, accept=action == "collision_ok")

    def run(self, operations_per_day: int, duplicate_rate: float) -> None:
        """Generate the diurnal arrival stream and every scheduled line, in time order."""
        start, end = self.start, self.end
        rng, pending = self.rng, self.pending
        per_ms = [
            operations_per_day * len(self.tenants) * w / sum(HOUR_WEIGHTS) / HOUR_MS
            for w in HOUR_WEIGHTS
        ]
        ntenants = len(self.tenants)
        t = float(start)
        while per_ms[0] > 0:
            hour_end = (t // HOUR_MS + 1) * HOUR_MS
            t_next = t + rng.expovariate(per_ms[int(t // HOUR_MS) % 24])
            if t_next >= hour_end:
                t = hour_end
                if t >= end:
                    break
                continue
            t = t_next
            now = int(t)
            if now >= end:
                break
            while pending and pending[0][0] <= now:
                self.step(*heapq.heappop(pending))
            self.audit.release(now)
            self.snaps.release(now)
            batch = self.new_batch(self.tenants[int(rng.random() * ntenants)])
            self.publish(now, batch)
            self.last[batch.repo] = batch
            if rng.random() < duplicate_rate:
                self.schedule(
                    now + int(rng.uniform(2.0, 15.0) * MINUTE_MS), "publish", batch.tenant, batch
                )
        while pending and pending[0][0] < end:
            self.step(*heapq.heappop(pending))

    def step(self, t: int, _seq: int, action: str, tenant: str, batch: Batch | None) -> None:
        self.audit.release(t)
        self.snaps.release(t)
        self.run_action(t, action, tenant, batch)
