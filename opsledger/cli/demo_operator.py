"""The demo's on-call team (issue 17 point 4): people acting on what the simulated month
raised, through the same commands an operator runs, each at its own business time.

They know what the simulator injected (its episodes), as a team knows after looking: an
alert of a rule that sees that kind of fault, overlapping an episode of its tenant, is a
real problem; any other is noise. So they
acknowledge every alert and judge it (noise with the reason a reviewer would give); they
acknowledge most incidents in time and some late (one real incident in five, one false
alarm in ten), start mitigation, post the SEV1 status
updates (every 20-29 minutes, now and then one late), resolve when the episode is over (a
false alarm soon after acknowledging), publish RCAs a few business days later (one in
five late), close, and open an incident by hand for an episode nothing alerted on.

Everything is drawn from a generator seeded by the incident's or alert's own id, so the
same month gives the same actions in any store. Nothing is dated after ``until`` (the
month's end, or now): what would come later is left undone, as at a real month's end.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opsledger.application import Operations
    from opsledger.results import Alert, Incident
    from opsledger.sim.simulate import Episode

__all__ = ["act_as_operators"]

ON_CALL, SECONDARY, LEAD = "ana.oncall", "ben.secondary", "sre-lead"
_BEFORE, _AFTER = timedelta(minutes=5), timedelta(minutes=30)
_NOISE_REASONS = {
    "publish_error_rate": "one or two failures in a quiet window; no customer impact",
    "publish_latency_p95": "p95 of a handful of publishes; the day's p95 is normal",
}
#: Which rules see which injected fault (an alert of another rule at the time is chance).
_SEES = {
    "outage": {"no_successful_ingestion", "publish_error_rate", "availability_burn_page",
               "availability_burn_ticket"},
    "slow": {"publish_latency_p95"},
    "error_burst": {"publish_error_rate", "availability_burn_page", "availability_burn_ticket"},
    "auth_failures": {"auth_scope_failures", "publish_error_rate"},
    "collisions": {"idempotency_collision_rate"},
    "isolation": {"tenant_boundary_violation", "publish_error_rate"},
    "freshness_delay": {"freshness_under_target"},
}
_HAND_CAUSES = {
    "outage": ("ingestion_outage", "SEV1"), "error_burst": ("partial_publish_failures", "SEV2"),
    "slow": ("latency", "SEV3"), "auth_failures": ("degraded_ingestion", "SEV2"),
    "collisions": ("data_corruption_risk", "SEV2"), "isolation": ("tenant_isolation_breach",
                                                                   "SEV1"),
    "freshness_delay": ("degraded_ingestion", "SEV3"),
}


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 60))


def _episode_of(tenant: str | None, start: datetime, end: datetime,
                episodes: Sequence[Episode], rule: str | None = None) -> Episode | None:
    """The episode of ``tenant`` that ``[start, end]`` overlaps, give or take the time an
    alert takes to fire and to clear (with ``rule``: one that rule sees)."""
    return next((e for e in episodes if e.tenant_id == tenant and start <= e.end + _AFTER
                 and end >= e.start - _BEFORE
                 and (rule is None or rule in _SEES[e.kind])), None)


class _Team:
    def __init__(self, ops: Operations, episodes: Sequence[Episode], until: datetime) -> None:
        self.ops, self.episodes, self.until = ops, episodes, until
        self.done: Counter[str] = Counter()

    def fits(self, at: datetime) -> bool:
        return at <= self.until

    def judge_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            if alert.acknowledged_at is not None or alert.withdrawn:
                continue
            rng = random.Random(alert.alert_id)
            seen = alert.triggered_at + _minutes(rng, 1, 15)
            if not self.fits(seen):
                continue
            self.ops.acknowledge_alert(alert.alert_id, by=ON_CALL, at=seen)
            end = alert.resolved_at or alert.triggered_at
            if _episode_of(alert.tenant_id, alert.triggered_at, end, self.episodes, alert.rule):
                self.ops.judge_alert(alert.alert_id, "actionable", by=ON_CALL, at=seen)
                self.done["alerts judged actionable"] += 1
            else:
                reason = _NOISE_REASONS.get(alert.rule, "no customer impact found")
                self.ops.judge_alert(alert.alert_id, "noise", reason=reason, by=ON_CALL,
                                     at=seen)
                self.done["alerts judged noise"] += 1

    def handle(self, incident: Incident, alerts: dict[str, Alert]) -> None:
        rng = random.Random(incident.incident_id)
        linked = [alerts[a] for a in incident.alert_ids if a in alerts]
        real = not linked or any(a.verdict == "actionable" for a in linked)
        episode = _episode_of(incident.tenant_id, incident.opened_at,
                              max([a.resolved_at or a.triggered_at for a in linked],
                                  default=incident.opened_at), self.episodes)
        due = {d.kind: d.due_at for d in incident.deadlines}
        window = (due.get("acknowledge") or incident.opened_at + timedelta(minutes=60)) \
            - incident.opened_at
        late = rng.random() < (0.2 if real else 0.1)
        ack = incident.opened_at + (window + _minutes(rng, 3, 30) if late
                                    else window * rng.uniform(0.15, 0.85))
        if not self.fits(ack):
            return
        self.ops.acknowledge(incident.incident_id, by=ON_CALL, at=ack)
        self.done["incidents acknowledged" + (" late" if late else "")] += 1
        at = ack
        if incident.severity == "SEV3":
            self._fix_and_close(incident, rng, at)
            return
        if real:
            at += _minutes(rng, 3, 15)
            if not self.fits(at):
                return
            self.ops.start_mitigation(incident.incident_id, by=ON_CALL, at=at)
        over = (episode.end if episode else at) + _minutes(rng, 10, 40) if real \
            else at + _minutes(rng, 5, 25)
        if incident.severity == "SEV1":
            at = self._status_updates(incident, rng, at, over)
        resolved = max(over, at + timedelta(minutes=1))
        if not self.fits(resolved):
            return
        summary = "recovered; cause under analysis" if real else \
            "false alarm: " + (linked[0].verdict_reason if linked and linked[0].verdict_reason
                               else "no customer impact")
        self.ops.resolve_incident(incident.incident_id, summary=summary, by=ON_CALL,
                                  at=resolved)
        self.done["incidents resolved"] += 1
        calendar = self.ops.policy_at(resolved).business_calendar()
        days = 2 + int(rng.random() < 0.5) + (8 if real and rng.random() < 0.2 else 0)
        rca = calendar.add_business_days(resolved, days)
        if not self.fits(rca):
            return
        self.ops.publish_rca(incident.incident_id, by=SECONDARY, at=rca,
                             link=f"https://wiki.example/rca/{incident.incident_id}")
        self.done["RCAs published"] += 1
        if self.fits(rca + timedelta(hours=1)):
            self.ops.close_incident(incident.incident_id, by=LEAD, at=rca + timedelta(hours=1))

    def _status_updates(self, incident: Incident, rng: random.Random, at: datetime,
                        until: datetime) -> datetime:
        """A first customer-facing update soon after ``at``, then one every 20-29 minutes
        (one in ten at 35) until ``until``."""
        posted, last = at - timedelta(minutes=18), at  # the first a few minutes after ``at``
        while True:
            gap = 35 if rng.random() < 0.1 else rng.uniform(20, 29)
            nxt = max(posted + timedelta(seconds=round(gap * 60)), at + timedelta(minutes=1))
            if nxt >= until or not self.fits(nxt):
                return last
            self.ops.post_status_update(incident.incident_id, by=ON_CALL, at=nxt,
                                        message="still working on it; next update in 30 min")
            self.done["status updates"] += 1
            posted = last = nxt

    def _fix_and_close(self, incident: Incident, rng: random.Random, at: datetime) -> None:
        ops, key = self.ops, incident.incident_id
        steps: list[Callable[[datetime], object]] = [
            lambda t: ops.schedule_fix(key, sprint="2026-S48", by=ON_CALL, at=t),
            lambda t: ops.resolve_incident(key, summary="fix scheduled in the sprint",
                                           by=ON_CALL, at=t),
            lambda t: ops.close_incident(key, by=ON_CALL, at=t)]
        for step in steps:
            at += _minutes(rng, 30, 240)
            if not self.fits(at):
                return
            step(at)
        self.done["SEV3 fixes scheduled"] += 1

    def report_unalerted(self, start: datetime, end: datetime, alerts: list[Alert]) -> None:
        """An episode that raised no alert is reported by a customer: opened by hand."""
        for episode in self.episodes:
            if not start <= episode.start < end:
                continue
            if any(_episode_of(a.tenant_id, a.triggered_at, a.resolved_at or a.triggered_at,
                               [episode], a.rule) for a in alerts):
                continue
            cause, severity = _HAND_CAUSES[episode.kind]
            at = episode.end + timedelta(minutes=25)
            if self.fits(at):
                self.ops.open_incident(severity=severity, tenant_id=episode.tenant_id,
                                       title=f"customer report: {episode.kind}", cause=cause,
                                       by=ON_CALL, at=at, request_id=f"demo-{episode.kind}-"
                                       f"{episode.tenant_id}-{episode.start:%Y%m%dT%H%M}")
                self.done["incidents opened by hand"] += 1


def act_as_operators(ops: Operations, episodes: Sequence[Episode], start: datetime,
                     end: datetime, until: datetime) -> dict[str, int]:
    """The team's actions on the alerts and incidents of ``[start, end)`` that nobody has
    handled yet (none dated after ``until``); returns what they did, counted."""
    team = _Team(ops, episodes, until)
    alerts = [a for a in ops.alerts(all_tenants=True) if start <= a.triggered_at < end]
    team.report_unalerted(start, end, alerts)
    team.judge_alerts(alerts)
    judged = {a.alert_id: a for a in ops.alerts(all_tenants=True)}
    for incident in ops.incidents(all_tenants=True, state="open"):
        if start <= incident.opened_at < end:
            team.handle(ops.incident(incident.incident_id), judged)
    return dict(sorted(team.done.items()))
