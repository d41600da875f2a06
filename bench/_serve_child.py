"""The server side of ``python -m bench serve``: ``opsledger serve``'s app over a store, in its
own process (so the client and the server never share an interpreter lock), without the
background scheduler. ``python -m bench._serve_child DB_URL PORT``."""

from __future__ import annotations

import sys

import uvicorn

from opsledger import Operations
from opsledger.api.app import create_app
from opsledger.api.engine import Engine, ServeSettings


def main(url: str, port: int) -> None:
    """Serve until terminated."""
    settings = ServeSettings(port=port, scheduler=False, max_body_bytes=64 * 1024 * 1024)
    engine = Engine(Operations.open(url), settings)
    app = create_app(engine)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    engine.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
