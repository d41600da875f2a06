"""opsledger.scheduler — the deadline queue and its APScheduler driver.

Empty until the incidents-and-scheduler work lands (issue 5): nothing here is used yet,
the package exists so the installed layout is the final one.
"""

__all__: list[str] = []
