"""A deterministic generator of hostile Pumuki audit lines, each labelled with what
issue 13 demands of it (test code: deliberately kept out of the ``opsledger`` package).

Every line is ``good`` (must be imported, or counted as a documented duplicate / retry /
collision / key-missing), ``bad`` (must be refused with its line number, and its file when
several files are imported at once) or ``edge`` (either outcome is allowed, but it must be
handled: no crash, no wedge). The labels follow issue 13 "Bounds at the boundary": 64-bit
integers with sensible maxima, times 2000-01-01..2100-01-01 after normalising to UTC, ids
of at most 256 characters without control characters, no NUL anywhere, no coercion of
strings to numbers, a BOM on the first line accepted. A case the issue leaves open (for
example the exact maximum of ``latency_ms``) is labelled ``edge``, never ``bad``.

``HostileAudit(seed).lines(n)`` yields the same lines for the same seed; ``strategies``
gives hypothesis strategies for each field's hostile values, labelled the same way.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["BAD_INTS", "EDGE_INTS", "GOOD_TENANTS", "HostileAudit", "Line", "dump_record",
           "write_file"]

Expect = Literal["good", "bad", "edge"]

GOOD_TENANTS: dict[str, tuple[str, ...]] = {
    "fz-alpha": ("repo-a1", "repo-a2"),
    "fz-beta": ("repo-b1",),
    "fz-gamma": ("repo-g1", "repo-g2"),
}
ERROR_CODES = ("AUTH_POLICY_VIOLATION", "ISOLATION_VIOLATION", "TIMEOUT", "ABORTED", "NETWORK",
               "HTTP_STATUS")
ID_FIELDS = ("tenant_id", "repository_id", "idempotency_key", "event_id", "request_id")
REQUIRED = ("event_at", "tenant_id", "repository_id", "idempotency_key", "payload_hash",
            "outcome", "attempts", "latency_ms")
INT_FIELDS = ("attempts", "latency_ms", "status")

# Integers the store cannot hold, or no Pumuki line can carry: refused.
BAD_INTS: tuple[Any, ...] = (-1, -(2**63), 2**63, 2**64, 2**63 - 1, 2**53, 10**30, 1.5, -0.5,
                             "7", "0", "1e3", True, False, None, [], {}, "")
# In 64-bit range but of unstated sensibility, or floats with an integral value.
EDGE_INTS: tuple[Any, ...] = (2**31, 2**31 - 1, 2**32, 1.0, 0.0, 1e3)
GOOD_TIMES = ("2026-11-02T00:00:00Z", "2026-11-03T07:03:03.583Z", "2026-11-03T12:00:00+05:00",
              "2026-11-04T23:59:59.999999-05:00", "2026-11-03T10:00:00+14:00",
              "2026-11-03T10:00:00-12:00", "2026-11-02T10:00:00+00:00")
BAD_TIMES: tuple[Any, ...] = (
    "0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59+05:00", "1999-12-31", "2100-01-01",
    "1999-12-31T23:59:59Z", "2000-01-01T04:00:00+05:00", "2100-01-01T00:00:01Z",
    "2100-06-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-11-03T07:03:03",
    "2026-11-03T07:03:03.583", "yesterday", "", "2026-13-45T25:61:61Z",
    "2026-11-03T07:03:03Z\u0000", "\u001b[2J2026-11-03T07:03:03Z", 1762153383, 1.5, None,
    True, [], {},
    # Years ahead of any run's clock (the store accepts a day of drift): a line from 2099
    # would carry its tenant's event time, and every deadline swept by it, there.
    "2099-12-31T23:59:59Z", "2060-06-01T00:00:00+05:00",
)
EDGE_TIMES = ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z",
              "2026-11-03 07:03:03Z", "2026-11-03T07:03:03.583+0000")
CONTROL = ("\u0000", "\u001b[31m", "\u001b]0;pwned\u0007", "\r", "\n", "\t", "\u0007",
           "\u007f", "\u0085", "\u009b")
BIDI = ("\u202e", "\u2066", "\u200f", "\u200b", "\ufeff")


@dataclass(frozen=True)
class Line:
    """One raw audit line (no newline) and what must happen to it."""

    raw: bytes
    expect: Expect
    why: str


@dataclass
class _History:
    good: list[dict[str, Any]] = field(default_factory=list)
    #: (tenant, event_id) of every good line: an id is an operation's only within its tenant
    ids: set[tuple[Any, Any]] = field(default_factory=set)


class HostileAudit:
    """Seeded generator: ``lines(n, hostile=0.35)`` mixes valid and hostile lines."""

    def __init__(self, seed: int, huge_bytes: int = 2_000_000, huge_lines: int = 6,
                 extra_tenants: int = 4) -> None:
        self.rng = random.Random(seed)
        self.huge_bytes = huge_bytes
        self.huge_left = huge_lines  # lines of ~huge_bytes: bounded so the suite stays fast
        self.history = _History()
        self.tenants = dict(GOOD_TENANTS)
        for i in range(extra_tenants):  # valid ids registered on the fly (--register-unknown)
            self.tenants[f"fz-new-{seed}-{i}"] = (f"repo-n{i}",)
        self._n = 0

    # -- valid lines -------------------------------------------------------------------
    def _hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def _time(self) -> str:
        minute = self.rng.randrange(3 * 24 * 60)
        day, rest = divmod(minute, 24 * 60)
        hour, mins = divmod(rest, 60)
        base = f"2026-11-{2 + day:02d}T{hour:02d}:{mins:02d}:{self.rng.randrange(60):02d}"
        return base + self.rng.choice((".583Z", "Z", "+00:00", ".1Z", "+05:30", "-08:00"))

    def valid(self) -> dict[str, Any]:
        """A fresh valid record for a well-formed tenant and repository."""
        tenant = self.rng.choice(list(self.tenants))
        ok = self.rng.random() < 0.85
        record: dict[str, Any] = {
            "event_id": f"saas-ingestion-{self._hex(24)}",
            "event_at": self._time(),
            "tenant_id": tenant,
            "repository_id": self.rng.choice(self.tenants[tenant]),
            "endpoint": "https://ingest.example.com/v1/ingest/hotspots",
            "idempotency_key": f"pumuki-hotspots-v1-{self._hex(32)}",
            "payload_hash": self._hex(64),
            "outcome": "success" if ok else "error",
            "attempts": self.rng.choice((1, 1, 1, 2, 3)),
            "latency_ms": self.rng.choice((0, 1, 60, 145, 900, 3017, 12000, 60000)),
        }
        if ok:
            record.update(request_id=f"req-{self._hex(20)}", status=202)
        else:
            code = self.rng.choice(ERROR_CODES)
            record.update(error_code=code, retryable=code in ("TIMEOUT", "NETWORK"))
            if code in ("AUTH_POLICY_VIOLATION", "ISOLATION_VIOLATION"):
                record["attempts"] = 0
            elif code == "HTTP_STATUS":
                record["status"] = self.rng.choice((429, 500, 503))
        return record

    def _good(self, record: dict[str, Any], why: str) -> Line:
        self.history.good.append(record)
        self.history.ids.add((record.get("tenant_id"), record.get("event_id")))
        return Line(dump_record(record), "good", why)

    def _huge(self, size: int, fallback: int) -> int:
        if size >= 100_000:
            if self.huge_left <= 0:
                return fallback
            self.huge_left -= 1
        return size

    def _earlier(self) -> dict[str, Any] | None:
        return self.rng.choice(self.history.good) if self.history.good else None

    # -- the mix -----------------------------------------------------------------------
    def lines(self, n: int, hostile: float = 0.35) -> Iterator[Line]:
        """``n`` lines; about ``hostile`` of them adversarial (bad, edge or tricky-good)."""
        for _ in range(n):
            self._n += 1
            if self.rng.random() >= hostile:
                yield self._good(self.valid(), "valid")
            else:
                yield self.rng.choice(_KINDS)(self)

    def file_lines(self, n: int, hostile: float = 0.35) -> list[Line]:
        """One file's lines: like ``lines`` but the first line may carry a BOM (accepted)."""
        out = list(self.lines(n, hostile))
        if out and out[0].expect == "good" and self.rng.random() < 0.3:
            out[0] = Line(b"\xef\xbb\xbf" + out[0].raw, "good", out[0].why + " + BOM")
        return out

    # -- tricky but good ---------------------------------------------------------------
    def k_duplicate(self) -> Line:
        prev = self._earlier()
        return Line(dump_record(prev), "good", "exact duplicate") if prev else self.k_unknown_key()

    def k_retry(self) -> Line:
        prev = self._earlier()
        if prev is None:
            return self.k_unknown_key()
        return self._good({**self.valid(), **_same_batch(prev),
                           "event_id": f"saas-ingestion-{self._hex(24)}"}, "retry")

    def k_collision(self) -> Line:
        prev = self._earlier()
        if prev is None:
            return self.k_unknown_key()
        record = {**self.valid(), **_same_batch(prev), "payload_hash": self._hex(64),
                  "event_id": f"saas-ingestion-{self._hex(24)}"}
        return self._good(record, "idempotency collision (same key, other payload)")

    def k_unknown_key(self) -> Line:
        return self._good({**self.valid(), "idempotency_key": "unknown", "outcome": "error",
                           "attempts": 0, "error_code": "AUTH_POLICY_VIOLATION"},
                          "unknown idempotency key")

    def k_event_id_other_tenant(self) -> Line:
        prev = self._earlier()
        if prev is None or "event_id" not in prev:
            return self.k_unknown_key()
        record = self.valid()
        # A tenant that has not used the id yet (under one that has, it is a reuse: refused).
        others = [t for t in self.tenants if (t, prev["event_id"]) not in self.history.ids]
        if not others:
            return self.k_unknown_key()
        tenant = self.rng.choice(others)
        record.update(tenant_id=tenant, repository_id=self.rng.choice(self.tenants[tenant]),
                      event_id=prev.get("event_id"))
        return self._good(record, "event_id reused under another tenant")

    def k_extra_and_optional(self) -> Line:
        record = self.valid()
        for name in ("event_id", "endpoint", "request_id", "status", "error_code", "retryable"):
            if self.rng.random() < 0.5:
                record.pop(name, None)
        record[self.rng.choice(("schema", "x-extra", "nested"))] = self.rng.choice(
            (1, "extra", {"a": [1, 2]}, None))
        return self._good(record, "missing optional and extra fields")

    def k_zero_and_small(self) -> Line:
        return self._good({**self.valid(), "attempts": 0, "latency_ms": 0}, "zeros")

    # -- refused -----------------------------------------------------------------------
    def k_event_id_same_tenant_other_key(self) -> Line:
        prev = self._earlier()
        if prev is None or "event_id" not in prev:
            return self.k_non_object()
        record = {**self.valid(), "tenant_id": prev["tenant_id"],
                  "repository_id": prev["repository_id"], "event_id": prev["event_id"],
                  "idempotency_key": f"pumuki-hotspots-v1-{self._hex(32)}"}
        return Line(dump_record(record), "bad", "same event_id, same tenant, another key")

    def k_bad_int(self) -> Line:
        name = self.rng.choice(INT_FIELDS)
        value = self.rng.choice((*BAD_INTS, 99, 600, 2 ** 16) if name == "status" else BAD_INTS)
        if name == "status" and value is None:
            value = -1  # an explicit null status is just "no status"
        return Line(dump_record({**self.valid(), name: value}), "bad", f"{name}={value!r}")

    def k_edge_int(self) -> Line:
        name = self.rng.choice(("attempts", "latency_ms"))
        value = self.rng.choice(EDGE_INTS)
        return Line(dump_record({**self.valid(), name: value}), "edge", f"{name}={value!r}")

    def k_bad_time(self) -> Line:
        value = self.rng.choice(BAD_TIMES)
        return Line(dump_record({**self.valid(), "event_at": value}), "bad", f"event_at={value!r}")

    def k_edge_time(self) -> Line:
        value = self.rng.choice(EDGE_TIMES)
        return Line(dump_record({**self.valid(), "event_at": value}), "edge", f"event_at={value!r}")

    def k_control_in_id(self) -> Line:
        name = self.rng.choice(ID_FIELDS)
        record = self.valid()
        value = str(record.get(name, "req-x"))
        cut = self.rng.randrange(len(value) + 1)
        record[name] = value[:cut] + self.rng.choice(CONTROL) + value[cut:]
        return Line(dump_record(record), "bad", f"control character in {name}")

    def k_nul_anywhere(self) -> Line:
        record = self.valid()
        name = self.rng.choice([k for k, v in record.items() if isinstance(v, str)])
        record[name] = record[name] + "\u0000"
        return Line(dump_record(record), "bad", f"NUL in {name}")

    def k_control_in_text(self) -> Line:
        record = self.valid()
        record["endpoint"] = "https://x/\u001b[2J\u202e" + self.rng.choice(CONTROL[1:] + BIDI)
        return Line(dump_record(record), "edge", "control/bidi characters in endpoint")

    def k_bidi_in_id(self) -> Line:
        name = self.rng.choice(("tenant_id", "repository_id", "idempotency_key", "event_id"))
        record = self.valid()
        record[name] = f"{record[name]}{self.rng.choice(BIDI)}x"
        return Line(dump_record(record), "edge", f"bidi/zero-width character in {name}")

    def k_hostile_tenant_name(self) -> Line:
        name = self.rng.choice(("../../x", "/etc/passwd", "x'><img src=x onerror=alert(1)>",
                                "a" * 256, "ténant-ü", "CON", ".", "-rf"))
        record = {**self.valid(), "tenant_id": name, "repository_id": "r"}
        return Line(dump_record(record), "edge", f"tenant id {name[:20]!r}")

    def k_long_id(self) -> Line:
        name = self.rng.choice(ID_FIELDS)
        size = self._huge(self.rng.choice((257, 300, 4096, 70_000, self.huge_bytes)), 257)
        record = {**self.valid(), name: (self._hex(12) + "i" * size)[:size]}
        return Line(dump_record(record), "bad", f"{name} of {size} chars")

    def k_huge_text(self) -> Line:
        size = self._huge(self.rng.choice((self.huge_bytes, 1 << 20)), 20_000)
        record = {**self.valid(), "endpoint": "https://x/" + "p" * size}
        # The issue leaves the free-text limit to the implementation: >= 1 MiB must be over it.
        expect: Expect = "bad" if size >= 1 << 20 else "edge"
        return Line(dump_record(record), expect, f"endpoint of {size} chars")

    def k_huge_extra(self) -> Line:
        record = {**self.valid(), "padding": "z" * self._huge(self.huge_bytes // 2, 5000)}
        return Line(dump_record(record), "edge", "huge unknown field")

    def k_missing_required(self) -> Line:
        name = self.rng.choice(REQUIRED)
        record = self.valid()
        del record[name]
        if self.rng.random() < 0.3:  # with a huge neighbour: the refusal must not echo it
            record["endpoint"] = "https://x/" + "q" * self._huge(self.huge_bytes // 2, 3000)
        return Line(dump_record(record), "bad", f"missing {name}")

    def k_wrong_type(self) -> Line:
        name = self.rng.choice(("tenant_id", "repository_id", "idempotency_key", "payload_hash",
                                "outcome", "error_code", "endpoint", "request_id"))
        value = self.rng.choice((123, 1.5, True, ["x"], {"a": 1}))
        return Line(dump_record({**self.valid(), name: value}), "bad", f"{name}={value!r}")

    def k_bad_enum_or_hash(self) -> Line:
        name, value = self.rng.choice((
            ("outcome", "SUCCESS"), ("outcome", ""), ("error_code", "EVIL"),
            ("payload_hash", "z" * 64), ("payload_hash", "a" * 63), ("payload_hash", ""),
            ("tenant_id", ""), ("repository_id", ""), ("idempotency_key", ""),
        ))
        return Line(dump_record({**self.valid(), name: value}), "bad", f"{name}={value!r}")

    def k_non_object(self) -> Line:
        raw = self.rng.choice((b"[]", b"1", b'"x"', b"null", b"true", b"[{}]", b"{", b"}",
                               b'{"tenant_id": "fz-alpha"', b"{'a': 1}", b"NaN", b"\x00",
                               b'{"a":1}{"b":2}', b"\x1b[2J"))
        return Line(raw, "bad", f"not a JSON object: {raw[:20]!r}")

    def k_invalid_utf8(self) -> Line:
        raw = dump_record(self.valid())
        cut = raw.index(b'"tenant_id":"') + 13
        bad = self.rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"))
        return Line(raw[:cut] + bad + raw[cut:], "bad", "invalid UTF-8")

    def k_blank(self) -> Line:
        return Line(self.rng.choice((b"", b"   ", b"\t")), "edge", "blank line")

    def k_bom_inside(self) -> Line:
        return Line(b"\xef\xbb\xbf" + dump_record(self.valid()), "edge", "BOM not on line 1")

    def k_duplicate_json_keys(self) -> Line:
        record = self.valid()
        raw = dump_record(record)[:-1] + b',"payload_hash":"' + self._hex(64).encode() + b'"}'
        return Line(raw, "edge", "duplicate JSON key payload_hash")


_KINDS = [getattr(HostileAudit, name) for name in sorted(dir(HostileAudit))
          if name.startswith("k_")]


def _same_batch(prev: dict[str, Any]) -> dict[str, Any]:
    return {k: prev[k] for k in ("tenant_id", "repository_id", "idempotency_key",
                                 "payload_hash")}


def dump_record(record: Any) -> bytes:
    """One record as a compact JSON line (UTF-8)."""
    # stdlib json: integers beyond 64 bits (orjson refuses them), raw non-ASCII text.
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_file(path: Path, lines: list[Line]) -> Path:
    """Write ``lines`` as NDJSON (one ``\\n`` after each)."""
    with path.open("wb") as out:
        for line in lines:
            out.write(line.raw + b"\n")
    return path
