"""Manifests of archived audit segments, and the periods and retention dates they use."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field

from .chain import ChainHead

RETENTION_YEARS = 7
"""Years an archived audit segment is kept after the end of its latest record's month."""

_NANOS_PER_SECOND = 1_000_000_000


class Month(BaseModel):
    """A calendar month in UTC, the unit of closed audit periods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=1970, le=9999)
    month: int = Field(ge=1, le=12)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``; raises ValueError naming the text."""
        year, separator, month = text.partition("-")
        if not (separator and year.isdigit() and month.isdigit() and len(year) == 4):
            raise ValueError(f"period {text!r} is not a month in the form YYYY-MM, such as 2018-04")
        if not 1 <= int(month) <= 12:
            raise ValueError(f"period {text!r} has month {month}; use 01 to 12")
        return cls(year=int(year), month=int(month))

    @classmethod
    def containing(cls, time_ns: int) -> Month:
        moment = datetime.fromtimestamp(time_ns // _NANOS_PER_SECOND, tz=UTC)
        return cls(year=moment.year, month=moment.month)

    def next(self) -> Month:
        if self.month == 12:
            return Month(year=self.year + 1, month=1)
        return Month(year=self.year, month=self.month + 1)

    @property
    def start_ns(self) -> int:
        return _date_ns(date(self.year, self.month, 1))

    @property
    def end_ns(self) -> int:
        """Return the first nanosecond after the month."""
        return self.next().start_ns

    def __lt__(self, other: Month) -> bool:
        return (self.year, self.month) < (other.year, other.month)

    def __le__(self, other: Month) -> bool:
        return (self.year, self.month) <= (other.year, other.month)


def retention_date(latest_month: Month, years: int = RETENTION_YEARS) -> date:
    """Return the first day a segment may be deleted: ``years`` after its latest month ends.

    For records from April 2018 and a 7-year retention that is 2025-05-01.
    """
    end = latest_month.next()
    return date(end.year + years, end.month, 1)


class ArchiveManifest(BaseModel):
    """The contents of an archived segment and how it links into the chain.

    ``prev_hash`` is the hash the segment's first record links to; ``last_hash`` is its
    last record's hash, which the next segment or the live chain links to.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = 1
    period: str
    file: str
    file_sha256: str
    first_seq: int = Field(ge=1)
    last_seq: int = Field(ge=1)
    records: int = Field(ge=1)
    prev_hash: str
    last_hash: str
    earliest_recorded_at_ns: int
    latest_recorded_at_ns: int
    exported_at_ns: int
    retention_until: date

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.last_seq, self.last_hash)

    @property
    def anchor(self) -> ChainHead:
        return ChainHead(self.first_seq - 1, self.prev_hash)


def _date_ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * _NANOS_PER_SECOND
