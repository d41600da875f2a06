"""The policy's numbers, in one validated model.

Every default below is a number written in the Production Operations Policy
(``seed/000_…``); the field names say which clause. A policy loads from TOML and fails
with the key, the value and why. Adopting or tuning a policy is an event (see
``PolicyLedger``) so history is always judged under the policy in force at the time.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from opsledger.domain.errors import InvalidPolicy
from opsledger.domain.time import BusinessCalendar
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "WINDOWED_RULES",
    "AlertRules",
    "CalendarSettings",
    "GateSettings",
    "OperationsPolicy",
    "Ownership",
    "ResponseTargets",
    "RetentionDefaults",
    "ServiceObjectives",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ServiceObjectives(BaseModel):
    """Policy §2: minimum service objectives."""

    model_config = _FROZEN
    availability_target: float = Field(0.995, gt=0, le=1)
    latency_p95_target_ms: int = Field(3000, gt=0)
    freshness_target: float = Field(0.95, gt=0, le=1)
    freshness_bound_minutes: int = Field(15, gt=0)
    integrity_max_unresolved_critical: int = Field(0, ge=0)
    availability_excludes_client_rejections: bool = False


class ResponseTargets(BaseModel):
    """Policy §3: incident response SLA per severity."""

    model_config = _FROZEN
    sev1_ack_minutes: int = Field(15, gt=0)
    sev1_mitigation_minutes: int = Field(60, gt=0)
    sev1_status_update_minutes: int = Field(30, gt=0)
    #: Missed status slots recorded in a row before the cadence *lapses* (one day of
    #: silence by default): the last miss says so, and the next customer-facing update
    #: re-arms it. Without it, an incident opened long ago (old history imported, a
    #: backdated violation) would record one miss per 30 minutes up to now.
    sev1_status_update_max_missed: int = Field(48, gt=0)
    sev1_rca_business_days: int = Field(5, gt=0)
    sev2_ack_minutes: int = Field(60, gt=0)
    sev2_mitigation_minutes: int = Field(240, gt=0)
    sev2_rca_business_days: int = Field(10, gt=0)
    sev3_ack_business_days: int = Field(1, gt=0)


class AlertRules(BaseModel):
    """Policy §4: alert thresholds and windows (thresholds are strict: value > threshold)."""

    model_config = _FROZEN
    no_success_minutes: int = Field(30, gt=0)
    min_failed_attempts: int = Field(1, ge=1)
    error_rate_threshold: float = Field(0.02, ge=0, le=1)
    error_rate_window_minutes: int = Field(5, gt=0)
    auth_failures_threshold: int = Field(5, ge=0)
    auth_failures_window_minutes: int = Field(10, gt=0)
    collision_rate_threshold: float = Field(0.005, ge=0, le=1)
    collision_rate_window_minutes: int = Field(15, gt=0)
    latency_p95_threshold_ms: int = Field(3000, gt=0)
    latency_p95_window_minutes: int = Field(15, gt=0)
    freshness_window_minutes: int = Field(15, gt=0)
    freshness_consecutive_windows: int = Field(2, ge=1)
    allowed_lateness_seconds: int = Field(300, ge=0)
    high_alerts_open_sev2: bool = True
    #: rule -> the severity of the incident its alert opens, or ``none`` (a TOML table:
    #: ``[alerts.auto_incidents]`` / ``publish_latency_p95 = "SEV3"``). A rule not named
    #: keeps the policy's own (:data:`AUTO_INCIDENT_DEFAULTS`).
    auto_incidents: tuple[tuple[str, str], ...] = ()
    #: The low-traffic guard: a windowed rule holds only over at least this many operations
    #: in its window (0, the policy's literal rule: no guard) ...
    min_operations: int = Field(0, ge=0)
    #: ... or, per rule, as this table says (``[alerts.min_operations_by_rule]`` /
    #: ``publish_latency_p95 = 10``: a p95 of four samples is one slow publish).
    min_operations_by_rule: tuple[tuple[str, int], ...] = ()
    burn_rate_alerts: bool = False
    burn_page_fast: float = Field(14.4, gt=0)
    burn_page_slow: float = Field(6.0, gt=0)
    burn_ticket: float = Field(1.0, gt=0)

    @field_validator("auto_incidents", mode="before")
    @classmethod
    def _auto_incidents(cls, value: Any) -> tuple[tuple[str, str], ...]:
        """A table (or pairs) of known rules to SEV1, SEV2, SEV3 or none, kept sorted."""
        from opsledger.domain.alert import RULES

        pairs = list(value.items()) if isinstance(value, dict) else list(value or ())
        for pair in pairs:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError("expected a table of rule = severity")
            rule, severity = pair
            if rule not in RULES:
                raise ValueError(f"unknown rule {str(rule)[:40]!r}: one of {', '.join(RULES)}")
            if severity not in AUTO_SEVERITIES:
                raise ValueError(f"{rule}: {str(severity)[:10]!r} is not one of "
                                 f"{', '.join(AUTO_SEVERITIES)}")
        return tuple(sorted((str(r), str(s)) for r, s in pairs))

    @field_validator("min_operations_by_rule", mode="before")
    @classmethod
    def _min_operations_by_rule(cls, value: Any) -> tuple[tuple[str, int], ...]:
        """A table (or pairs) of windowed rules to a count of operations, kept sorted."""
        pairs = list(value.items()) if isinstance(value, dict) else list(value or ())
        for pair in pairs:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError("expected a table of rule = number of operations")
            rule, count = pair
            if rule not in WINDOWED_RULES:
                raise ValueError(f"{str(rule)[:40]!r} is not a windowed rule: one of "
                                 f"{', '.join(WINDOWED_RULES)}")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10**6:
                raise ValueError(f"{rule}: {str(count)[:12]!r} is not a count of operations "
                                 "(0 to 1000000)")
        return tuple(sorted((str(r), int(c)) for r, c in pairs))

    def guard(self, rule: str) -> int:
        """The least number of operations ``rule``'s window needs before it can hold."""
        return dict(self.min_operations_by_rule).get(rule, self.min_operations)

    def auto_incident(self, rule: str) -> str | None:
        """The severity of the incident an alert of ``rule`` opens, or None: as
        ``auto_incidents`` names it, else the policy's (:data:`AUTO_INCIDENT_DEFAULTS`;
        its SEV2s only with ``high_alerts_open_sev2``)."""
        chosen = dict(self.auto_incidents).get(rule)
        if chosen is None:
            chosen = AUTO_INCIDENT_DEFAULTS.get(rule, "none")
            if chosen == "SEV2" and not self.high_alerts_open_sev2:
                chosen = "none"
        return None if chosen == "none" else chosen


