"""Typed errors raised by opsledger: every public error, in one place.

Hierarchy (every error a caller can provoke derives from ``OpsledgerError``; each class
has a stable ``code``, what the CLI and an HTTP API map to an exit code or a status)::

    OpsledgerError
    ├── InvalidInput                     bad value in a command (never stored); a ValueError
    │   ├── NaiveDatetime                a datetime without a time zone
    │   ├── MissingIdempotencyKey        publish without an idempotency key (policy §5)
    │   ├── OutOfBounds                  outside the bounds of domain/bounds.py; names the field
    │   ├── LineTooLong                  an import line over the line-size limit, never parsed
    │   ├── InvalidRecord                a publish/snapshot record that does not validate
    │   ├── ImportRefused                a strict import refused at its first bad line
    │   ├── InvalidPolicy                a policy file/value that does not validate
│   ├── InvalidNotifyConfig          a notification config (channels, routes) that does not
│   │                                validate
    │   ├── InvalidStoreUrl              a store URL opsledger does not understand
    │   │   └── InvalidStoreIdentifier   a URL's schema that is not a plain identifier
    │   ├── UnsafeOutputPath             a report file outside its output folder
    │   ├── CheckpointKeyMissing         no checkpoint key configured
    │   ├── InvalidCheckpoint            a checkpoint file that is not one
    │   └── PayloadTooLarge              an HTTP body over the service's size limit
    ├── ScopeViolation                   policy §5 scoping: refused, audited as a refusal
    │   ├── UnknownTenant
    │   │   └── TenantForgotten          crypto-shredded: unreadable, closed for writes
    │   ├── RepositoryOutOfScope
    │   └── RetentionPolicyMissing       tenant has no retention/privacy policy yet
    ├── Conflict                         the command contradicts stored state
    │   ├── TenantAlreadyRegistered
    │   ├── IllegalTransition            names the current state
    │   ├── OperationIdReused            a tenant's operation id with other facts or batch:
    │   │                                refused, audited as a refusal
    │   ├── TenantNotReady               SaaS mode without a passed go-live gate
    │   ├── ActivationRefused            go-live activation with checks not satisfied
    │   └── TrackingConflict             another process advanced a view first (retry)
    ├── NotFound                         asked for something that does not exist
    │   ├── UnknownView                  a view name the store does not have
    │   └── UnknownToken                 an API token id the store does not have
    ├── Unauthenticated                  no API token, or one that is unknown, expired or
    │                                    revoked (the reason is counted, never shown)
    ├── Forbidden                        the API token lacks the scope the call needs
    ├── StoreUnavailable                 the store could not be reached
    ├── KeyStoreMissing                  the key store (or a key) is missing: reads stop
    ├── CheckpointSignatureInvalid       a chain checkpoint's signature does not match
    └── DeliveryFailed                   a test notification its receiver did not accept

Errors carry their facts as attributes so callers and the CLI can render them; a value
from outside is never echoed whole (:func:`quote`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "MISSING",
    "QUOTE_CHARS",
    "ActivationRefused",
    "CheckpointKeyMissing",
    "CheckpointSignatureInvalid",
    "Conflict",
    "DeliveryFailed",
    "Forbidden",
    "IllegalTransition",
    "ImportRefused",
    "InvalidCheckpoint",
    "InvalidInput",
    "InvalidNotifyConfig",
    "InvalidPolicy",
    "InvalidRecord",
    "InvalidStoreIdentifier",
    "InvalidStoreUrl",
    "KeyStoreMissing",
    "LineTooLong",
    "MissingIdempotencyKey",
    "NaiveDatetime",
    "NotFound",
    "OperationIdReused",
    "OpsledgerError",
    "OutOfBounds",
    "PayloadTooLarge",
    "RepositoryOutOfScope",
    "RetentionPolicyMissing",
    "ScopeViolation",
    "StoreUnavailable",
    "TenantAlreadyRegistered",
    "TenantForgotten",
    "TenantNotReady",
    "TrackingConflict",
    "Unauthenticated",
    "UnknownTenant",
    "UnknownToken",
    "UnknownView",
    "UnsafeOutputPath",
    "quote",
]

#: How much of a refused value an error message quotes.
QUOTE_CHARS = 40
#: A field that was not given at all (an :class:`InvalidRecord` problem quotes no value).
MISSING: Any = object()


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of ``value`` cut to about ``limit`` characters (an ellipsis marks the cut)."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return repr(value[:limit]) + "…"
    if isinstance(value, dict | list | tuple):
        return f"<{type(value).__name__} of {len(value)}>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


class OpsledgerError(Exception):
    """Base of every error opsledger raises on purpose."""

    code = "error"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: the error code and message."""
        return {"code": self.code, "message": str(self)}


class InvalidInput(OpsledgerError, ValueError):
    """A command argument is malformed; nothing was stored."""

    code = "invalid_input"


