"""``/metrics`` (Prometheus exposition format) and the operators' ``/v1/status``.

Each app has a registry of its own (never the process-wide default) holding one collector
that reads the store on scrape, through the facade and under the engine's lock, and keeps
what it read for a few seconds (:data:`CACHE_SECONDS`) so that scrapes stay cheap. The
process's own figures (leadership, last sweep, failed authentications) are always fresh.

Label sets are bounded: tenant, rule, severity, kind, outcome, view, reason, state (of a
delivery) — never an operation, an incident, a notification or a token. Platform-wide
incidents have ``tenant=""``.

The notification outbox (``ops.outbox_status()``) is read with the store's figures:
deliveries by state, failed attempts ever, dead letters, notifications not yet routed, the
age of the oldest pending delivery. While this process runs the delivery job
(``serve --notify-config``) its leadership and the histogram of its deliveries' latency
(routed to delivered) are shown too.

``/metrics`` needs the metrics token (``Authorization: Bearer …``) when one is configured;
without one it answers loopback clients only (403 otherwise) — behind a reverse proxy on
the same host every client looks like loopback: configure a token there.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import opsledger
from opsledger.api.auth import AuthFailures, engine_of
from opsledger.api.engine import Engine
from opsledger.api.leader import SchedulerState
from opsledger.api.notify import delivery_metrics, outbox_metrics
from opsledger.api.wire import WireJSON, error_body

__all__ = ["CACHE_SECONDS", "OpsledgerCollector", "metrics_refusal", "registry_of", "router",
           "scheduler_state"]

router = APIRouter(tags=["operations"])
log = logging.getLogger("opsledger.api.metrics")

#: How long a scrape reuses what the previous one read from the store.
CACHE_SECONDS = 5.0
_OPEN_STATES = ("open", "acknowledged", "mitigating")
_FAR = datetime(9999, 12, 31, tzinfo=UTC)
_BURN = (("1h", "burn_rate_1h"), ("6h", "burn_rate_6h"), ("3d", "burn_rate_3d"))


def scheduler_state(request: Request) -> SchedulerState:
    """This process's background job (disabled when the app has none)."""
    state = getattr(request.app.state, "scheduler", None)
    return state if isinstance(state, SchedulerState) else SchedulerState()


class _LagClock:
    """Seconds each view has been behind: since this process first saw the head pass the
    view's position (0 when current). Observed at each store read."""

    def __init__(self) -> None:
        self._seen: list[tuple[float, int]] = []  # (monotonic time, head), heads increasing

    def lags(self, views: list[Any], now: float) -> dict[str, float]:
        if views:
            head = max(v.head for v in views)
            if not self._seen or head > self._seen[-1][1]:
                self._seen.append((now, head))
            lowest = min(v.position for v in views)
            while len(self._seen) > 1 and self._seen[1][1] <= lowest:
                self._seen.pop(0)  # every view has passed it
        lags = {}
        for view in views:
            first = next((t for t, h in self._seen if h > view.position), now)
            lags[view.view] = now - first if view.lag else 0.0
        return lags


