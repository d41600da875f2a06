"""``python -m bench._size_dictionary [OUT]``: train the zstd dictionary opsledger bundles
(:mod:`opsledger.store._dictionary`, written to OUT, default that module's file).

The samples are the plain JSON states of every event of a simulated store (seed 2026, the
demo's episodes: publishes, snapshots, alerts, incidents, missed deadlines), with the
simulator's tenant, repository and endpoint names replaced by made-up ones that change from
sample to sample — so the dictionary learns the events' shape, not the names a bench or a
test happens to use, and holds no tenant's data. Deterministic for one zstandard version.
"""

from __future__ import annotations

import base64
import re
import sys
import tempfile
from io import BytesIO
from pathlib import Path

import zstandard

from opsledger import Operations, import_pumuki_audit, import_snapshots
from opsledger.sim.simulate import SimulationConfig, default_episodes, simulate

DICT_ID = 0x4F4C0001  # "OL", 1: a private id (zstd reserves those below 32768)
DICT_SIZE = 4096
_NAMES = (b"acme", b"globex", b"initech", b"umbrella", b"hooli", b"stark", b"wayne")
_NAME = re.compile(rb"(tenant|repo)-(\d\d)")


def samples() -> list[bytes]:
    """The plain states of a simulated store's events, names made up per sample."""
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
    return out


def _rename(state: bytes, index: int) -> bytes:
    word = _NAMES[index % len(_NAMES)] + b"%d" % (index % 5)
    state = _NAME.sub(lambda m: word + b"-" + m.group(1)[:1] + m.group(2), state)
    return state.replace(b"127.0.0.1:18787", word + b".example")


def write_module(path: Path) -> int:
    """Train on :func:`samples` and write the dictionary module; returns its size."""
    trained = zstandard.train_dictionary(DICT_SIZE, samples(), dict_id=DICT_ID, level=9)
    data = trained.as_bytes()
    encoded = base64.b85encode(data).decode()  # (no quote or backslash in its alphabet)
    text = "\n".join(f'    "{encoded[i:i + 88]}"' for i in range(0, len(encoded), 88))
    path.write_text(
        '"""The zstd dictionary opsledger compresses event states with (see\n'
        ":mod:`opsledger.store.compress`); written by ``python -m bench._size_dictionary``\n"
        'from simulated events with made-up names. Never edit: stored events name its id."""\n'
        "\nimport base64\n\n__all__ = [\"DICTIONARY\", \"DICTIONARY_ID\"]\n\n"
        f"DICTIONARY_ID = {DICT_ID:#x}\nDICTIONARY = base64.b85decode(\n{text}\n)\n")
    return len(data)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(
        __file__).resolve().parent.parent / "opsledger" / "store" / "_dictionary.py"
    print(f"{target}: {write_module(target)} bytes of dictionary")