class NaiveDatetime(InvalidInput):
    """A business time was given without a time zone."""

    code = "naive_datetime"

    def __init__(self, field: str, value: object) -> None:
        self.field = field
        self.value = value
        super().__init__(
            f"{field}={value!r} has no time zone; opsledger needs tz-aware UTC business times"
        )


class MissingIdempotencyKey(InvalidInput):
    """A publish record arrived without an idempotency key (policy §5)."""

    code = "missing_idempotency_key"

    def __init__(self) -> None:
        super().__init__("an idempotency key is mandatory for each published batch (policy §5)")


class InvalidPolicy(InvalidInput):
    """A policy value failed validation; names the key, the value and why."""

    code = "invalid_policy"

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        lines = [f"{key} = {value!r}: {why}" for key, value, why in problems]
        super().__init__("invalid policy: " + "; ".join(lines))


class InvalidNotifyConfig(InvalidInput):
    """A notification config (channels, routes, quiet windows) failed validation; names
    every key, its value (secrets never quoted) and why."""

    code = "invalid_notify_config"

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        lines = [f"{key}: {why}" if value is None else f"{key} = {value!r}: {why}"
                 for key, value, why in problems]  # None: a value not to be quoted
        super().__init__("invalid notify config: " + "; ".join(lines))


class DeliveryFailed(OpsledgerError):
    """A test notification was not accepted by its route's receiver (the status or error
    says why; nothing secret is quoted)."""

    code = "delivery_failed"


class OutOfBounds(InvalidInput):
    """A value lies outside what opsledger accepts; names the field, quotes little."""

    code = "out_of_bounds"

    def __init__(self, field: str, value: object, why: str) -> None:
        self.field = field
        self.why = why
        super().__init__(f"{field}: {why} (got {quote(value)})")


class LineTooLong(InvalidInput):
    """An import line longer than the line-size limit: refused before it is parsed."""

    code = "line_too_long"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"line longer than {limit} bytes: not parsed")


class InvalidRecord(InvalidInput):
    """A record failed validation; ``problems`` lists (field, value quoted short, why).

    ``field`` is the first problem's field. A value is never echoed whole: at most about
    40 characters of it are quoted, and nothing for a missing field (:data:`MISSING`)."""

    code = "invalid_record"

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = problems
        self.field = problems[0][0] if problems else "record"
        super().__init__("; ".join(
            f"{f}: {why}" + ("" if v is MISSING else f" (got {quote(v)})")
            for f, v, why in problems))


class ImportRefused(InvalidInput):
    """``--strict`` import refused: names the file, the first bad line and its field;
    nothing was written."""

    code = "import_refused"

    def __init__(self, line: int, error: str, *, file: str | None = None,
                 field: str | None = None) -> None:
        self.line = line
        self.error = error
        self.file = file
        self.field = field
        where = f"{file}: line {line}" if file else f"line {line}"
        super().__init__(f"{where}: {error} (strict import: nothing was written)")


class InvalidStoreUrl(InvalidInput):
    """The store URL is not one opsledger understands."""

    code = "invalid_store_url"


class InvalidStoreIdentifier(InvalidStoreUrl):
    """A URL parameter that names something in SQL (``schema``) is not a plain identifier;
    ``parameter`` names it."""

    code = "invalid_store_identifier"

    def __init__(self, parameter: str, value: str) -> None:
        shown = value if len(value) <= QUOTE_CHARS else value[:QUOTE_CHARS] + "…"
        super().__init__(f"store URL parameter {parameter}={shown!r} is not a plain "
                         f"identifier: use lower-case letters, digits and _ (not first), "
                         f"at most 63 characters")
        self.parameter = parameter


class UnsafeOutputPath(InvalidInput):
    """A file would be written outside the output folder (never happens with the names
    the reports make; the check guards every write regardless)."""

    code = "unsafe_output_path"

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, folder
        shown = name if len(name) <= 40 else name[:40] + "…"
        super().__init__(f"refusing to write {shown!r} outside {str(folder)!r}")


class CheckpointKeyMissing(InvalidInput):
    """No checkpoint key was configured (``OPSLEDGER_CHECKPOINT_KEY`` or ``--key-file``)."""

    code = "checkpoint_key_missing"


class InvalidCheckpoint(InvalidInput):
    """A checkpoint file is not a checkpoint (malformed JSON, fields or algorithm)."""

    code = "invalid_checkpoint"


class PayloadTooLarge(InvalidInput):
    """An HTTP body over the service's size limit: refused before it is read whole."""

    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body over the limit of {limit:,} bytes")


class ScopeViolation(OpsledgerError):
    """A publish record outside the tenant/repository scope (policy §5)."""

    code = "scope_violation"


class UnknownTenant(ScopeViolation, LookupError):
    """The tenant is not registered."""

    code = "unknown_tenant"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"unknown tenant {quote(tenant_id)}")


