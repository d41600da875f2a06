"""One measurement of the rebuild bench, in a fresh process so its peak memory is its own.

``python -m bench._rebuild_child opsledger STORE`` rebuilds every projection;
``python -m bench._rebuild_child decode STORE`` is only the rebuild's read + decode phase
(notifications to the facts the views are given, nothing written);
``python -m bench._rebuild_child library STORE`` is the library's mapped read of the same
notification log. Either prints one JSON line: the side, the number of notifications, the
elapsed seconds of the measured part (opening the store and imports are not timed) and the
process's peak resident set at the end, in KiB: ``maxrss_kib`` (``ru_maxrss``) and
``peak_kib``. On Linux ``ru_maxrss`` survives fork + exec: a child starts with its parent's
resident set as its maximum (a parent holding 500 MiB spawns children reporting 500 MiB).
``peak_kib`` is therefore ``VmHWM`` from ``/proc/self/status`` — the high-water mark of
this process's own address space since exec — and ``ru_maxrss`` only where there is no
``/proc``.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from bench._rebuild_store import library_env
from opsledger import Operations  # also registers the stable topics the library resolves
from opsledger.store.compress import StateCodec
from opsledger.store.keys import KeyRing
from opsledger.store.url import parse_store_url

__all__ = [
    "BATCH",
    "library_mapped_read",
    "main",
    "opsledger_read_decode",
    "opsledger_rebuild",
    "peak_kib",
]

BATCH = 1000
SIDES = ("opsledger", "decode", "library")


def opsledger_rebuild(path: Path) -> tuple[int, float]:
    """``ops.rebuild_views()`` on the store; (notifications, elapsed seconds).

    Raises ``RuntimeError`` if a view did not end at the head of the log."""
    ops = Operations.open(f"sqlite:///{path.resolve()}")
    try:
        head = ops.views.head()
        started = time.perf_counter()
        ops.rebuild_views()
        elapsed = time.perf_counter() - started
        behind = {v.name: ops.views.position(v) for v in ops.views.views}
    finally:
        ops.close()
    if any(position != head for position in behind.values()):
        raise RuntimeError(f"rebuild stopped short of notification {head}: {behind}")
    return head, elapsed


def opsledger_read_decode(path: Path, batch: int = BATCH) -> tuple[int, float]:
    """opsledger's own read + decode phase of a rebuild, alone: ``ViewRunner.read_facts``
    ``batch`` at a time (the query and ``decode`` of each state into the facts the views
    are given), no view writes; (notifications, elapsed seconds).

    Raises ``RuntimeError`` if fewer facts than notifications were read."""
    ops = Operations.open(f"sqlite:///{path.resolve()}")
    try:
        runner, sql = ops.views, ops.sql
        head = runner.head()
        read = position = 0
        started = time.perf_counter()
        while position < head:
            with sql.transaction(commit=False) as cursor:
                facts, last = runner.read_facts(cursor, position, head, batch)
            if last is None:
                break
            read += len(facts)
            position = last
        elapsed = time.perf_counter() - started
    finally:
        ops.close()
    if read != head:
        raise RuntimeError(f"opsledger read {read} facts of {head} notifications")
    return head, elapsed


class _KeyRingCipher:
    """The library's cipher interface over opsledger's key ring (decryption only)."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def encrypt(self, plaintext: bytes) -> bytes:
        raise RuntimeError("the baseline only reads")

    def decrypt(self, ciphertext: bytes) -> bytes:
        plain = self.keyring.open(ciphertext)
        if plain is None:
            raise RuntimeError("a forgotten tenant's event in the bench store")
        return plain


def library_mapped_read(path: Path, batch: int = BATCH) -> tuple[int, float]:
    """The library's default read path: ``select_notifications`` ``batch`` at a time and
    ``mapper.to_domain_event`` of each (default transcoder, and the store's tenant keys as
    the mapper's cipher); (notifications, seconds).

    Raises ``RuntimeError`` if fewer events than notifications were mapped."""
    app = Application[UUID](env=library_env(path.resolve()))
    keyring = KeyRing(parse_store_url(f"sqlite:///{path.resolve()}"))
    # The events are sealed with their tenants' keys and compressed: the library's mapper
    # opens them through its own cipher and compressor hooks (``Mapper(cipher=…,
    # compressor=…)``), as any host's would.
    mapper = Mapper(app.mapper.transcoder, cipher=_KeyRingCipher(keyring),  # type: ignore[arg-type]
                    compressor=StateCodec())
    try:
        head = int(app.recorder.max_notification_id() or 0)
        select, to_domain_event = app.recorder.select_notifications, mapper.to_domain_event
        mapped = 0
        started = time.perf_counter()
        position = 1
        while position <= head:
            notifications = select(start=position, limit=batch, stop=head)
            if not notifications:
                break
            for notification in notifications:
                to_domain_event(notification)
            mapped += len(notifications)
            position = notifications[-1].id + 1
        elapsed = time.perf_counter() - started
    finally:
        app.close()
    if mapped != head:
        raise RuntimeError(f"library mapped {mapped} events of {head} notifications")
    return head, elapsed


def peak_kib() -> int:
    """This process's own peak resident set (KiB): VmHWM, else ``ru_maxrss``."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: Sequence[str] | None = None) -> int:
    """Run one side on one store and print its JSON line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in SIDES:
        print(f"usage: python -m bench._rebuild_child {{{'|'.join(SIDES)}}} STORE",
              file=sys.stderr)
        return 2
    side, path = args[0], Path(args[1])
    measure = {"opsledger": opsledger_rebuild, "decode": opsledger_read_decode,
               "library": library_mapped_read}[side]
    events, seconds = measure(path)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(orjson.dumps({"side": side, "events": events, "seconds": seconds,
                        "maxrss_kib": maxrss, "peak_kib": peak_kib()}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
