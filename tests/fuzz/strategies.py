"""Hypothesis strategies for each field of a Pumuki audit line: ``(value, expect)`` pairs,
labelled like the generator in ``hostile.py`` (``good`` / ``bad`` / ``edge``)."""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import strategies as st

H = sys.modules["opsledger_fuzz_hostile"]

__all__ = ["FIELD_VALUES", "field_value"]

Labelled = st.SearchStrategy[tuple[Any, str]]


def _label(strategy: st.SearchStrategy[Any], expect: str) -> Labelled:
    return strategy.map(lambda value: (value, expect))


_SAFE_ID = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=64)
_CONTROL = st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f"])


def _ids() -> Labelled:
    with_control = st.tuples(_SAFE_ID, _CONTROL, _SAFE_ID).map("".join)
    return st.one_of(
        _label(_SAFE_ID, "good"),
        _label(with_control, "bad"),
        _label(st.integers(min_value=257, max_value=5000).map(lambda n: "x" * n), "bad"),
        _label(st.sampled_from(["", 1, 1.5, True, None, [], {}]), "bad"),
        _label(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s), "edge"),
    )


def _ints(good_max: int) -> Labelled:
    return st.one_of(
        _label(st.integers(min_value=0, max_value=good_max), "good"),
        _label(st.integers(max_value=-1), "bad"),
        _label(st.integers(min_value=2**53), "bad"),  # far beyond any sensible maximum
        _label(st.sampled_from(H.BAD_INTS).filter(lambda v: v is not None), "bad"),
        _label(st.integers(min_value=good_max + 1, max_value=2**53 - 1), "edge"),
        _label(st.floats(allow_nan=False, allow_infinity=False).filter(
            lambda f: not f.is_integer()), "bad"),
        _label(st.sampled_from(H.EDGE_INTS), "edge"),
    )


def _times() -> Labelled:
    # Past times are good; times years ahead of the clock are refused (the store accepts
    # a day of clock drift), so the future range starts well clear of any run's clock.
    aware = st.datetimes(
        min_value=__import__("datetime").datetime(2001, 1, 2),
        max_value=__import__("datetime").datetime(2026, 11, 30),
    ).map(lambda d: d.isoformat() + "Z")
    ahead = st.datetimes(
        min_value=__import__("datetime").datetime(2040, 1, 1),
        max_value=__import__("datetime").datetime(2099, 12, 30),
    ).map(lambda d: d.isoformat() + "Z")
    return st.one_of(
        _label(st.sampled_from(H.GOOD_TIMES), "good"),
        _label(aware, "good"),
        _label(ahead, "bad"),
        _label(st.sampled_from(H.BAD_TIMES), "bad"),
        _label(st.datetimes().map(lambda d: d.isoformat()), "bad"),  # naive
        _label(st.sampled_from(H.EDGE_TIMES), "edge"),
        _label(st.text(max_size=30), "edge"),  # garbage (or, by chance, a valid time)
    )


def _status() -> Labelled:
    return st.one_of(
        _label(st.integers(min_value=100, max_value=599), "good"),
        _label(st.integers(max_value=99) | st.integers(min_value=600), "bad"),
        _label(st.sampled_from(["202", True, 1.5, [], {}]), "bad"),
    )


def _text() -> Labelled:
    return st.one_of(
        _label(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e),
                       max_size=200), "good"),
        _label(st.text(min_size=1, max_size=50).map(lambda s: s + "\x00"), "bad"),
        _label(st.text(max_size=200).filter(lambda s: "\x00" not in s), "edge"),
        _label(st.integers(min_value=1 << 20, max_value=(1 << 20) + 10).map(
            lambda n: "p" * n), "bad"),
    )


FIELD_VALUES: dict[str, Labelled] = {
    "tenant_id": _ids(),
    "repository_id": _ids(),
    "idempotency_key": _ids(),
    "event_id": _ids(),
    "request_id": _ids(),
    "attempts": _ints(10),  # Pumuki makes at most 3; above 10 the bound is the engine's call
    "latency_ms": _ints(600_000),
    "status": _status(),
    "event_at": _times(),
    "endpoint": _text(),
    "outcome": st.one_of(_label(st.sampled_from(["success", "error"]), "good"),
                         _label(st.text(max_size=10).filter(
                             lambda s: s not in ("success", "error")), "bad")),
    "payload_hash": st.one_of(
        _label(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), "good"),
        _label(st.text(max_size=70).filter(lambda s: len(s) != 64), "bad")),
}


def field_value() -> st.SearchStrategy[tuple[str, Any, str]]:
    """``(field, value, expect)`` over every field."""
    return st.sampled_from(sorted(FIELD_VALUES)).flatmap(
        lambda name: FIELD_VALUES[name].map(lambda pair: (name, pair[0], pair[1])))
