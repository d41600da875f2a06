"""``opsledger serve``: the engine as a long-running HTTP service (see
:mod:`opsledger.api.server`). The CLI reads the environment (``OPSLEDGER_DB``,
``OPSLEDGER_METRICS_TOKEN``, ``OPSLEDGER_NOTIFY_CONFIG`` and the secrets that config
names); the service itself is given its settings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from opsledger.cli.common import db_option, err_console, run_command, safe, store_url

__all__ = ["serve_cmd"]

def _metrics_token(token_file: Path | None) -> str | None:
    """The metrics token: ``--metrics-token-file`` (its first line), else
    ``OPSLEDGER_METRICS_TOKEN``, else none (``/metrics`` then answers loopback only)."""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {safe(token_file)}: {exc.strerror}",
                                     param_hint="--metrics-token-file") from None
        if not token:
            raise click.BadParameter(f"{safe(token_file)} is empty",
                                     param_hint="--metrics-token-file")
        return token
    return os.environ.get("OPSLEDGER_METRICS_TOKEN") or None


@click.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anything but loopback exposes the API (a warning)")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="port (0: any free one; the line 'listening on …' says which)")
@click.option("--no-scheduler", "no_scheduler", is_flag=True,
              help="API only: no view catch-up or deadline sweep in this process")
@click.option("--tick", default=1.0, show_default=True, type=click.FloatRange(0.05, 3600),
              metavar="SECONDS", help="seconds between sweeps (and a follower's leadership "
              "attempts)")
@click.option("--max-body", type=click.IntRange(1024), metavar="BYTES",
              help="largest request body, larger ones get 413  [default: 16 MiB]")
@click.option("--metrics-token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="file holding the bearer token /metrics requires (else env "
              "OPSLEDGER_METRICS_TOKEN; without one /metrics answers loopback clients only)")
@click.option("--notify-config", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE", help="deliver notifications with this config (TOML; else env "
              "OPSLEDGER_NOTIFY_CONFIG; without one this process delivers none)")
@click.option("--json", "as_json", is_flag=True,
              help="announce the address as one JSON line ({\"url\", \"store\", \"pid\", "
              "\"scheduler\", \"notifications\"}) for scripts that start it")
@run_command
def serve_cmd(db: str | None, host: str, port: int, no_scheduler: bool, tick: float,
              max_body: int | None, metrics_token_file: Path | None,
              notify_config: Path | None, as_json: bool) -> None:
    """Serve the HTTP API, /metrics, the deadline sweep and (with a notify config) the
    notification delivery until SIGTERM (graceful)."""
    from opsledger.api.engine import DEFAULT_MAX_BODY, ServeSettings
    from opsledger.api.server import is_loopback, serve
    from opsledger.application import Operations
    from opsledger.cli.notify import CONFIG_ENV, load_config

    notify = None
    if notify_config is not None or os.environ.get(CONFIG_ENV):
        notify = load_config(notify_config, "--notify-config")

    settings = ServeSettings(host=host, port=port, scheduler=not no_scheduler,
                             tick_seconds=tick, max_body_bytes=max_body or DEFAULT_MAX_BODY,
                             metrics_token=_metrics_token(metrics_token_file))
    if not is_loopback(host):
        err_console.print(f"warning: listening on {safe(host)}, not loopback: the API is "
                          "reachable from other hosts (use TLS in front of it)"
                          + ("" if settings.metrics_token else "; /metrics answers loopback "
                             "clients only until a metrics token is set"),
                          style="yellow", soft_wrap=True)
    ops = Operations.open(store_url(db))

    def announce(line: str) -> None:
        if as_json:  # the line is "listening on URL"
            announced = {"url": line.rpartition(" ")[2], "pid": os.getpid(),
                         "store": ops.store.display, "scheduler": settings.scheduler,
                         "notifications": notify is not None}
            sys.stdout.write(json.dumps(announced, sort_keys=True) + "\n")
        else:
            sys.stdout.write(f"opsledger serve: {line} ({ops.store.display})\n")
        sys.stdout.flush()

    code = serve(ops, settings, announce, notify)
    if code:
        raise SystemExit(code)
