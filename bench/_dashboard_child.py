"""The server side of ``python -m bench dashboard``: ``opsledger serve``'s app over the
simulated month's store with the clock frozen at ``NOW`` (the month's last evening: the
dashboard as an on-call engineer sees it then), without the background scheduler, in its
own process. ``python -m bench._dashboard_child DB_URL PORT NOW``."""

from __future__ import annotations

import sys
from datetime import datetime

import uvicorn

from opsledger import FrozenClock, Operations
from opsledger.api.app import create_app
from opsledger.api.engine import Engine, ServeSettings


def main(url: str, port: int, now: str) -> None:
    """Serve until terminated."""
    clock = FrozenClock(datetime.fromisoformat(now))
    engine = Engine(Operations.open(url, clock=clock), ServeSettings(port=port,
                                                                     scheduler=False))
    uvicorn.run(create_app(engine), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)
    engine.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
