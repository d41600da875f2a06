"""Safe outputs (issue 13, finding 4 and the terminal part of finding 6), through the real
CLI on SQLite and PostgreSQL: hostile tenant ids never write outside ``--out``, never become
markup in the review, and print literally (escaped) in the terminal.

The ids used through the CLI are ones the import boundary still accepts (no control
characters, at most 256 characters); control characters and 300-character ids are driven
through the renderer and the terminal filter directly in tests/application/test_outputs.py.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsledger import FrozenClock, Governance, Operations
from opsledger.cli.main import main

HOSTILE = [
    "../../x",
    "/tmp/opsledger-abs",
    "x'><img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "[bold]x[/bold]",
    "ü" * 125 + "日本" * 62 + "/..",  # 252 characters, multi-byte, ends in a traversal
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


def _populate(url: str) -> None:
    at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    with Operations.open(url, clock=FrozenClock(at)) as ops:
        for index, tenant in enumerate(HOSTILE):
            ops.register_tenant(tenant, repositories=["web"], governance=Governance(), by="t")
            ops.record_publish(tenant_id=tenant, repository_id="web", idempotency_key="k1",
                               payload_hash=f"{index:x}" * 64, outcome="success", attempts=1,
                               latency_ms=120, occurred_at=at)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.policy("7.monthly_review")
def test_review_monthly_writes_only_inside_out_and_escapes_every_id(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(url)
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    absolute = Path("/tmp")
    before = set(absolute.glob("opsledger-abs*"))
    _cli("review", "monthly", "--month", "2026-11", "--format", "html", "--out", "out",
         "--db", url)
    _cli("review", "monthly", "--month", "2026-11", "--format", "md", "--out", "md",
         "--tenant", "../../x", "--db", url)
    out = (work / "out").resolve()
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    md = (work / "md").resolve()
    assert {p.parent for p in written if p.suffix in (".png", ".html", ".md")} == {out, md}
    assert set(absolute.glob("opsledger-abs*")) == before
    charts = sorted(out.glob("*.png"))
    assert len(charts) == 4 * len(HOSTILE) + 0  # no alerts: no alert timeline
    assert all(len(p.name) < 100 for p in charts)

    page = _Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert len(images) == len(charts)
    assert all((a["src"] or "").startswith("data:image/png;base64,") for a in images)
    assert not [t for t, _ in page.tags if t == "script"]
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    hrefs = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert sorted(hrefs) == sorted(p.name for p in charts)  # safe names: nothing to quote
    text = "".join(page.text)
    for tenant in HOSTILE:
        assert tenant in text  # shown, as text

    markdown = (md / "index.md").read_text(encoding="utf-8")
    md_charts = sorted(md.glob("*.png"))
    assert len(md_charts) == 4
    assert "| ../../x |" in markdown
    for chart in md_charts:
        assert f"]({chart.name})" in markdown


def test_tenant_list_and_audit_summary_print_ids_literally(url: str) -> None:
    _populate(url)
    listing = _cli("tenant", "list", "--db", url)
    summary = _cli("audit", "summary", "--all-tenants", "--db", url)
    for output in (listing, summary):
        assert "[bold]x[/bold]" in output  # rich markup in data is not interpreted
        assert "\x1b" not in output
    tenants = json.loads(_cli("tenant", "list", "--json", "--db", url))
    assert sorted(t["tenant_id"] for t in tenants) == sorted(HOSTILE)


def test_control_characters_in_free_text_and_errors_print_escaped(url: str) -> None:
    """An incident title (free text) and an unknown-tenant error quoting the id: the ESC
    and the bidi override reach the terminal as visible escapes."""
    title = "db down \x1b[2J\x1b]0;pwned\x07 \u202egnp.exe"
    opened = json.loads(_cli("incident", "open", "--severity", "SEV2", "--title", title,
                             "--cause", "ingestion_outage", "--by", "sre", "--json",
                             "--db", url))
    assert opened["title"] == title  # --json keeps the data (JSON escapes it)
    shown = _cli("incident", "show", opened["id"], "--db", url)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[2J\\x1b]0;pwned\\x07 \\u202egnp.exe" in shown
    runner = CliRunner()
    refused = runner.invoke(main, ["tenant", "show", "evil\x1b[31m", "--db", url])
    assert refused.exit_code == 1  # unknown tenant: refused
    assert "\x1b" not in refused.output and "\\x1b[31m" in refused.output


def test_paths_outside_out_are_refused_with_a_typed_error(tmp_path: Path) -> None:
    from opsledger.reports.outputs import UnsafeOutputPath, confined

    out = tmp_path / "out"
    out.mkdir()
    for name in ("../x.png", "/tmp/x.png", "a/../../x.png", "", ".", "sub/x.png"):
        with pytest.raises(UnsafeOutputPath):
            confined(out, name)
    os.symlink(tmp_path, out / "link")
    with pytest.raises(UnsafeOutputPath):
        confined(out, "link")
    assert confined(out, "ok.png") == out.resolve() / "ok.png"
