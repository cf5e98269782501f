"""`from`/`to`/`as_of`: a date, a naive IST time or an offset, read one way on every service."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from optrade.errors import InvalidInput
from optrade.instants import InstantError, check_range, instant_param, to_instant


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2025-12-02", datetime(2025, 12, 1, 18, 30, tzinfo=UTC)),  # 00:00 IST
        ("2025-12-02T09:15:00", datetime(2025, 12, 2, 3, 45, tzinfo=UTC)),  # naive = IST
        ("2025-12-02T09:15:00+05:30", datetime(2025, 12, 2, 3, 45, tzinfo=UTC)),
        ("2025-12-02T09:15:00 05:30", datetime(2025, 12, 2, 3, 45, tzinfo=UTC)),  # URL-decoded +
        ("2025-12-02T03:45:00Z", datetime(2025, 12, 2, 3, 45, tzinfo=UTC)),
    ],
)
def test_every_form_names_the_same_instant(text: str, utc: datetime) -> None:
    assert to_instant(text) == utc
    assert to_instant(text).tzinfo is UTC


def test_a_date_object_is_midnight_ist() -> None:
    assert to_instant(date(2025, 12, 2)) == datetime(2025, 12, 1, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "2025-12-02T25:00:00", ""])
def test_unreadable_text_is_refused(text: str) -> None:
    with pytest.raises(InstantError):
        to_instant(text)
    with pytest.raises(InvalidInput) as raised:
        instant_param("from", text)
    assert raised.value.extra["errors"][0]["field"] == "from"


def test_a_reversed_or_empty_range_names_to() -> None:
    day = to_instant("2025-12-02")
    for end in (day, to_instant("2025-12-01")):
        with pytest.raises(InvalidInput) as raised:
            check_range(day, end)
        assert raised.value.extra["errors"][0]["field"] == "to"
    check_range(day, to_instant("2025-12-03"))
    check_range(None, day)
