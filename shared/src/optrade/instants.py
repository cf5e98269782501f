"""`from`, `to` and `as_of`: one reading of time parameters on every service.

Accepted: an ISO-8601 date-time with an offset (`2025-12-02T09:30:00+05:30`, `...Z`), a naive
date-time read as IST wall-clock time (the way NSE stamps its data), or a bare date meaning
00:00 IST of that date. An unencoded `+05:30` in a URL arrives as ` 05:30`; it is read as the
offset it was meant to be. A range whose `to` is not after its `from` is invalid input.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from optrade.calendar import IST
from optrade.errors import InvalidInput

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_SPACE_BEFORE_OFFSET = re.compile(r"^(.+\d)\s(\d{2}:?\d{2})$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

INSTANT_DESCRIPTION = (
    "ISO-8601: a date-time with an offset, a naive date-time read as IST (Asia/Kolkata) wall "
    "clock, or a date meaning 00:00 IST of that date"
)


class InstantError(ValueError):
    """The text is not a date, a date-time or a date-time with an offset."""


def to_instant(value: str | date | datetime) -> datetime:
    """An aware UTC instant from a date, a naive (IST) or an offset date-time, or their text."""
    if isinstance(value, str):
        value = _parse_text(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    try:
        return (value if value.tzinfo else value.replace(tzinfo=IST)).astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InstantError(f"out of range: {exc}") from None


def _parse_text(text: str) -> datetime:
    text = text.strip()
    decoded_plus = _SPACE_BEFORE_OFFSET.match(text)
    if decoded_plus and "T" in text:
        text = f"{decoded_plus.group(1)}+{decoded_plus.group(2)}"
    try:
        if _DATE_ONLY.match(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day)
        return _DATETIME.validate_python(text)
    except (ValidationError, ValueError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InstantError(f"not an ISO-8601 date or date-time ({reason})") from None


def instant_param(field: str, text: str | None) -> datetime | None:
    """A query parameter's instant, or 422 naming `field` and the reason."""
    if text is None:
        return None
    try:
        return to_instant(text)
    except InstantError as exc:
        raise InvalidInput(field, str(exc)) from None


def check_range(start: datetime | None, end: datetime | None) -> None:
    """A reversed or empty range is invalid input naming `to`."""
    if start is not None and end is not None and end <= start:
        raise InvalidInput(
            "to", f"must be later than from ({end.isoformat()} is not after {start.isoformat()})"
        )


def _validate_instant(value: Any) -> Any:
    if isinstance(value, str | date):
        try:
            return to_instant(value)
        except InstantError as exc:
            raise ValueError(str(exc)) from None
    return value


Instant = Annotated[
    datetime,
    BeforeValidator(_validate_instant),
    Field(description=INSTANT_DESCRIPTION, json_schema_extra={"format": "date-time"}),
]
"""A body field holding an instant read the same way as the query parameters."""