class OpsledgerCollector(Collector):
    """The ``opsledger_*`` series of one app (see the module docstring)."""

    def __init__(self, engine: Engine, app_state: Any,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.app_state = app_state
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None
        self._lag = _LagClock()

    def collect(self) -> Iterator[Metric]:
        """Every series: the store's (cached) and the process's."""
        yield from self._store_metrics()
        yield from self._process_metrics()

    def _store_metrics(self) -> list[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            try:
                metrics = [*self.engine.run(self._read_store, now), _gauge(
                    "opsledger_store_up", "1 if the last read of the store succeeded", 1)]
            except Exception as exc:
                log.error("metrics: reading the store failed: %s %s", type(exc).__name__,
                          exc if isinstance(exc, opsledger.OpsledgerError) else "")
                metrics = [_gauge("opsledger_store_up",
                                  "1 if the last read of the store succeeded", 0)]
            self._cached = (now, metrics)
            return metrics

    def _process_metrics(self) -> Iterator[Metric]:
        state = getattr(self.app_state, "scheduler", None)
        state = state if isinstance(state, SchedulerState) else SchedulerState()
        yield _gauge("opsledger_scheduler_leader",
                     "1 if this process holds leadership and sweeps", int(state.leader))
        yield CounterMetricFamily("opsledger_scheduler_sweeps",
                                  "sweeps this process completed", value=state.sweeps)
        yield _gauge("opsledger_scheduler_enabled",
                     "1 if this process runs the background job", int(state.enabled))
        if state.last_sweep_at is not None:
            yield _gauge("opsledger_scheduler_last_sweep_timestamp_seconds",
                         "business time of this process's last completed sweep",
                         state.last_sweep_at.timestamp())
        yield from delivery_metrics(getattr(self.app_state, "delivery", None),
                                    getattr(self.app_state, "delivery_latency", None))
        failures: AuthFailures = self.app_state.auth_failures
        family = CounterMetricFamily("opsledger_auth_failures",
                                     "failed authentications by reason", labels=["reason"])
        for reason, count in sorted(failures.snapshot().items()):
            family.add_metric([reason], count)
        yield family

    def _read_store(self, monotonic_now: float) -> list[Metric]:
        ops = self.engine.ops
        views = ops.view_status()  # first: the reads below catch the views up
        now = ops.clock.now()
        rows = ops.slo(opsledger.Period.month(f"{now:%Y-%m}"), all_tenants=True)
        metrics = list(_slo_metrics(r for r in rows if r.tenant_id is not None))
        metrics += _alert_metrics(ops.alerts(all_tenants=True, open_only=True))
        metrics += _incident_metrics(ops.incidents(all_tenants=True))
        pending = Counter(d.key[0] for d in ops.freshness_deadlines().due(_FAR))
        metrics.append(_labelled(GaugeMetricFamily, "opsledger_freshness_deadlines_pending",
                                 "accepted publishes not yet visible nor recorded missed",
                                 ["tenant"], {(t,): n for t, n in pending.items()}))
        published: Counter[tuple[str, str]] = Counter()
        for row in ops.audit_summary(opsledger.AuditQuery(all_tenants=True)):
            published[(row.tenant_id or "", row.outcome)] += row.operations
        metrics.append(_labelled(CounterMetricFamily, "opsledger_publishes_recorded",
                                 "publish operations recorded, by outcome",
                                 ["tenant", "outcome"], published))
        metrics += outbox_metrics(ops.outbox_status(), now)
        lags = self._lag.lags(views, monotonic_now)
        metrics.append(_labelled(GaugeMetricFamily, "opsledger_view_lag_events",
                                 "events the view had not applied at the scrape", ["view"],
                                 {(v.view,): v.lag for v in views}))
        metrics.append(_labelled(GaugeMetricFamily, "opsledger_view_lag_seconds",
                                 "seconds since this process first saw an event the view "
                                 "has not applied (0: current)", ["view"],
                                 {(v,): s for v, s in lags.items()}))
        metrics.append(_labelled(GaugeMetricFamily, "opsledger_view_stopped",
                                 "1 if the view stopped on an event it could not apply",
                                 ["view"], {(v.view,): int(v.stopped) for v in views}))
        return metrics


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(kind: Any, name: str, documentation: str, labels: list[str],
              values: Any) -> Metric:
    family = kind(name, documentation, labels=labels)
    for key, value in sorted(dict(values).items()):
        family.add_metric(list(key), value)
    result: Metric = family
    return result


def _slo_metrics(rows: Iterable[Any]) -> Iterator[Metric]:
    """The running month's SLO figures per tenant (a figure without traffic: no sample)."""
    rows = list(rows)
    figures: tuple[tuple[str, str, Callable[[Any], float | None]], ...] = (
        ("opsledger_slo_availability_ratio", "availability this month",
         lambda r: r.availability),
        ("opsledger_slo_availability_target_ratio", "availability objective",
         lambda r: r.availability_target),
        ("opsledger_slo_latency_p95_seconds", "publish latency p95 this month",
         lambda r: None if r.latency_p95_ms is None else r.latency_p95_ms / 1000),
        ("opsledger_slo_latency_p95_target_seconds", "latency p95 objective",
         lambda r: r.latency_p95_target_ms / 1000),
        ("opsledger_slo_freshness_ratio", "freshness this month", lambda r: r.freshness),
        ("opsledger_slo_freshness_target_ratio", "freshness objective",
         lambda r: r.freshness_target),
        ("opsledger_slo_error_budget_remaining_ratio",
         "share of this month's error budget left", lambda r: r.error_budget.remaining_ratio),
    )
    for name, documentation, value in figures:
        yield _labelled(GaugeMetricFamily, name, documentation, ["tenant"],
                        {(r.tenant_id,): v for r in rows if (v := value(r)) is not None})
    yield _labelled(GaugeMetricFamily, "opsledger_slo_burn_rate",
                    "error budget burn rate over the window", ["tenant", "window"],
                    {(r.tenant_id, window): v for r in rows for window, field in _BURN
                     if (v := getattr(r.error_budget, field)) is not None})


def _alert_metrics(alerts: Iterable[Any]) -> list[Metric]:
    counts = Counter((a.tenant_id, a.rule, a.level) for a in alerts)
    return [_labelled(GaugeMetricFamily, "opsledger_alerts_open", "open alerts",
                      ["tenant", "rule", "severity"], counts)]


def _incident_metrics(incidents: Iterable[Any]) -> list[Metric]:
    opened: Counter[tuple[str, str]] = Counter()
    pending: Counter[tuple[str, str, str]] = Counter()
    missed: Counter[tuple[str, str, str]] = Counter()
    for incident in incidents:
        tenant = incident.tenant_id or ""
        if incident.state in _OPEN_STATES:
            opened[(tenant, incident.severity)] += 1
        for deadline in incident.deadlines:
            key = (tenant, incident.severity, deadline.kind)
            if deadline.status == "pending" and incident.state in _OPEN_STATES:
                pending[key] += 1
            elif deadline.status == "missed":
                missed[key] += 1
    return [
        _labelled(GaugeMetricFamily, "opsledger_incidents_open", "open incidents",
                  ["tenant", "severity"], opened),
        _labelled(GaugeMetricFamily, "opsledger_incident_deadlines_pending",
                  "response deadlines not yet met nor missed", ["tenant", "severity", "kind"],
                  pending),
        # A gauge, not a counter: an incident lists each kind's latest deadline only (a SEV1's
        # status-update cadence misses many), and a missed one can be met late. The number
        # of misses recorded in a month is the SLA read's (``GET …/sla``).
        _labelled(GaugeMetricFamily, "opsledger_incident_deadlines_missed",
                  "deadlines of incidents whose latest due time passed unmet (each kind's "
                  "latest deadline per incident)", ["tenant", "severity", "kind"], missed),
    ]


_registry_lock = threading.Lock()


def registry_of(request: Request) -> CollectorRegistry:
    """The app's registry (made on the first scrape)."""
    state = request.app.state
    with _registry_lock:
        registry = getattr(state, "metrics_registry", None)
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(OpsledgerCollector(
                engine_of(request), state, getattr(state, "metrics_cache_seconds",
                                                   CACHE_SECONDS)))
            state.metrics_registry = registry
        return registry


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_refusal(request: Request, authorization: str | None) -> Response | None:
    """Why ``/metrics`` refuses this caller (None: it may scrape)."""
    token = engine_of(request).settings.metrics_token
    if token is not None:
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
            return None
        request.app.state.auth_failures.add("metrics_token")
        return WireJSON(error_body(opsledger.Unauthenticated("metrics_token")),
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if _loopback(request):
        return None
    return WireJSON({"code": "forbidden", "details": {},
                     "message": "/metrics answers loopback clients only (no metrics token "
                                "is configured)"}, status_code=403)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request,
            authorization: Annotated[str | None, Header()] = None) -> Response:
    """The Prometheus exposition of the ``opsledger_*`` series (module docstring)."""
    refusal = metrics_refusal(request, authorization)
    if refusal is not None:
        return refusal
    return Response(generate_latest(registry_of(request)), media_type=CONTENT_TYPE_LATEST)
