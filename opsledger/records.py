"""Command inputs: one publish operation as Pumuki reports it, validated into typed errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from opsledger.domain.errors import InvalidInput, MissingIdempotencyKey, NaiveDatetime
from opsledger.domain.time import iso_utc

__all__ = ["ERROR_CODES", "ImportRefused", "InvalidRecord", "PublishRecord"]

ERROR_CODES = (
    "AUTH_POLICY_VIOLATION",
    "ISOLATION_VIOLATION",
    "TIMEOUT",
    "ABORTED",
    "NETWORK",
    "HTTP_STATUS",
)


class InvalidRecord(InvalidInput):
    """A publish record failed validation; ``problems`` lists (field, value, why)."""

    code = "invalid_record"

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}={v!r}: {why}" for f, v, why in problems))


class PublishRecord(BaseModel):
    """One publish operation (retries inside it), as one line of Pumuki's audit."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str = Field(min_length=1)
    repository_id: str = Field(min_length=1)
    idempotency_key: str | None = None
    payload_hash: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    outcome: Literal["success", "error"]
    attempts: int = Field(ge=0)
    latency_ms: int = Field(ge=0)
    occurred_at: datetime
    error_code: Literal[ERROR_CODES] | None = None  # type: ignore[valid-type]
    status: int | None = Field(default=None, ge=100, le=599)
    request_id: str | None = None
    endpoint: str | None = None
    retryable: bool | None = None
    operation_id: str | None = None

    @model_validator(mode="after")
    def _policy_controls(self) -> PublishRecord:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise PydanticCustomError("naive_datetime", "occurred_at has no time zone")
        if not self.idempotency_key:
            raise PydanticCustomError("missing_idempotency_key", "idempotency key is mandatory")
        return self

    @classmethod
    def create(cls, **fields: Any) -> PublishRecord:
        """Validate; raise NaiveDatetime, MissingIdempotencyKey or InvalidRecord."""
        try:
            record = cls.model_validate(fields)
        except ValidationError as exc:
            raise _typed(exc, fields) from None
        return record

    @classmethod
    def from_pumuki(cls, line: dict[str, Any]) -> PublishRecord:
        """Map one Pumuki audit object (``event_at``, ``event_id``) to a record."""
        fields = dict(line)
        if "event_at" in fields:
            fields["occurred_at"] = fields.pop("event_at")
        if "event_id" in fields:
            fields["operation_id"] = fields.pop("event_id")
        return cls.create(**fields)

    @property
    def key(self) -> str:
        """The idempotency key (validated non-empty)."""
        assert self.idempotency_key is not None  # guaranteed by the validator
        return self.idempotency_key

    @property
    def occurred_at_utc(self) -> datetime:
        """``occurred_at`` normalised to UTC."""
        return self.occurred_at.astimezone(UTC)

    def effective_operation_id(self) -> str:
        """Pumuki's ``event_id`` if given, else a digest of the record's facts."""
        if self.operation_id:
            return self.operation_id
        facts = [
            self.tenant_id, self.repository_id, self.idempotency_key, self.payload_hash.lower(),
            self.outcome, self.attempts, self.latency_ms, iso_utc(self.occurred_at),
            self.error_code, self.status, self.request_id, self.endpoint, self.retryable,
        ]
        return "op-" + hashlib.sha256(orjson.dumps(facts)).hexdigest()[:32]

    def operation(self, operation_id: str, source: str, tenant_mode: str) -> dict[str, Any]:
        """The JSON-native operation facts stored on the batch event (None fields dropped)."""
        op: dict[str, Any] = {
            "operation_id": operation_id,
            "payload_hash": self.payload_hash.lower(),
            "outcome": self.outcome,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
            "source": source,
            "tenant_mode": tenant_mode,
        }
        for name in ("error_code", "status", "request_id", "endpoint", "retryable"):
            value = getattr(self, name)
            if value is not None:
                op[name] = value
        return op


def _typed(exc: ValidationError, fields: dict[str, Any]) -> InvalidInput:
    problems: list[tuple[str, object, str]] = []
    for err in exc.errors():
        if err["type"] == "naive_datetime":
            return NaiveDatetime("occurred_at", fields.get("occurred_at"))
        if err["type"] == "missing_idempotency_key":
            return MissingIdempotencyKey()
        field = ".".join(str(p) for p in err["loc"]) or "record"
        problems.append((field, err.get("input"), err["msg"]))
    return InvalidRecord(problems)


class ImportRefused(InvalidInput):
    """``--strict`` import refused: names the first bad line; nothing was written."""

    code = "import_refused"

    def __init__(self, line: int, error: str) -> None:
        self.line = line
        self.error = error
        super().__init__(f"line {line}: {error} (strict import: nothing was written)")
