"""Store URLs are untrusted input (issue 13, point 7): a ``schema`` that is not a plain
identifier is refused before anything connects and creates nothing on the server, and a
password never appears in what any command prints — a malformed URL, an unreachable
server, a refused parameter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from opsledger import Operations
from opsledger.cli.main import main
from opsledger.store.url import (
    InvalidStoreIdentifier,
    InvalidStoreUrl,
    StoreUnavailable,
    parse_store_url,
    quote_identifier,
    redact_url,
)

PG = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "s3cretpw"


@dataclass(frozen=True)
class _Done:
    returncode: int
    stdout: str
    stderr: str


def _cli(*args: str) -> _Done:
    """One CLI command, in process (click's runner: the same entry point as the script)."""
    result = CliRunner().invoke(main, list(args), input="")
    return _Done(result.exit_code, result.stdout, result.stderr)


def _namespaces() -> set[str]:
    with psycopg.connect(PG) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}


def test_a_crafted_schema_is_refused_and_creates_nothing(pg_url: str) -> None:
    evil = f"evil_{uuid.uuid4().hex[:8]}"
    before = _namespaces()
    crafted = [f"x;CREATE SCHEMA {evil}", 'a"b', f'x";CREATE SCHEMA {evil};--',
               f"x%22%3BCREATE%20SCHEMA%20{evil}%3B--", "Upper", "9lives", "a" * 64, ""]
    for schema in crafted:
        for command in (["tenant", "list"], ["import", "pumuki-audit", "-"]):
            done = _cli(*command, "--db", f"{PG}?schema={schema}")
            assert done.returncode == 2, (schema, done.stderr)
            assert "[invalid_store_identifier]" in done.stderr and "schema=" in done.stderr
            assert "Traceback" not in done.stderr
        with pytest.raises(InvalidStoreIdentifier) as refused:
            Operations.open(f"{PG}?schema={schema}")
        assert refused.value.parameter == "schema" and refused.value.code == \
            "invalid_store_identifier"
    created = _namespaces() - before  # other tests may create their own schemas meanwhile
    assert not [n for n in created if evil in n or n in {*crafted, "x", "a", "a" * 63}]
    long = _cli("tenant", "list", "--db", f"{PG}?schema=x{'y' * 500}").stderr
    assert "y" * 41 not in long  # the refused value is quoted truncated


def test_a_plain_schema_works_and_is_quoted() -> None:
    assert parse_store_url(f"{PG}?schema=t_ok_1").schema == "t_ok_1"
    assert quote_identifier('a"b') == '"a""b"'
    with pytest.raises(InvalidStoreUrl, match="once"):
        parse_store_url(f"{PG}?schema=a&schema=b")


@pytest.mark.parametrize("url", [
    f"postgresql://u:{SECRET}@127.0.0.1:1/x",  # connection refused
    f"postgresql://u:{SECRET}@127.0.0.1:99999/x",  # port out of range
    f"postgresql://u:{SECRET}@[::1/x",  # invalid IPv6
    f"postgresql://u:{SECRET}@/x",  # no host
    f"postgresql://u:{SECRET}@127.0.0.1:5432/",  # no database
    f"postgresql://u:{SECRET[:3]}/{SECRET[3:]}@127.0.0.1:1/x",  # "/" not percent-encoded
    f"postgresql://u:{SECRET[:3]}%2F{SECRET[3:]}@127.0.0.1:1/x",  # encoded: refused conn.
    f"postgresql://u:{SECRET}@127.0.0.1:1/x?schema=Bad",  # refused parameter
    f"postgresql://127.0.0.1:1/x?password={SECRET}",
    f"mysql://u:{SECRET}@127.0.0.1/x",  # unknown scheme
])
def test_no_command_prints_the_password(url: str) -> None:
    for command in (["tenant", "list"], ["audit", "summary"]):
        done = _cli(*command, "--db", url)
        said = done.stdout + done.stderr
        assert done.returncode == 2, said
        assert "Traceback" not in said and "error [" in said
        for fragment in (SECRET, SECRET[:3] + "/", SECRET[3:]):
            assert fragment not in said, said
    assert SECRET not in redact_url(url)


def test_an_unreachable_store_is_a_typed_error_naming_it_redacted() -> None:
    with pytest.raises(StoreUnavailable) as failed:
        Operations.open(f"postgresql://u:{SECRET}@127.0.0.1:1/x")
    assert "postgresql://u:***@127.0.0.1:1/x" in str(failed.value)
    assert SECRET not in repr(parse_store_url(f"postgresql://u:{SECRET}@127.0.0.1:1/x"))


def test_a_store_file_that_cannot_be_created_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _cli("tenant", "list", "--db", f"sqlite:///{blocker}/store.db")
    assert done.returncode == 2 and "[store_unavailable]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
