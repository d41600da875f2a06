"""The views as a service: catch up before a read, rebuild, and their status."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opsledger.projections import TrackingConflict, ViewRunner, ViewStatus

__all__ = ["Views"]


class Views:
    """Keeps the views (:mod:`opsledger.projections`) current over the store's log."""

    def __init__(self, runner: ViewRunner) -> None:
        self.runner = runner

    def catch_up(self, progress: Callable[[int, int], None] | None = None, *,
                 retry: bool = False) -> int:
        """Bring every running view up to date; returns the number of events applied. A
        view that fails stops alone (see :meth:`view_status`); ``retry`` lets stopped views
        run again (after the cause was fixed)."""
        while True:
            try:
                return self.runner.catch_up(progress=progress, retry=retry)
            except TrackingConflict:
                continue

    def rebuild_views(self, progress: Callable[[int, int], None] | None = None,
                      views: Sequence[str] | None = None) -> int:
        """Clear and re-apply every view (or the named ones and the views that depend on
        them) from the first event; a rebuilt view that had stopped runs again."""
        return self.runner.rebuild(progress=progress, views=views)

    def view_status(self) -> list[ViewStatus]:
        """Each view's position, lag and, if it stopped, where and why."""
        return self.runner.status()
