"""Where data leaves opsledger: the terminal filter, safe file names and the review pages,
driven directly with what the import boundary refuses (control characters, 300-character
ids) so these guarantees do not depend on the boundary."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from opsledger import FrozenClock, Governance, Operations
from opsledger.cli.common import console, safe
from opsledger.reports.outputs import markdown_text, safe_file_name
from opsledger.reports.render import write_review
from opsledger.reports.review import monthly_review
from opsledger.services.slo import Period

ESCAPES = "a\x1b[31mred\x1b]0;title\x07\x00\x7f\x85\x9b\u202eevil\u2066\u200f\u2028b"
LONG = "é" * 150 + "\x1b" + "x" * 149  # 300 characters, a control character inside


def test_safe_shows_every_control_character_as_a_visible_escape() -> None:
    text = safe(ESCAPES)
    assert text == ("a\\x1b[31mred\\x1b]0;title\\x07\\x00\\x7f\\x85\\x9b\\u202eevil"
                    "\\u2066\\u200f\\u2028b")
    assert all(ch.isprintable() for ch in text)


def test_safe_keeps_markup_and_emoji_codes_literal_on_the_console() -> None:
    with console.capture() as captured:
        console.print(f"[bold]{safe('[bold]x[/bold] :smile: [red]')}[/bold]")
    assert captured.get() == "[bold]x[/bold] :smile: [red]\n"


def test_every_printer_filters_data() -> None:
    from opsledger.cli.alerts import print_alerts
    from opsledger.cli.common import table
    from opsledger.cli.slo import print_slo_rows

    alert = {"triggered_at": "2026-11-03T00:00:00Z", "tenant": ESCAPES, "rule": "[red]r",
             "level": "high", "observed": 1.0, "threshold": 0.5, "resolved_at": None}
    with console.capture() as captured:
        table([{"tenant_id": ESCAPES, "outcome": "[bold]ok[/bold]"}], ["tenant_id", "outcome"])
        print_alerts([alert])
    output = captured.get()
    assert "\x1b" not in output and "\u202e" not in output and "\x85" not in output
    assert "\\x1b[31mred" in output and "[bold]ok[/bold]" in output and "[red]r" in output
    with console.capture() as captured, pytest.raises(KeyError):
        print_slo_rows([{"tenant": ESCAPES}])  # the row is incomplete: only the filter matters
    assert "\x1b" not in captured.get()


def test_file_names_from_ids_are_short_safe_and_distinct() -> None:
    ids = ["../../x", "/tmp/abs", "x'><img src=x onerror=alert(1)>", LONG, "..", ".", "",
           "日本", "a/b", "a-b", "a b", "A/B", ESCAPES]
    names = [safe_file_name(i, "availability.png") for i in ids]
    assert len(set(names)) == len(ids)
    for name in names:
        assert len(name) <= 80 and "/" not in name and not name.startswith(".")
        assert name.endswith("-availability.png")
        assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in name)


def test_markdown_text_escapes_markdown_and_html() -> None:
    assert markdown_text("a|b") == "a\\|b"
    assert markdown_text("<img src=x>") == "&lt;img src=x&gt;"
    assert markdown_text("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"
    assert markdown_text("line\nbreak") == "line break"
    assert markdown_text(None) == "-"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def review() -> dict[str, Any]:
    at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    with Operations.open("memory://", clock=FrozenClock(at)) as ops:
        ops.register_tenant("acme", repositories=["web"], governance=Governance(), by="t")
        ops.record_publish(tenant_id="acme", repository_id="web", idempotency_key="k",
                           payload_hash="a" * 64, outcome="success", attempts=1,
                           latency_ms=10, occurred_at=at)
        real = monthly_review(ops, Period.month("2026-11"))
    hostile = copy.deepcopy(real)
    (template,) = hostile["tenants"]
    hostile["tenants"] = []
    for tenant in (LONG, ESCAPES, "x'><img src=x onerror=alert(1)>"):
        entry = copy.deepcopy(template)
        entry["tenant"] = entry["slo"]["tenant"] = tenant
        hostile["tenants"].append(entry)
    return hostile


@pytest.mark.policy("7.monthly_review")
def test_review_with_300_character_and_control_ids_renders_inside_out(
    review: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "nested" / "out"
    page_path = write_review(review, "html", out)
    assert page_path == out / "index.html"
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.parent for p in files} == {out}
    assert len([p for p in files if p.suffix == ".png"]) == 4 * len(review["tenants"])
    page = _Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    assert all((a["src"] or "").startswith("data:") for t, a in page.tags if t == "img")
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    text = "".join(page.text)
    assert LONG in text and "x'><img src=x onerror=alert(1)>" in text



def test_markdown_review_escapes_ids(review: dict[str, Any], tmp_path: Path) -> None:
    one = {**review, "tenants": [{**review["tenants"][0], "tenant": "a|b<img src=x>"}]}
    one["what_if"] = {"rules": {"<b>rule": {"fired": 2, "would_fire": 1, "same": 1}}}
    markdown = write_review(one, "md", tmp_path / "md").read_text(encoding="utf-8")
    assert "| &lt;b&gt;rule | 2 | 1 | 1 |" in markdown  # the what-if table, escaped
    assert "<img" not in markdown and "| a\\|b&lt;img src=x&gt; |" in markdown
    assert all(p.parent == tmp_path / "md" for p in tmp_path.rglob("*.png"))
