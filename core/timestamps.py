"""Event time in the core: integer nanoseconds since the Unix epoch, UTC.

Integers keep window boundaries exact (``t - 7 days`` is never off by a rounding
error), and they match numpy's ``datetime64[ns]``. Conversions from ``datetime``
live here so that every layer agrees on time zones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_MINUTE = 60 * NANOS_PER_SECOND
NANOS_PER_HOUR = 60 * NANOS_PER_MINUTE
NANOS_PER_DAY = 24 * NANOS_PER_HOUR

# 1970-01-01 was a Thursday; with Monday = 0 that is weekday 3.
_EPOCH_WEEKDAY = 3

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NaiveTimestampError(ValueError):
    """A datetime without a time zone reached a place that needs one."""


def from_datetime(moment: datetime) -> int:
    """Convert an aware datetime to nanoseconds since the epoch.

    Raises NaiveTimestampError for a naive datetime, because guessing its zone
    would shift every window that uses it.
    """
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise NaiveTimestampError(
            f"timestamp {moment.isoformat()} has no time zone; "
            "give it one, for example 2018-04-01T00:00:00+00:00"
        )
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NANOS_PER_SECOND + delta.microseconds * 1_000


def to_datetime(timestamp_ns: int) -> datetime:
    """Convert nanoseconds since the epoch to an aware UTC datetime (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=timestamp_ns // 1_000)


def days(count: float) -> int:
    """Return a duration of ``count`` days in nanoseconds."""
    return round(count * NANOS_PER_DAY)


def weekday(timestamp_ns: int) -> int:
    """Return the UTC weekday of a timestamp, Monday = 0 ... Sunday = 6."""
    return (timestamp_ns // NANOS_PER_DAY + _EPOCH_WEEKDAY) % 7


def hour_of_day(timestamp_ns: int) -> int:
    """Return the UTC hour (0-23) of a timestamp."""
    return (timestamp_ns // NANOS_PER_HOUR) % 24
