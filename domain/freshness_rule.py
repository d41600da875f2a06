"""The freshness rule's windows (policy §4 medium: freshness under target for two
consecutive windows), as pure functions over a tenant's freshness store.

Accepted publishes fall into fixed windows (default 15 minutes) by acceptance time. A
window is final once every publish in it is past its visibility deadline — its end plus
the freshness bound — *and* both streams have reached that point: the publish stream's
watermark its end (all its acceptances are known), the visibility stream's watermark its
final time (every visibility that could make one fresh is known). So importing the
snapshots before or after the audit gives the same windows. Empty windows are skipped.

What is held until a window is final (one pending entry per accepted publish, one entry
per visibility not yet matched, the open windows' counts) grows with history while a
stream has no watermark (an audit imported before its snapshots), so it lives behind
:class:`FreshStore`: :class:`DictFresh` keeps it in the tenant's JSON state (pure use,
re-runs in memory); the alert process keeps it in tables, read and written row by row
in its transaction (:mod:`opsledger.services.alert_fresh`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from opsledger.domain.policy import OperationsPolicy
from opsledger.domain.slo_math import freshness_due_us
from opsledger.domain.time import MINUTE_US, from_us

__all__ = ["DictFresh", "FreshStore", "finalize_windows", "fresh_digest", "note_accepted",
           "note_visible"]

MINUTE = MINUTE_US
_KEEP_UNMATCHED = 120 * MINUTE  # a visibility whose publish never shows up is dropped


class FreshStore(Protocol):
    """One tenant's freshness bookkeeping: pending acceptances ``key -> [at, window,
    on_time, due]``, first visibility per key, and per window ``[accepted, on_time,
    width]``."""

    def pending(self, key: str) -> list[Any] | None:
        """The pending acceptance of ``key`` (None if none)."""

    def add_pending(self, key: str, entry: list[Any]) -> None:
        """Keep a new pending acceptance and count it in its window."""

    def mark_on_time(self, key: str, window: str) -> None:
        """A pending acceptance became fresh: flag it and count it in its window."""

    def visible(self, key: str) -> int | None:
        """When ``key`` was first seen downstream (None if not yet)."""

    def set_visible(self, key: str, at: int) -> None:
        """Record (or move earlier) when ``key`` was seen downstream."""

    def first_window(self) -> tuple[str, list[int]] | None:
        """The oldest open window and its counts (None if none)."""

    def close_window(self, window: str) -> None:
        """Drop a final window, its pending acceptances and their visibilities."""

    def prune_visible(self, horizon: int) -> None:
        """Drop visibilities older than ``horizon`` that no pending acceptance holds."""


class DictFresh:
    """A :class:`FreshStore` over the JSON dict ``{"windows", "pending", "visible"}``."""

    def __init__(self, fresh: dict[str, Any]) -> None:
        self.fresh = fresh

    def pending(self, key: str) -> list[Any] | None:
        """See :class:`FreshStore`."""
        found: list[Any] | None = self.fresh["pending"].get(key)
        return found

    def add_pending(self, key: str, entry: list[Any]) -> None:
        """See :class:`FreshStore`."""
        self.fresh["pending"][key] = entry
        counts = self.fresh["windows"].setdefault(entry[1], [0, 0, entry[4]])
        counts[0] += 1
        counts[1] += int(entry[2])
        del entry[4:]

    def mark_on_time(self, key: str, window: str) -> None:
        """See :class:`FreshStore`."""
        self.fresh["pending"][key][2] = True
        self.fresh["windows"][window][1] += 1

    def visible(self, key: str) -> int | None:
        """See :class:`FreshStore`."""
        found: int | None = self.fresh["visible"].get(key)
        return found

    def set_visible(self, key: str, at: int) -> None:
        """See :class:`FreshStore`."""
        self.fresh["visible"][key] = at

    def first_window(self) -> tuple[str, list[int]] | None:
        """See :class:`FreshStore`."""
        windows = self.fresh["windows"]
        if not windows:
            return None
        window = min(windows, key=int)
        return window, windows[window]

    def close_window(self, window: str) -> None:
        """See :class:`FreshStore`."""
        fresh = self.fresh
        del fresh["windows"][window]
        for key in [k for k, p in fresh["pending"].items() if p[1] == window]:
            del fresh["pending"][key]
            fresh["visible"].pop(key, None)

    def prune_visible(self, horizon: int) -> None:
        """See :class:`FreshStore`."""
        fresh = self.fresh
        for key in [k for k, v in fresh["visible"].items()
                    if v < horizon and k not in fresh["pending"]]:
            del fresh["visible"][key]


def fresh_digest(idempotency_key: str, payload_hash: str) -> str:
    """What the freshness rule knows of a payload: a digest of its key and hash (the
    process's fact log keeps only this; see ``lean`` in the alert process)."""
    return hashlib.sha256(f"{idempotency_key}/{payload_hash}".encode()).hexdigest()[:32]


def _key(fact: dict[str, Any]) -> str:
    """One key for a live fact and for the lean one a re-run reads back (whose
    ``idempotency_key`` already is the digest and ``payload_hash`` empty), so a re-run
    from a checkpoint matches the acceptances and visibilities the checkpoint holds."""
    digest = fact["idempotency_key"] if fact["payload_hash"] == "" else fresh_digest(
        fact["idempotency_key"], fact["payload_hash"])
    return f"{fact['repository']}//{digest}"


def _keys(fact: dict[str, Any]) -> tuple[str, ...]:
    """The fact's key, then (live facts only) the key state written before the digest
    keys may still hold it under."""
    if fact["payload_hash"] == "":
        return (_key(fact),)
    return _key(fact), f"{fact['repository']}/{fact['idempotency_key']}/{fact['payload_hash']}"


def _found(keys: tuple[str, ...], lookup: Callable[[str], Any]) -> tuple[str, Any]:
    for key in keys:
        value = lookup(key)
        if value is not None:
            return key, value
    return keys[0], None


def note_accepted(store: FreshStore, fact: dict[str, Any], policy: OperationsPolicy) -> None:
    """An accepted publish (first success of its payload) at ``fact['at']``."""
    keys = _keys(fact)
    if _found(keys, store.pending)[1] is not None:
        return  # an earlier success of the same payload was accepted already
    at = fact["at"]
    width = policy.alerts.freshness_window_minutes * MINUTE
    window = str(at - at % width)
    due = freshness_due_us(at, policy.slo.freshness_bound_minutes)
    visible = _found(keys, store.visible)[1]
    on_time = visible is not None and visible <= due
    store.add_pending(keys[0], [at, window, on_time, due, width])


def note_visible(store: FreshStore, fact: dict[str, Any]) -> None:
    """A payload seen downstream at ``fact['at']`` (any arrival order)."""
    keys = _keys(fact)
    at = fact["at"]
    key, known = _found(keys, store.visible)
    if known is None or at < known:
        store.set_visible(key, at)
    key, pending = _found(keys, store.pending)
    if pending is not None and not pending[2] and at <= pending[3]:
        store.mark_on_time(key, pending[1])


def finalize_windows(
    store: FreshStore,
    publish_wm: int | None,
    visible_wm: int | None,
    policy_at: Callable[[datetime], OperationsPolicy],
) -> Iterator[tuple[int, int, int, float, bool, float]]:
    """Close every window both watermarks have passed, oldest first:
    yields (start, end, final_at, freshness, under_target, target)."""
    if publish_wm is None or visible_wm is None:
        return
    while (first := store.first_window()) is not None:
        window, (accepted, on_time, width) = first
        start = int(window)
        policy = policy_at(from_us(start))
        end = start + width
        final_at = freshness_due_us(end, policy.slo.freshness_bound_minutes)
        if end > publish_wm or final_at > visible_wm:
            break
        store.close_window(window)
        value = on_time / accepted
        target = policy.slo.freshness_target
        yield start, end, final_at, value, value < target, target
    store.prune_visible(min(publish_wm, visible_wm) - _KEEP_UNMATCHED)
