"""Which hostile line kinds break what: one fresh store per kind (a tool, not a test).

    .venv/bin/python tests/fuzz/triage.py [sqlite|postgres] [KIND ...]

For each generator kind (``HostileAudit.k_*``), imports 30 valid lines then 8 lines of
that kind through the CLI into a fresh store, runs the same checks as the fuzz suite,
and prints the problems by shape. The full fuzz run stops being informative once the
first line wedges the views; this names the inputs behind each failure.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).parent
for _name in ("hostile", "harness"):
    _spec = importlib.util.spec_from_file_location(f"opsledger_fuzz_{_name}",
                                                   HERE / f"{_name}.py")
    assert _spec and _spec.loader
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[f"opsledger_fuzz_{_name}"] = _module
    _spec.loader.exec_module(_module)

H = sys.modules["opsledger_fuzz_hostile"]
F = sys.modules["opsledger_fuzz_harness"]
PG = "postgresql://postgres@127.0.0.1:5432/test"


def triage(kind: str, backend: str, tmp: Path) -> list[str]:
    """The problems one kind of line causes on a fresh store."""
    if backend == "postgres":
        db = f"{PG}?schema=triage_{uuid.uuid4().hex[:10]}"
    else:
        db = f"sqlite:///{tmp / (kind + '.db')}"
    fuzz = F.Fuzz(db, tmp, import_seconds=40, read_seconds=40)
    generator = H.HostileAudit(7, huge_bytes=1_500_000, huge_lines=2)
    lines = list(generator.lines(30, hostile=0.0))
    lines += [getattr(generator, kind)() for _ in range(8)]
    path = H.write_file(tmp / f"{kind}.ndjson", lines)
    fuzz.import_batch({path: lines}, subprocess_=False, label=kind)
    fuzz.reads(sorted({str(orjson_tenant(line)) for line in lines[:30]}), subprocess_=False,
               label=f"after {kind}")
    if backend == "postgres":
        import psycopg

        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{db.rsplit("=", 1)[1]}" CASCADE')
    return fuzz.problems


def orjson_tenant(line: object) -> object:
    """The tenant of a valid line."""
    import orjson

    return orjson.loads(line.raw)["tenant_id"]  # type: ignore[attr-defined]


def main(argv: list[str]) -> None:
    """Triage every kind (or those named) on one backend."""
    backend = argv[0] if argv and argv[0] in ("sqlite", "postgres") else "sqlite"
    kinds = [a for a in argv if a.startswith("k_")] or sorted(
        n for n in dir(H.HostileAudit) if n.startswith("k_"))
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            problems = triage(kind, backend, Path(tmp))
            shapes: dict[str, str] = {}
            for problem in problems:
                shapes.setdefault(problem.strip().splitlines()[-1].strip()[:150], problem)
            print(f"== {kind}: {len(problems)} problems", flush=True)
            for shape, first in list(shapes.items())[:8]:
                print(f"   {shape}\n      e.g. {first.splitlines()[0][:220]}")


if __name__ == "__main__":
    main(sys.argv[1:])
