"""Time: naive datetimes are refused; the business calendar counts days DST-safely."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from freezegun import freeze_time
from opsledger.domain.time import utc

from opsledger import BusinessCalendar, FrozenClock, NaiveDatetime, SystemClock


def test_a_naive_datetime_is_refused_with_the_field_named() -> None:
    with pytest.raises(NaiveDatetime, match="occurred_at"):
        utc(datetime(2026, 11, 3, 7, 0))


def test_aware_times_are_normalised_to_utc() -> None:
    from zoneinfo import ZoneInfo

    madrid = datetime(2026, 11, 3, 8, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    assert utc(madrid) == datetime(2026, 11, 3, 7, 0, tzinfo=UTC)
    assert utc(madrid).tzinfo is UTC


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(datetime(2026, 11, 3, tzinfo=UTC))
    assert clock.now() == datetime(2026, 11, 3, tzinfo=UTC)
    clock.advance(timedelta(minutes=15))
    assert clock.now() == datetime(2026, 11, 3, 0, 15, tzinfo=UTC)
    with pytest.raises(NaiveDatetime):
        clock.set(datetime(2026, 11, 4))


def test_system_clock_is_aware_utc_and_follows_freezegun() -> None:
    with freeze_time("2026-11-03T10:00:00Z"):
        now = SystemClock().now()
    assert now == datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.mark.policy("3.SEV2.rca")
def test_business_days_skip_weekends_and_holidays() -> None:
    calendar = BusinessCalendar("UTC", extra_holidays=[date(2026, 11, 26)])
    friday = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    # Mon 23, Tue 24, Wed 25, (Thu 26 holiday), Fri 27, Mon 30 -> 5th business day is Mon 30.
    assert calendar.add_business_days(friday, 5) == datetime(2026, 11, 30, 16, 30, tzinfo=UTC)


def test_holidays_come_from_the_country_calendar() -> None:
    calendar = BusinessCalendar("America/New_York", holiday_country="US")
    wednesday = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 10:00 in New York
    # Thanksgiving (Thu 26) is a US holiday: the next business day is Friday 27.
    assert calendar.add_business_days(wednesday, 1) == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@pytest.mark.policy("3.SEV3.ack")
def test_same_local_time_across_a_dst_change() -> None:
    calendar = BusinessCalendar("Europe/Madrid")
    friday_evening = datetime(2026, 10, 23, 17, 0, tzinfo=UTC)  # 19:00 CEST (UTC+2)
    # Clocks go back on Sunday 25 October: Monday 19:00 is CET (UTC+1) = 18:00 UTC.
    assert calendar.add_business_days(friday_evening, 1) == datetime(
        2026, 10, 26, 18, 0, tzinfo=UTC
    )


def test_zero_business_days_is_the_same_instant() -> None:
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # a Saturday
    assert BusinessCalendar().add_business_days(at, 0) == at


def test_stored_times_render_as_fixed_width_utc_whatever_their_stored_form() -> None:
    from zoneinfo import ZoneInfo

    from opsledger.domain.time import iso_utc
    from opsledger.projections._facts import iso

    for value in (datetime(2026, 11, 3, 7, 3, 3, 583000, tzinfo=UTC),
                  datetime(2026, 11, 3, 7, 3, 3, tzinfo=UTC),
                  datetime(2026, 11, 3, 8, 3, 3, 1, tzinfo=ZoneInfo("Europe/Madrid"))):
        stored = {"_type_": "datetime_iso", "_data_": value.isoformat()}
        assert iso(stored) == iso_utc(value)
        assert len(iso(stored)) == 27
