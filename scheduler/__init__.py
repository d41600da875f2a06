"""opsledger.scheduler — the deadline queue (pure) and, with the incident work, its
APScheduler driver."""

from opsledger.scheduler.queue import Deadline, DeadlineQueue

__all__ = ["Deadline", "DeadlineQueue"]
