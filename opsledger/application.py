"""The public API: ``Operations`` holds the use cases; ``OpsledgerApp`` is the event store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, PersistenceError, Transcoder
from eventsourcing.utils import Environment, EnvType

from opsledger.domain.bounds import DEFAULT_TIME_BOUNDS, TimeBounds, bounded
from opsledger.domain.errors import TenantAlreadyRegistered, UnknownTenant
from opsledger.domain.governance import Governance, RetentionPolicy
from opsledger.domain.ledger import BEGINNING, PolicyLedger, policy_ledger_uuid
from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.tenant import Mode, Tenant, tenant_uuid
from opsledger.domain.time import Clock, SystemClock, utc
from opsledger.projections import (
    AlertsView,
    AuditView,
    IncidentsView,
    RetentionView,
    SloView,
    SqlStore,
    View,
    ViewRunner,
)
from opsledger.projections import audit as audit_queries
from opsledger.services import alerting
from opsledger.services.compliance import ComplianceCommands
from opsledger.services.gate import GateCommands, TenantNotReady
from opsledger.services.incidents import IncidentCommands
from opsledger.services.reads import ReadModels
from opsledger.services.recording import ChunkWriter, EventCache, ItemResult
from opsledger.services.records import PublishRecord
from opsledger.store import chain, identity
from opsledger.store.asof import as_of as tenant_as_of
from opsledger.store.chain_verify import verify_chain as _verify_chain
from opsledger.store.cipher import TenantCipherMapper
from opsledger.store.keys import KeyRing
from opsledger.store.recorders import RECORDER_TOPICS
from opsledger.store.transcoder import OrjsonTranscoder
from opsledger.store.url import DEFAULT_URL, StoreUrl, parse_store_url, schema_lock

__all__ = ["Operations", "OpsledgerApp", "PublishResult", "TenantState"]

A = TypeVar("A", bound=Aggregate)
SCHEMA_TABLE = "opsledger_schema"
#: 2: the hash chain (opsledger_chain); 3: tenant keys, retention; 4: the alert fact log
#: and alert index (per-tenant event time); 5: an operation's identity is (tenant, operation
#: id): publish_identity, the audit view's unique index on the pair; 6: the freshness rule's
#: bookkeeping in tables (alert_fresh_*), moved out of the alert state on its next run
SCHEMA_VERSION = 6
R = TypeVar("R")


class OpsledgerApp(Application[UUID]):
    """The event store application (pinned name: it prefixes PostgreSQL tables)."""

    name = "opsledger"

    def __init__(self, env: EnvType | None = None, keyring: KeyRing | None = None) -> None:
        self.keyring = keyring
        super().__init__(env=env)

    def construct_mapper(self) -> Mapper[UUID]:
        """With a key ring, each tenant's events are stored encrypted with its key."""
        if self.keyring is None:
            return super().construct_mapper()
        return TenantCipherMapper(self.construct_transcoder(), self.keyring)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the settings the host passes: the library never reads ``os.environ`` here;
        the recorders are the chained ones (tamper evidence: :mod:`opsledger.store.chain`)."""
        values = dict(env or {})
        topic = RECORDER_TOPICS.get(values.get("PERSISTENCE_MODULE", ""))
        if topic:
            values.setdefault("APPLICATION_RECORDER_TOPIC", topic)
        return Environment(name, values)

    def construct_transcoder(self) -> Transcoder:
        """orjson instead of the stdlib JSON transcoder (faster; accepts freezegun times)."""
        return OrjsonTranscoder()


@dataclass(frozen=True)
class TenantState:
    """A tenant as it stands: scope, governance, mode, owners, violations."""

    tenant_id: str
    name: str
    repositories: tuple[str, ...]
    governance: Governance | None
    mode: str
    registered_at: datetime
    observed_in_import: bool
    token_rotation_owner: str | None
    boundary_violations: tuple[dict[str, Any], ...] = field(default=())

    @classmethod
    def of(cls, tenant: Tenant) -> TenantState:
        """Snapshot a loaded aggregate."""
        return cls(
            tenant.tenant_id, tenant.name, tuple(sorted(tenant.repositories)), tenant.governance,
            tenant.mode.value, tenant.registered_at, tenant.observed_in_import,
            tenant.token_rotation_owner, tuple(tenant.boundary_violations),
        )


@dataclass(frozen=True)
class PublishResult:
    """The outcome of ``record_publish``: recorded (first, retry or collision) or duplicate."""

    operation_id: str
    batch_id: str
    status: str
    retry: bool
    collision: bool
    key_missing: bool

    @classmethod
    def of(cls, item: ItemResult) -> PublishResult:
        """From the recording path's per-item result."""
        return cls(item.operation_id, str(item.batch_id), item.status, item.retry,
                   item.collision, item.key_missing)


