"""Event topics live in one domain module, and one reader decodes stored publish events
(issue 14, point 5)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from datetime import UTC, datetime
from pathlib import Path

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import get_topic
from opsledger.domain import topics
from opsledger.domain.publish import PublishBatch
from opsledger.domain.publish_state import read_publish

ROOT = Path(__file__).resolve().parents[2]
TOPICS = {v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}
#: A topic, an aggregate's topic prefix, or an audit action name (a topic without
#: ``opsledger.``) written as a literal.
LITERAL = re.compile(r"^(opsledger\.)?[A-Z][A-Za-z]+(\.[A-Z][A-Za-z]+)?\.?$")
#: Literals left where another change of issue 14 restructures the file (the facade).
PENDING: set[tuple[str, str]] = set()


def _aggregates() -> list[type[Aggregate]]:
    import opsledger.domain

    for module in pkgutil.walk_packages(opsledger.domain.__path__, "opsledger.domain."):
        importlib.import_module(module.name)
    found: list[type[Aggregate]] = []
    todo = list(Aggregate.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("opsledger.domain."):
            found.append(cls)
    return found


def test_every_stored_event_topic_is_a_constant_of_the_topics_module() -> None:
    aggregates = _aggregates()
    assert len(aggregates) >= 8
    for aggregate in aggregates:
        assert get_topic(aggregate) in TOPICS
        events = [v for k, v in vars(aggregate).items()  # (``Event``: the base, never stored)
                  if isinstance(v, type) and issubclass(v, DomainEvent) and k != "Event"]
        assert events, aggregate
        for event_class in events:
            assert get_topic(event_class) in TOPICS, event_class


def test_no_topic_is_written_as_a_literal_outside_the_topics_module() -> None:
    action_names = {topics.action(t) for t in TOPICS if t.count(".") == 2}
    action_names |= {topics.action(t) for t in TOPICS if t.endswith(".")}
    found = set()
    for folder in ("opsledger", "domain", "projections", "scheduler"):
        for path in (ROOT / folder).rglob("*.py"):
            name = path.relative_to(ROOT).as_posix()
            if name == "domain/topics.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                        LITERAL.match(node.value)) and (
                        node.value.startswith(topics.ROOT) or node.value in action_names):
                    found.add((name, node.value))
    assert found - PENDING == set()


def test_the_publish_reader_reads_a_first_and_a_later_operation_of_a_batch() -> None:
    at = datetime(2026, 11, 3, 7, tzinfo=UTC)
    first = {"operation_id": "op-1", "payload_hash": "a" * 64, "outcome": "success",
             "attempts": 1, "latency_ms": 120, "source": "pumuki", "tenant_mode": "saas"}
    batch = PublishBatch(tenant_id="t", repository_id="r", idempotency_key="k",
                         key_missing=False, occurred_at=at, operation=first)
    later = {**first, "operation_id": "op-0", "payload_hash": "b" * 64, "outcome": "failure",
             "error_code": "TIMEOUT", "latency_ms": 9000}
    batch.record(at.replace(hour=6), later)  # earlier, other hash: reclassifies op-1
    started, recorded = batch.collect_events()
    one = read_publish(get_topic(type(started)), started.__dict__)
    two = read_publish(get_topic(type(recorded)), recorded.__dict__)
    assert one is not None and two is not None
    assert (one.operation_id, one.ok, one.recorded, one.collision, one.accepted) == (
        "op-1", True, False, False, True)
    assert (two.operation_id, two.ok, two.error_code, two.latency_ms, two.recorded) == (
        "op-0", False, "TIMEOUT", 9000, True)
    assert [c["operation_id"] for c in two.reclassified] == ["op-1"]
    assert (one.tenant_id, one.repository_id, one.idempotency_key, one.occurred_at) == (
        "t", "r", "k", at)
    assert read_publish(topics.VISIBILITY_OBSERVED, {}) is None
