"""Command inputs: one publish operation as Pumuki reports it, validated into typed errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from opsledger.domain.bounds import (
    DEFAULT_TIME_BOUNDS,
    MAX_ATTEMPTS,
    MAX_ID_CHARS,
    MAX_LATENCY_MS,
    MAX_STATUS,
    MAX_TEXT_CHARS,
    MIN_STATUS,
    QUOTE_CHARS,
    OutOfBounds,
    TimeBounds,
    quote,
)
from opsledger.domain.errors import (
    MISSING,
    ImportRefused,
    InvalidInput,
    InvalidRecord,
    MissingIdempotencyKey,
    NaiveDatetime,
)
from opsledger.domain.time import iso_utc

__all__ = [
    "ERROR_CODES",
    "ImportRefused",
    "InvalidRecord",
    "PublishRecord",
    "SnapshotRecord",
    "typed_error",
]

ERROR_CODES = (
    "AUTH_POLICY_VIOLATION",
    "ISOLATION_VIOLATION",
    "TIMEOUT",
    "ABORTED",
    "NETWORK",
    "HTTP_STATUS",
)


_MISSING = MISSING  # a field not given: its problem quotes no value

#: No control characters (Unicode Cc): checked by pydantic's own (Rust) pattern engine, as
#: fast as the length checks; lone surrogates cannot even reach it (pydantic refuses them).
_NO_CONTROL = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
Id = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=_NO_CONTROL)]
OptionalId = Annotated[StrictStr, Field(max_length=MAX_ID_CHARS, pattern=_NO_CONTROL)]
Label = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS, pattern=_NO_CONTROL)]
Hash = Annotated[StrictStr, Field(pattern=r"^[0-9a-fA-F]{64}$")]


def _business_time(value: Any, parse: ValidatorFunctionWrapHandler,
                   info: ValidationInfo) -> datetime:
    """A time given as ISO-8601 text (or a datetime from Python; never a number), tz-aware,
    inside the time bounds once normalised to UTC (so an offset past year 1 or 9999 is
    refused, not an overflow)."""
    if not isinstance(value, datetime | str):
        raise PydanticCustomError("datetime_type", "must be an ISO-8601 date-time string")
    parsed: datetime = parse(value)
    bounds = (info.context or {}).get("time_bounds") or DEFAULT_TIME_BOUNDS
    try:
        bounds.check(parsed, info.field_name or "occurred_at")
    except NaiveDatetime:
        raise PydanticCustomError("naive_datetime", "has no time zone") from None
    except OutOfBounds as error:
        raise PydanticCustomError("out_of_bounds", error.why) from None
    return parsed


BusinessTime = Annotated[datetime, WrapValidator(_business_time)]


class PublishRecord(BaseModel):
    """One publish operation (retries inside it), as one line of Pumuki's audit.

    Bounded at the boundary (:mod:`opsledger.domain.bounds`): ids of 1..256 characters
    without control characters, numbers as JSON integers only (no strings, floats or
    booleans: Pumuki writes integers) within their maxima, ``occurred_at`` within the time
    bounds after normalising to UTC.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: Id
    repository_id: Id
    idempotency_key: OptionalId | None = None
    payload_hash: Hash
    outcome: Literal["success", "error"]
    attempts: Annotated[StrictInt, Field(ge=0, le=MAX_ATTEMPTS)]
    latency_ms: Annotated[StrictInt, Field(ge=0, le=MAX_LATENCY_MS)]
    occurred_at: BusinessTime
    error_code: Literal[ERROR_CODES] | None = None  # type: ignore[valid-type]
    status: Annotated[StrictInt, Field(ge=MIN_STATUS, le=MAX_STATUS)] | None = None
    request_id: Id | None = None
    endpoint: Label | None = None
    retryable: StrictBool | None = None
    operation_id: Id | None = None

    @model_validator(mode="after")
    def _policy_controls(self) -> PublishRecord:
        if not self.idempotency_key:
            raise PydanticCustomError("missing_idempotency_key", "idempotency key is mandatory")
        return self

    @classmethod
    def create(cls, *, time_bounds: TimeBounds | None = None, **fields: Any) -> PublishRecord:
        """Validate; raise NaiveDatetime, MissingIdempotencyKey or InvalidRecord."""
        return cls._validated(fields, time_bounds, {})

    @classmethod
    def from_pumuki(cls, line: dict[str, Any],
                    time_bounds: TimeBounds | None = None) -> PublishRecord:
        """Map one Pumuki audit object (``event_at``, ``event_id``) to a record; errors
        name the fields as the line does."""
        fields = dict(line)
        if "event_at" in fields:
            fields["occurred_at"] = fields.pop("event_at")
        if "event_id" in fields:
            fields["operation_id"] = fields.pop("event_id")
        return cls._validated(fields, time_bounds, _PUMUKI_NAMES)

    @classmethod
    def _validated(cls, fields: dict[str, Any], time_bounds: TimeBounds | None,
                   names: dict[str, str]) -> PublishRecord:
        try:
            return cls.model_validate(fields, context={"time_bounds": time_bounds})
        except ValidationError as exc:
            raise typed_error(exc, names) from None

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


_PUMUKI_NAMES = {"occurred_at": "event_at", "operation_id": "event_id"}


def typed_error(exc: ValidationError, names: dict[str, str] | None = None) -> InvalidInput:
    """The typed error of a failed validation: the fields named (as ``names`` maps them),
    values quoted short, a missing field never echoing the record."""
    problems: list[tuple[str, object, str]] = []
    names = names or {}
    for err in exc.errors():
        field = ".".join(names.get(str(p), str(p)) for p in err["loc"]) or "record"
        if err["type"] == "naive_datetime":
            given = err.get("input")
            return NaiveDatetime(field, given[:QUOTE_CHARS] if isinstance(given, str)
                                 else quote(given))
        if err["type"] == "missing_idempotency_key":
            return MissingIdempotencyKey()
        value = _MISSING if err["type"] == "missing" else err.get("input")
        why = err["msg"]
        if err["type"] == "string_pattern_mismatch":
            why = ("must be 64 hexadecimal characters" if field == "payload_hash"
                   else "control characters are not allowed")
        problems.append((field, value, why))
    return InvalidRecord(problems)


class SnapshotRecord(BaseModel):
    """One downstream-snapshot record (freshness): when an accepted payload became visible.

    Bounded like :class:`PublishRecord`; ``visible_at`` within the time bounds."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: Id
    repository_id: Id
    payload_hash: Hash
    idempotency_key: Id
    visible_at: BusinessTime

    @classmethod
    def create(cls, fields: dict[str, Any],
               time_bounds: TimeBounds | None = None) -> SnapshotRecord:
        """Validate; raise NaiveDatetime or InvalidRecord (fields named, values quoted short)."""
        try:
            return cls.model_validate(fields, context={"time_bounds": time_bounds})
        except ValidationError as exc:
            raise typed_error(exc) from None

