"""opsledger.scheduler — the deadline queue (pure) and its APScheduler driver."""

from opsledger.scheduler.queue import Deadline, DeadlineQueue

__all__ = ["Deadline", "DeadlineQueue"]