#: The rules evaluated over a sliding window of operations (the low-traffic guard's).
WINDOWED_RULES = ("publish_error_rate", "auth_scope_failures", "idempotency_collision_rate",
                  "publish_latency_p95")
#: What ``auto_incidents`` may name for a rule.
AUTO_SEVERITIES = ("SEV1", "SEV2", "SEV3", "none")
#: The policy's own: its critical alerts open SEV1 incidents, its high ones SEV2 (policy
#: §3/§4); latency, freshness and the opt-in burn-rate alerts open none.
AUTO_INCIDENT_DEFAULTS = {
    "tenant_boundary_violation": "SEV1", "no_successful_ingestion": "SEV1",
    "publish_error_rate": "SEV2", "auth_scope_failures": "SEV2",
    "idempotency_collision_rate": "SEV2",
}


class CalendarSettings(BaseModel):
    """Business days for RCA and SEV3 deadlines: time zone, weekends and holidays."""

    model_config = _FROZEN
    timezone: str = "UTC"
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holidays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _known_zone(self) -> CalendarSettings:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        return self


class RetentionDefaults(BaseModel):
    """Per-tenant retention defaults (Pumuki's governance defaults)."""

    model_config = _FROZEN
    audit_days: int = Field(90, gt=0)
    metrics_days: int = Field(365, gt=0)
    contracts_days: int = Field(30, gt=0)


class GateSettings(BaseModel):
    """Policy §6/§8: go-live evidence age and the grace period after a constraint is lifted."""

    model_config = _FROZEN
    evidence_max_age_days: int = Field(14, gt=0)
    constraint_grace_hours: int = Field(72, gt=0)


class Ownership(BaseModel):
    """Policy §7: owners."""

    model_config = _FROZEN
    primary_owner: str = "platform/backend maintainers"
    secondary_owner: str = "release operator on duty"


class OperationsPolicy(BaseModel):
    """All the numbers of the Production Operations Policy, with the policy's defaults."""

    model_config = _FROZEN
    slo: ServiceObjectives = ServiceObjectives()
    response: ResponseTargets = ResponseTargets()
    alerts: AlertRules = AlertRules()
    calendar: CalendarSettings = CalendarSettings()
    retention: RetentionDefaults = RetentionDefaults()
    gate: GateSettings = GateSettings()
    ownership: Ownership = Ownership()

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> OperationsPolicy:
        """Validate a mapping; raise :class:`InvalidPolicy` naming each key, value and why."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [
                (".".join(str(p) for p in err["loc"]) or "<root>", err.get("input"), err["msg"])
                for err in exc.errors()
            ]
            raise InvalidPolicy(problems) from None

    @classmethod
    def from_toml(cls, source: str | Path) -> OperationsPolicy:
        """Load from a TOML file path (``Path``) or TOML text (``str``)."""
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidPolicy([("<file>", None, f"not valid TOML: {exc}")]) from None
        return cls.from_mapping(data)

    def to_toml(self) -> str:
        """Render as TOML that :meth:`from_toml` reads back to an equal policy."""
        lines: list[str] = []
        for section, values in self.model_dump(mode="json").items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                if value is None:
                    continue
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    def business_calendar(self) -> BusinessCalendar:
        """The business-day calendar this policy defines."""
        c = self.calendar
        return BusinessCalendar(c.timezone, c.holiday_country, c.holiday_subdivision, c.holidays)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list) and all(isinstance(v, list) and len(v) == 2 for v in value) \
            and value:  # pairs (auto_incidents): an inline table
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