class TenantForgotten(UnknownTenant):
    """The tenant was forgotten (crypto-shredded): its events can no longer be read, and
    nothing more can be recorded for it."""

    code = "tenant_forgotten"

    def __init__(self, tenant_id: str) -> None:
        super().__init__(tenant_id)
        self.args = (f"tenant {tenant_id!r} was forgotten: its history is unreadable "
                     "and nothing more can be recorded for it",)


class RepositoryOutOfScope(ScopeViolation):
    """The repository is not in the tenant's scope."""

    code = "repository_out_of_scope"

    def __init__(self, tenant_id: str, repository_id: str) -> None:
        self.tenant_id = tenant_id
        self.repository_id = repository_id
        super().__init__(
            f"repository {repository_id!r} is not in the scope of tenant {tenant_id!r}"
        )


class RetentionPolicyMissing(ScopeViolation):
    """The tenant has no retention/privacy policy, so it cannot receive records (policy §5)."""

    code = "retention_policy_missing"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(
            f"tenant {tenant_id!r} has no retention/privacy policy; "
            "set one before it can receive publish records"
        )


class Conflict(OpsledgerError):
    """The command contradicts stored state."""

    code = "conflict"



class TenantAlreadyRegistered(Conflict):
    """A tenant with this id exists already."""

    code = "tenant_already_registered"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id!r} is already registered")


class IllegalTransition(Conflict):
    """The command is not allowed in the aggregate's current state."""

    code = "illegal_transition"

    def __init__(self, subject: str, command: str, state: str) -> None:
        self.subject = subject
        self.command = command
        self.state = state
        super().__init__(f"cannot {command} {subject}: it is {state}")


def _short(value: str, limit: int = 40) -> str:
    """``value`` quoted, cut to ``limit`` characters (untrusted ids are never echoed whole)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class OperationIdReused(Conflict):
    """A tenant's operation id (Pumuki's ``event_id``) arrived again in another batch (other
    repository or idempotency key) or with other facts: an operation's identity is (tenant,
    operation id), so the line is refused and audited, and the store keeps the first."""

    code = "operation_id_reused"

    def __init__(self, tenant_id: str, operation_id: str, what: str) -> None:
        self.tenant_id = tenant_id
        self.operation_id = operation_id
        self.what = what
        super().__init__(f"operation id {_short(operation_id)} of tenant {_short(tenant_id)} "
                         f"is already recorded {what}")


class TenantNotReady(Conflict):
    """A tenant cannot be switched to SaaS mode yet; says what is missing."""

    code = "tenant_not_ready"

    def __init__(self, tenant_id: str, missing: list[str]) -> None:
        self.tenant_id = tenant_id
        self.missing = missing
        super().__init__(f"tenant {tenant_id!r} cannot enter SaaS mode: {'; '.join(missing)}")


class ActivationRefused(Conflict):
    """SaaS activation refused; ``refusals`` lists each check not satisfied and why."""

    code = "activation_refused"

    def __init__(self, version: str, refusals: list[dict[str, str]]) -> None:
        self.version = version
        self.refusals = refusals
        reasons = "; ".join(f"{r['check']}: {r['state']} ({r['why']})" for r in refusals)
        super().__init__(f"activation of {version} refused: {reasons}")


class TrackingConflict(Conflict, RuntimeError):
    """Another process advanced a view first; the batch was rolled back (catch up again)."""

    code = "tracking_conflict"


class NotFound(OpsledgerError, LookupError):
    """The requested object does not exist."""

    code = "not_found"


class UnknownView(NotFound):
    """A view name that the store does not have."""

    code = "unknown_view"


class UnknownToken(NotFound):
    """An API token id the store does not have (token rotate/revoke of a typo)."""

    code = "unknown_token"


class Unauthenticated(OpsledgerError):
    """A call without a valid API token. ``reason`` (``missing``, ``malformed``,
    ``unknown``, ``mismatch``, ``expired``, ``revoked``, ``forgotten``) is counted for
    operators; the message a caller sees is the same for every reason and never quotes the
    token."""

    code = "unauthenticated"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("a valid API token is required (Authorization: Bearer <token>)")


class Forbidden(OpsledgerError):
    """The API token is valid but lacks the scope the call needs."""

    code = "forbidden"

    def __init__(self, needed: str, scope: str, message: str | None = None) -> None:
        self.needed = needed
        self.scope = scope
        super().__init__(message or
                         f"this call needs a token of scope {needed!r}; this one is {scope!r}")


class StoreUnavailable(OpsledgerError):
    """The store could not be reached (the message names it, password redacted)."""

    code = "store_unavailable"


class KeyStoreMissing(OpsledgerError):
    """The key store is missing or lacks a key that sealed a stored event (which is not a
    forgotten tenant's): reading on would silently drop that tenant's history."""

    code = "key_store_missing"


class CheckpointSignatureInvalid(OpsledgerError):
    """A checkpoint's signature does not match its ``(n, hash)`` under the given key."""

    code = "checkpoint_signature_invalid"
