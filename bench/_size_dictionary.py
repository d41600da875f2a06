"""``python -m bench._size_dictionary [OUT [ALERT_OUT]]``: train the zstd dictionaries opsledger
bundles: the event states' (:mod:`opsledger.store._dictionary`, written to OUT) and the alert
process records' (:mod:`opsledger.services._alert_dictionary`, written to ALERT_OUT); by default
those modules' own files.

The samples are the plain JSON states of every event of a simulated store (seed 2026, the
demo's episodes: publishes, snapshots, alerts, incidents, missed deadlines), with the
simulator's tenant, repository and endpoint names replaced by made-up ones that change from
sample to sample — so the dictionary learns the events' shape, not the names a bench or a
test happens to use, and holds no tenant's data. The alert records' samples are the same
store's rule facts and checkpoints, renamed the same way. The simulated events carry random
ids, so a new run trains a slightly different dictionary: a bundled dictionary is never
trained again (stored data names it); a new one gets a new id.
"""

from __future__ import annotations

import base64
import re
import sys
import tempfile
from io import BytesIO
from pathlib import Path

import orjson
import zstandard

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.services.alert_pack import unpack
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

DICT_ID = 0x4F4C0001  # "OL", 1: a private id (zstd reserves those below 32768)
ALERT_DICT_ID = 0x4F4C0101  # "OL", 1.1: the alert process's records
DICT_SIZE = 4096
_NAMES = (b"acme", b"globex", b"initech", b"umbrella", b"hooli", b"stark", b"wayne")
_NAME = re.compile(rb"(tenant|repo)-(\d\d)")


def samples() -> tuple[list[bytes], list[bytes]]:
    """The plain states of a simulated store's events, and its alert process's records (rule
    facts, checkpoints), names made up per sample."""
    config = SimulationConfig(days=4, tenants=3, seed=2026, operations_per_day=300)
    config = SimulationConfig(**{**config.__dict__, "episodes": default_episodes(config)})
    audit, snapshots = BytesIO(), BytesIO()
    simulate(config, audit, snapshots)
    out: list[bytes] = []
    with tempfile.TemporaryDirectory() as tmp, \
            Operations.open(f"sqlite:///{Path(tmp) / 'train.db'}") as ops:
        import_pumuki_audit(ops, [BytesIO(audit.getvalue())], register_unknown=True)
        import_snapshots(ops, [BytesIO(snapshots.getvalue())])
        ops.advance_by_event_time()
        position = 0
        while batch := ops.app.recorder.select_notifications(start=position + 1, limit=1000):
            for n in batch:
                plain = ops.events.plain_state(n.state)
                if plain is not None:
                    out.append(_rename(plain, len(out)))
            position = batch[-1].id
        ops.catch_up()  # (after the states are read: their dictionary stays as it was trained)
        records = [_rename(orjson.dumps(unpack(row[column])), index) for index, (column, row)
                   in enumerate([("fact", r) for r in ops.events.sql.fetch(
                       "SELECT fact FROM alert_facts ORDER BY tenant_id, position, idx")] +
                       [("state", r) for r in ops.events.sql.fetch(
                           "SELECT state FROM alert_checkpoints ORDER BY tenant_id, position")])]
    return out, records


def _rename(state: bytes, index: int) -> bytes:
    word = _NAMES[index % len(_NAMES)] + b"%d" % (index % 5)
    state = _NAME.sub(lambda m: word + b"-" + m.group(1)[:1] + m.group(2), state)
    return state.replace(b"127.0.0.1:18787", word + b".example")


def write_modules(path: Path, alert_path: Path) -> tuple[int, int]:
    """Train on :func:`samples` and write both dictionary modules; returns their sizes."""
    states, records = samples()
    return (_write(path, states, DICT_ID, "event states with (see\n:mod:`opsledger.store."
                   "compress`)", "simulated events", "stored events"),
            _write(alert_path, records, ALERT_DICT_ID, "the alert process's records\nwith "
                   "(see :mod:`opsledger.services.alert_pack`)", "simulated records",
                   "stored records"))


def _write(path: Path, samples: list[bytes], dict_id: int, what: str, source: str,
           users: str) -> int:
    trained = zstandard.train_dictionary(DICT_SIZE, samples, dict_id=dict_id, level=9)
    data = trained.as_bytes()
    encoded = base64.b85encode(data).decode()  # (no quote or backslash in its alphabet)
    text = "\n".join(f'    "{encoded[i:i + 88]}"' for i in range(0, len(encoded), 88))
    path.write_text(
        f'"""The zstd dictionary opsledger compresses {what}; written by ``python -m bench.'
        f'_size_dictionary``\nfrom {source} with made-up names. Never edit: {users} name its '
        'id."""\n'
        "\nimport base64\n\n__all__ = [\"DICTIONARY\", \"DICTIONARY_ID\"]\n\n"
        f"DICTIONARY_ID = {dict_id:#x}\nDICTIONARY = base64.b85decode(\n{text}\n)\n")
    return len(data)


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent / "opsledger"
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "store" / "_dictionary.py"
    alert_target = Path(sys.argv[2]) if len(sys.argv) > 2 else \
        root / "services" / "_alert_dictionary.py"
    for where, size in zip((target, alert_target), write_modules(target, alert_target),
                           strict=True):
        print(f"{where}: {size} bytes of dictionary")
