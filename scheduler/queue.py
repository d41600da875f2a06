"""The deadline queue: pure, ``now`` is always a parameter.

Domain code and views say what is due when; the queue says which deadlines are due at a
given time. Imports and replays advance it with event time, the live driver with the
clock, so history and live runs share one code path.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Deadline", "DeadlineQueue"]


@dataclass(frozen=True, order=True)
class Deadline:
    """Something that must have happened by ``due_at``; ``key`` identifies it."""

    due_at: datetime
    kind: str
    key: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class DeadlineQueue:
    """A min-heap of deadlines by due time (ties broken by kind and key)."""

    def __init__(self, deadlines: Iterable[Deadline] = ()) -> None:
        self._heap = list(deadlines)
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, deadline: Deadline) -> None:
        """Register a deadline."""
        heapq.heappush(self._heap, deadline)

    def next_due(self) -> datetime | None:
        """When the earliest deadline falls due (None if empty)."""
        return self._heap[0].due_at if self._heap else None

    def due(self, now: datetime) -> list[Deadline]:
        """Remove and return every deadline due at or before ``now``, earliest first."""
        due: list[Deadline] = []
        while self._heap and self._heap[0].due_at <= now:
            due.append(heapq.heappop(self._heap))
        return due