class Operations(ReadModels, IncidentCommands, GateCommands, ComplianceCommands):
    """Everything a service embeds: commands (each with a business time) and queries.

    Open with :meth:`open`. Pass ``clock`` (default: the system clock) and optionally
    ``policy`` (adopted as an event if it differs from the policy in force).
    """

    def __init__(
        self, store: StoreUrl, *, clock: Clock | None = None, policy: OperationsPolicy | None = None
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.keyring = KeyRing(store)
        if store.kind == "memory":
            self.app = self._create_schema(store)
        else:
            # Under the lock: the first connection to a new SQLite file switches it to WAL,
            # which must not race; then create once — later opens skip every DDL.
            with schema_lock(store):
                probe = OpsledgerApp(env={**store.env, "CREATE_TABLE": "n"})
                current = self._schema_is_current(probe)
                probe.close()
                if not current:
                    self._create_schema(store).close()
            self.app = OpsledgerApp(env={**store.env, "CREATE_TABLE": "n"}, keyring=self.keyring)
        self.sql = SqlStore(self.app.recorder, store.kind, store.schema)
        self.views = self._runner_for(self.app)
        self.views.ensure_versions()  # a view built by another version: rebuilt
        self._tenant_cache = EventCache()
        self.subscribers: list[tuple[alerting.Subscriber, frozenset[str]]] = []
        if policy is not None:
            self._adopt_passed_policy(policy)

    def _schema_is_current(self, app: OpsledgerApp) -> bool:
        sql = SqlStore(app.recorder, self.store.kind, self.store.schema)
        try:
            with sql.transaction(commit=False) as cursor:
                sql.execute(cursor, f"SELECT version FROM {sql.table(SCHEMA_TABLE)}")
                row = cursor.fetchone()
        except PersistenceError:  # no marker table (or schema) yet: not created
            return False
        return row is not None and int(row["version"]) == SCHEMA_VERSION

    def _create_schema(self, store: StoreUrl) -> OpsledgerApp:
        """Every table (events, views, process state), then the version marker."""
        creator = OpsledgerApp(env={**store.env, "CREATE_TABLE": "y"}, keyring=self.keyring)
        self.keyring.create_tables()
        runner = self._runner_for(creator)
        runner.create_tables()
        with runner.sql.transaction(commit=True) as cursor:
            alerting.create_tables(runner.sql, cursor)
            identity.create_table(runner.sql, cursor, runner)
            runner.sql.execute(cursor, chain.create_table_statement(
                runner.sql.table(chain.CHAIN_TABLE), postgres=runner.sql.is_postgres))
            chain.link_existing(runner.sql, cursor)
            runner.sql.execute(cursor, f"CREATE TABLE IF NOT EXISTS "
                                       f"{runner.sql.table(SCHEMA_TABLE)} (version BIGINT)")
            runner.sql.execute(cursor, f"DELETE FROM {runner.sql.table(SCHEMA_TABLE)}")
            runner.sql.execute(cursor, f"INSERT INTO {runner.sql.table(SCHEMA_TABLE)} "
                                       "VALUES (?)", (SCHEMA_VERSION,))
        return creator

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        policy: OperationsPolicy | None = None,
        env: dict[str, str] | None = None,
    ) -> Operations:
        """Open (creating if needed) the store at ``url``; ``env`` may give OPSLEDGER_DB."""
        chosen = url or (env or {}).get("OPSLEDGER_DB") or DEFAULT_URL
        return cls(parse_store_url(chosen), clock=clock, policy=policy)

    def _runner_for(self, app: OpsledgerApp) -> ViewRunner:
        sql = SqlStore(app.recorder, self.store.kind, self.store.schema)
        views: list[View] = [AuditView(), SloView(), AlertsView(), IncidentsView(),
                             RetentionView()]
        return ViewRunner(app.recorder, sql, views, decode=self.decode_state)

    def decode_state(self, state: bytes) -> dict[str, Any] | None:
        """A stored event's state as JSON (opened with its tenant's key); ``None`` for an
        event of a forgotten tenant."""
        plain = self.keyring.open(state)
        if plain is None:
            return None
        loaded: dict[str, Any] = orjson.loads(plain)
        return loaded

    def close(self) -> None:
        """Release connections."""
        self.app.close()

    def __enter__(self) -> Operations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self, at: datetime | None, name: str = "at", *, command: bool = True) -> datetime:
        """A business time: ``at``, else the clock's time. A command's ``at`` may not lie
        more than a day ahead of the clock (:meth:`time_bounds`); a read's moment, or an
        explicit sweep's ``now`` (``command=False``), may."""
        if at is None:
            return utc(self.clock.now(), "clock.now()")
        moment = utc(at, name)
        if command:
            self.time_bounds().check(moment, name)
        return moment

    def time_bounds(self, bounds: TimeBounds | None = None) -> TimeBounds:
        """The business times this store accepts now: ``bounds`` (default 2000..2100 UTC)
        and at most :data:`~opsledger.domain.bounds.MAX_AHEAD` ahead of the clock."""
        return (bounds or DEFAULT_TIME_BOUNDS).at_clock(utc(self.clock.now(), "clock.now()"))

    # ---- tamper evidence ------------------------------------------------------------
    def verify_chain(
        self, from_position: int | None = None, checkpoint: chain.Checkpoint | None = None
    ) -> chain.ChainReport:
        """Check the hash chain over the stored events (from ``from_position``, trusting
        the link before it) and, given a verified ``checkpoint``, the history up to it."""
        return _verify_chain(self.sql, from_position=from_position, checkpoint=checkpoint)

    def checkpoint(self, key: bytes) -> chain.Checkpoint:
        """The chain's head ``(n, h_n)`` signed with ``key`` (HMAC-SHA256)."""
        table = self.sql.table(chain.CHAIN_TABLE)
        rows = self.sql.fetch(f"SELECT notification_id, hash FROM {table} "
                              "ORDER BY notification_id DESC LIMIT 1")
        n, digest = (int(rows[0]["notification_id"]), bytes(rows[0]["hash"])) if rows else \
            (0, chain.GENESIS)
        return chain.Checkpoint.signed(n, digest, key)

    # ---- policy -------------------------------------------------------------------
    def _ledger(self) -> PolicyLedger | None:
        try:
            ledger: PolicyLedger = self.app.repository.get(policy_ledger_uuid())
        except AggregateNotFoundError:
            return None
        return ledger

    def _adopt_passed_policy(self, policy: OperationsPolicy) -> None:
        ledger = self._ledger()
        if ledger is None:
            self.adopt_policy(policy, effective_at=BEGINNING, by="host", reason="initial policy")
        elif ledger.policy_at(self.clock.now()) != policy:
            self.adopt_policy(policy, by="host", reason="policy passed when opening the store")

    @bounded(by="id", reason="text", at="time")
    def adopt_policy(
        self,
        policy: OperationsPolicy,
        *,
        by: str,
        reason: str,
        effective_at: datetime | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Adopt ``policy`` from ``effective_at`` (default: now). False if already in force."""
        now = self._now(at)
        effective = utc(effective_at, "effective_at") if effective_at is not None else now

        def adopt(ledger: PolicyLedger) -> bool:
            return ledger.adopt(policy, effective_at=effective, by=by, reason=reason, at=now)

        return self._update(lambda: self._ledger() or PolicyLedger(), adopt)

    def _update(self, load: Callable[[], A], change: Callable[[A], R], attempts: int = 10) -> R:
        """Load, change, save; on a concurrent writer's conflict, reload and decide again."""
        for attempt in range(attempts):
            aggregate = load()
            result = change(aggregate)
            try:
                self.app.save(aggregate)
            except IntegrityError:
                if attempt == attempts - 1:
                    raise
                continue
            return result
        raise AssertionError("unreachable")

    def policy_at(self, at: datetime | None = None) -> OperationsPolicy:
        """The policy in force at business time ``at`` (default: now)."""
        ledger = self._ledger()
        moment = self._now(at, command=False)
        return ledger.policy_at(moment) if ledger else OperationsPolicy()

    # ---- tenants ------------------------------------------------------------------
    def _tenant(self, tenant_id: str) -> Tenant:
        try:
            tenant: Tenant = self.app.repository.get(tenant_uuid(tenant_id))
        except AggregateNotFoundError:
            raise UnknownTenant(tenant_id) from None
        return tenant

    @bounded(tenant_id="id", repositories="ids", by="id", name="label",
             token_rotation_owner="id", at="time")
    def register_tenant(
        self,
        tenant_id: str,
        *,
        repositories: list[str],
        governance: Governance | None,
        by: str,
        name: str | None = None,
        mode: Mode = Mode.LOCAL_ONLY,
        token_rotation_owner: str | None = None,
        at: datetime | None = None,
    ) -> TenantState:
        """Register a tenant with its repositories and retention/privacy policy (in SaaS
        mode only while the go-live gate is active and its token-rotation owner is named)."""
        now = self._now(at)
        if not tenant_id.strip():
            raise UnknownTenant(tenant_id)
        tenant = Tenant(
            tenant_id=tenant_id, name=name or tenant_id, repositories=sorted(set(repositories)),
            governance=governance.model_dump() if governance else None,
            mode=Mode.LOCAL_ONLY.value, by=by, occurred_at=now, observed_in_import=False,
        )
        if token_rotation_owner:
            tenant.assign_token_rotation_owner(token_rotation_owner, by, now)
        if Mode(mode) is Mode.SAAS:
            missing = self.ready_for_saas(tenant)
            if missing:
                raise TenantNotReady(tenant_id, missing)
            tenant.change_mode(Mode.SAAS, "registered in SaaS mode", by, now)
        try:
            self.app.save(tenant)
        except IntegrityError:
            raise TenantAlreadyRegistered(tenant_id) from None
        return TenantState.of(tenant)

    def _change_tenant(self, tenant_id: str, change: Callable[[Tenant], object]) -> TenantState:
        def apply(tenant: Tenant) -> TenantState:
            change(tenant)
            return TenantState.of(tenant)

        return self._update(lambda: self._tenant(tenant_id), apply)

    @bounded(tenant_id="id", repository_id="id", by="id", at="time")
    def add_repository(
        self, tenant_id: str, repository_id: str, *, by: str, at: datetime | None = None
    ) -> TenantState:
        """Bring a repository into the tenant's scope."""
        now = self._now(at)
        return self._change_tenant(tenant_id, lambda t: t.add_repository(repository_id, by, now))

    @bounded(tenant_id="id", repository_id="id", by="id", at="time")
    def remove_repository(
        self, tenant_id: str, repository_id: str, *, by: str, at: datetime | None = None
    ) -> TenantState:
        """Take a repository out of scope; its later records are refused."""
        now = self._now(at)
        return self._change_tenant(
            tenant_id, lambda t: t.remove_repository(repository_id, by, now)
        )

    @bounded(tenant_id="id", by="id", at="time")
    def set_governance(
        self, tenant_id: str, governance: Governance, *, by: str, at: datetime | None = None
    ) -> TenantState:
        """Set the tenant's retention/privacy policy."""
        now = self._now(at)
        return self._change_tenant(tenant_id, lambda t: t.set_governance(governance, by, now))

    @bounded(tenant_id="id", reason="text", by="id", at="time")
    def set_tenant_mode(
        self, tenant_id: str, mode: Mode, *, reason: str, by: str, at: datetime | None = None
    ) -> TenantState:
        """Switch a tenant between ``local_only`` and ``saas``."""
        now = self._now(at)

        def change(tenant: Tenant) -> None:
            if Mode(mode) is Mode.SAAS and (missing := self.ready_for_saas(tenant)):
                raise TenantNotReady(tenant_id, missing)
            tenant.change_mode(Mode(mode), reason, by, now)

        return self._change_tenant(tenant_id, change)

    @bounded(tenant_id="id", owner="id", by="id", at="time")
    def assign_token_rotation_owner(self, tenant_id: str, owner: str, *, by: str,
                                    at: datetime | None = None) -> TenantState:
        """Name who rotates the tenant's ingestion tokens (policy §6)."""
        now = self._now(at)
        return self._change_tenant(
            tenant_id, lambda t: t.assign_token_rotation_owner(owner, by, now))

    @bounded(tenant_id="id", evidence="text", by="id", repository_id="id", at="time")
    def confirm_boundary_violation(
        self,
        tenant_id: str,
        *,
        evidence: str,
        by: str,
        repository_id: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """Record a confirmed tenant boundary violation; returns its id."""
        now = self._now(at)

        def confirm(tenant: Tenant) -> str:
            violation_id = f"{tenant_id}/violation/{len(tenant.boundary_violations) + 1}"
            tenant.confirm_boundary_violation(violation_id, evidence, repository_id, by, now)
            return violation_id

        return self._update(lambda: self._tenant(tenant_id), confirm)

    def tenant(self, tenant_id: str, *, as_of: datetime | None = None) -> TenantState:
        """The tenant as it stands (or stood at ``as_of``); :class:`UnknownTenant` if not
        registered (then)."""
        tenant = self._tenant(tenant_id)
        if as_of is not None:
            then: Tenant | None = tenant_as_of(self.app, tenant.id, utc(as_of, "as_of"))
            if then is None:
                raise UnknownTenant(tenant_id)
            tenant = then
        return TenantState.of(tenant)

    def tenants(self) -> list[TenantState]:
        """Every registered tenant, by id."""
        self.catch_up()
        ids = {r["tenant_id"] for r in audit_queries.actions_named(self.sql,
                                                                    "Tenant.Registered")}
        return [self.tenant(t) for t in sorted(ids)]

    # ---- publish operations ---------------------------------------------------------
    def writer(self, *, source: str, by: str, register_unknown: bool = False) -> ChunkWriter:
        """The recording path (shared by ``record_publish`` and the importers)."""
        governance = None
        if register_unknown:  # only then are tenants registered, with the policy's defaults
            defaults = self.policy_at().retention
            governance = Governance(retention=RetentionPolicy(**defaults.model_dump()))
        return ChunkWriter(self.app, self.sql, source=source, by=by,
                           register_unknown=register_unknown, default_governance=governance,
                           tenant_cache=self._tenant_cache)

    @bounded(by="id")
    def record_publish(
        self, record: PublishRecord | None = None, /, *, by: str = "api", **fields: Any
    ) -> PublishResult:
        """Record one publish operation (policy §5 controls; see :class:`PublishRecord`).

        Raises the scope error after auditing the refusal; validation errors store nothing.
        """
        bounds = self.time_bounds()
        if record is not None:
            bounds.check(record.occurred_at)
        rec = record if record is not None else PublishRecord.create(time_bounds=bounds,
                                                                     **fields)
        (item,) = self.writer(source="api", by=by).write([rec])
        if item.error is not None:
            raise item.error
        return PublishResult.of(item)
