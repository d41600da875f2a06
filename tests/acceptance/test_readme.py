"""The README's Python quick start works as written (issue 14 point 9).

The one fenced ``python`` block of README.md is executed as it stands, in a fresh directory
(it opens ``sqlite:///ops.db`` there): it must run, end with an SLO read that counts the
operations it recorded, and print what its ``# prints:`` comment says. Editing the README or
the API so that they no longer agree fails here.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
PRINTS = re.compile(r"#\s*prints:\s*(.+)$", re.M)


def python_blocks(text: str) -> list[str]:
    """Every fenced ``python`` block of a Markdown text."""
    return FENCE.findall(text)


def test_the_readme_has_exactly_one_python_quick_start() -> None:
    assert len(python_blocks(README.read_text())) == 1


def test_the_quick_start_runs_as_written_and_ends_with_a_non_empty_slo_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = python_blocks(README.read_text())
    expected = PRINTS.findall(block)
    assert expected, "the quick start says what it prints (a '# prints: ...' comment)"
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "readme"}
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), namespace)

    assert out.getvalue().splitlines() == [line.strip() for line in expected]
    slo = namespace["slo"]
    assert slo["operations"] > 0  # type: ignore[index]
    assert slo["local_only_excluded"] == 0  # type: ignore[index]
    assert (tmp_path / "ops.db").exists()


def test_the_extraction_finds_blocks_and_only_python_ones() -> None:
    text = "x\n```bash\necho 1\n```\n```python\nprint(1)  # prints: 1\n```\n"
    assert python_blocks(text) == ["print(1)  # prints: 1\n"]


REPO = README.parent
PATH = re.compile(r"`((?:opsledger|domain|projections|scheduler|tests|bench)/[\w./-]*)`")


def test_every_source_path_the_readme_names_exists() -> None:
    # The layout moves (issue 14): a README pointing at a module that moved is a wrong claim.
    named = set(PATH.findall(README.read_text()))
    assert "domain/gate.py" in named
    assert sorted(p for p in named if not (REPO / p).exists()) == []
