"""Deterministic simulator of Pumuki's SaaS ingestion audit log.

Writes NDJSON lines in the exact shape Pumuki appends to
``.pumuki/artifacts/saas-ingestion-audit.ndjson`` (completion order, up to
``max_lateness_s`` out of ``event_at`` order) plus the matching downstream
snapshot records, streaming so that memory stays bounded by the lateness and
freshness windows. The same :class:`SimulationConfig` always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Literal

from opsledger.domain.errors import InvalidInput
from opsledger.sim.episodes import DAY_MS, Engine, Writer

__all__ = ["Episode", "SimulationConfig", "SimulationSummary", "default_episodes", "simulate"]

EpisodeKind = Literal[
    "outage", "slow", "error_burst", "auth_failures", "collisions", "isolation", "freshness_delay"
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Episode:
    """An injected fault for one tenant over ``[start, end)`` (tz-aware UTC datetimes)."""

    kind: EpisodeKind
    tenant_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: period, tenants, traffic volume, episodes and noise."""

    days: int = 1
    tenants: int = 1
    seed: int = 0
    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)
    operations_per_day: int = 1000
    repositories_per_tenant: int = 3
    episodes: tuple[Episode, ...] = ()
    duplicate_rate: float = 0.02
    max_lateness_s: float = 300.0


@dataclass(frozen=True)
class SimulationSummary:
    """Counts of what :func:`simulate` wrote."""

    lines: int
    snapshots: int
    successes: int
    errors: int
    errors_by_code: dict[str, int]
    tenants: tuple[str, ...]
    repositories: dict[str, tuple[str, ...]]


# (kind, offset from UTC midnight in minutes, duration in minutes)
_TEMPLATES: tuple[tuple[EpisodeKind, int, int], ...] = (
    ("outage", 7 * 60 + 30, 45),
    ("slow", 9 * 60, 20),
    ("error_burst", 10 * 60, 10),
    ("auth_failures", 11 * 60, 10),
    ("isolation", 12 * 60 + 10, 26),
    ("collisions", 13 * 60, 15),
    ("freshness_delay", 17 * 60, 60),
)


def _tenant_ids(n: int) -> tuple[str, ...]:
    return tuple(f"tenant-{i + 1:02d}" for i in range(n))


def _repo_ids(tenant_no: int, n: int) -> tuple[str, ...]:
    def suffix(i: int) -> str:
        s = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(97 + r) + s
        return s

    return tuple(f"repo-{tenant_no:02d}-{suffix(i)}" for i in range(n))


def default_episodes(config: SimulationConfig) -> tuple[Episode, ...]:
    """A standard set of episodes spread over the simulated period for the first tenants
    (outage 45 min, slow phase 20 min, error burst 10 min, auth failures, isolation
    violations, collisions, freshness delay), placed deterministically inside working
    hours (07:30-18:00 UTC). Episode ``i`` goes to tenant ``i mod min(tenants, 3)`` on day
    ``i * days // 7``; episodes that would fall outside the simulated period are dropped."""
    tenants = _tenant_ids(max(1, min(config.tenants, 3)))
    sim_end = config.start + timedelta(days=config.days)
    midnight = config.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    episodes: list[Episode] = []
    for i, (kind, offset, duration) in enumerate(_TEMPLATES):
        start = midnight + timedelta(days=i * config.days // len(_TEMPLATES), minutes=offset)
        if start < config.start:
            start += timedelta(days=1)
        end = start + timedelta(minutes=duration)
        if end <= sim_end:
            episodes.append(Episode(kind, tenants[i % len(tenants)], start, end))
    return tuple(episodes)


def _ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise InvalidInput(f"naive datetime {t!r}: simulator times must be tz-aware UTC")
    return (t - _EPOCH) // timedelta(milliseconds=1)


def simulate(
    config: SimulationConfig, audit_out: IO[bytes], snapshots_out: IO[bytes] | None = None
) -> SimulationSummary:
    """Writes Pumuki-format audit NDJSON lines (and matching downstream snapshot lines)
    and returns counts.

    Audit lines are written in completion order (never more than ``max_lateness_s``
    behind the latest ``event_at`` already written); snapshot lines in ``visible_at``
    order. Raises :class:`~opsledger.domain.errors.InvalidInput` (a ``ValueError``) for an invalid
    configuration."""
    if config.days < 1 or config.tenants < 1 or config.repositories_per_tenant < 1:
        raise InvalidInput("days, tenants and repositories_per_tenant must be >= 1")
    if config.operations_per_day < 0 or not 0.0 <= config.duplicate_rate <= 1.0:
        raise InvalidInput("operations_per_day must be >= 0 and duplicate_rate in [0, 1]")
    if config.max_lateness_s < 0:
        raise InvalidInput("max_lateness_s must be >= 0")
    audit, snaps = Writer(audit_out), Writer(snapshots_out)
    start = _ms(config.start)
    repos = {
        t: _repo_ids(i + 1, config.repositories_per_tenant)
        for i, t in enumerate(_tenant_ids(config.tenants))
    }
    period = (start, start + config.days * DAY_MS)
    lateness_ms = int(config.max_lateness_s * 1000)
    engine = Engine(config.seed, repos, period, lateness_ms, audit, snaps)
    for ep in config.episodes:
        if ep.tenant_id not in engine.windows:
            raise InvalidInput(f"episode for unknown tenant {ep.tenant_id!r}")
        ep_start, ep_end = _ms(ep.start), _ms(ep.end)
        if ep_end <= ep_start:
            raise InvalidInput(f"episode {ep!r} is empty")
        engine.add_episode(ep.kind, ep.tenant_id, ep_start, ep_end)
    engine.run(config.operations_per_day, config.duplicate_rate)
    audit.close()
    snaps.close()
    errors_by_code = {k: v for k, v in sorted(engine.outcomes.items()) if k}
    errors = sum(errors_by_code.values())
    return SimulationSummary(
        lines=audit.count,
        snapshots=snaps.count,
        successes=audit.count - errors,
        errors=errors,
        errors_by_code=errors_by_code,
        tenants=engine.tenants,
        repositories=dict(engine.repos),
    )
