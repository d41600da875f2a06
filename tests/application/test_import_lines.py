"""Reading import inputs within bounds (opsledger/_lines.py): the line-size limit at its exact
edge, end-of-line forms, the BOM, and the two passes of ``--strict`` without holding the
input (a pipe is spooled to a private temporary file)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsledger import ImportRefused, Operations, import_pumuki_audit
from opsledger.cli.imports import count_lines
from opsledger.services.lines import TwoPass, numbered_lines


@pytest.mark.parametrize("as_file", [True, False])
def test_the_line_limit_is_exact_and_an_over_long_line_is_skipped_whole(as_file: bool) -> None:
    limit = 10
    data = (b"\xef\xbb\xbf" + b"a" * 7 + b"\n" + b"b" * 10 + b"\r\n" + b"c" * 11 + b"\n"
            + b"d" * 50 + b"\n" + b"\xef\xbb\xbfe\n" + b"f" * 10)
    source = io.BytesIO(data) if as_file else data.splitlines(keepends=True)
    assert list(numbered_lines(source, limit)) == [
        (1, b"a" * 7), (2, b"b" * 10), (3, None), (4, None), (5, b"\xef\xbb\xbfe"),
        (6, b"f" * 10)]


def test_count_lines_counts_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"a\n" + b"b" * 3_000_000 + b"\nc")
    assert count_lines(str(path)) == 3
    path.write_bytes(b"a\nb\n")
    assert count_lines(str(path)) == 2


def test_two_passes_over_a_generator_spool_it_to_a_private_file() -> None:
    lines = [b"one\n", b"two\r\n", b"three"]
    reader = TwoPass(line for line in lines)
    assert [raw for _, raw in reader.first()] == [b"one", b"two", b"three"]
    spool = reader._spool
    assert spool is not None and os.fstat(spool.fileno()).st_mode & 0o077 == 0
    assert [raw for _, raw in numbered_lines(reader.second())] == [b"one", b"two", b"three"]
    reader.close()


def _generator(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def test_strict_import_of_a_generator_validates_then_writes(
    sample_audit: Path, tmp_path: Path
) -> None:
    with Operations.open("memory://") as ops:
        summary = import_pumuki_audit(ops, [_generator(sample_audit)], strict=True,
                                      register_unknown=True)
        assert (summary.lines, summary.imported) == (571, 571)
        bad = tmp_path / "bad.ndjson"
        lines = sample_audit.read_bytes().splitlines(keepends=True)
        bad.write_bytes(b"".join(lines[:3]) + b'{"latency_ms": "1"}\n' + b"".join(lines[3:9]))
        with pytest.raises(ImportRefused) as caught:
            import_pumuki_audit(ops, [_generator(bad)], strict=True, names=["piped"])
        assert (caught.value.file, caught.value.line) == ("piped", 4)


def test_strict_import_from_a_pipe_through_the_command(sample_audit: Path,
                                                       tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    lines = sample_audit.read_bytes().splitlines(keepends=True)[:50]
    command = [sys.executable, "-m", "opsledger.cli", "import", "pumuki-audit", "-",
               "--strict", "--register-unknown", "--json", "--db", db]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:
        out, err = process.communicate(b"".join(lines))
    assert process.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)["imported"] == 50
