"""Export of closed months to the local archive, retention dates, and archive verification."""

from __future__ import annotations

import gzip
import os
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.support.audit import event_entry
from tests.support.governance import SettableClock, use_clock
from tests.support.governance_backends import (
    BACKENDS,
    Tamperer,
    backend_url,
    close,
    governance_container,
)
from tests.support.postgres import postgres_schema_url  # noqa: F401  (fixture)
from twinbank.core.audit import (
    ARCHIVED_KIND,
    AuditEntry,
    ChainBrokenDuringExport,
    Month,
    retention_date,
    verify_trail,
)


def ns(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp()) * 1_000_000_000


def entry_at(time_ns: int, index: int) -> AuditEntry:
    base = event_entry(index)
    return AuditEntry(base.kind, time_ns, base.body, model_id=base.model_id)


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    backend = str(request.param)
    url = backend_url(backend, tmp_path, request)
    container = governance_container(backend, url, archive_dir=tmp_path / "archive")
    clock = SettableClock(ns(2018, 3, 15))
    use_clock(container, clock)
    trail = container.audit.trail()
    trail.append_entries([entry_at(ns(2018, 1, day), day) for day in (3, 10, 31)])
    trail.append_entries([entry_at(ns(2018, 2, day), 100 + day) for day in (1, 28)])
    trail.append_entries([entry_at(ns(2018, 3, 2), 300)])
    yield container, clock, Tamperer(container, url), tmp_path / "archive"
    close(container, backend)


def test_retention_is_seven_years_after_the_month():
    assert retention_date(Month(year=2018, month=4)) == date(2025, 5, 1)
    assert retention_date(Month(year=2018, month=12)) == date(2026, 1, 1)


def test_month_parse_rejects_bad_text():
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2018/04")


def test_export_writes_closed_months_only(setup):
    container, _, _, folder = setup
    manifests = container.audit.archiver().export_closed_periods()
    assert [m.period for m in manifests] == ["2018-01", "2018-02"]
    january, february = manifests
    assert (january.first_seq, january.last_seq, january.records) == (1, 3, 3)
    assert (february.first_seq, february.last_seq) == (4, 5)
    assert january.retention_until == date(2025, 2, 1)
    assert february.retention_until == date(2025, 3, 1)
    assert february.prev_hash == january.last_hash
    assert sorted(path.name for path in folder.iterdir()) == [
        "2018-01_000000000001-000000000003.jsonl.gz",
        "2018-01_000000000001-000000000003.manifest.json",
        "2018-02_000000000004-000000000005.jsonl.gz",
        "2018-02_000000000004-000000000005.manifest.json",
    ]
    for path in folder.iterdir():
        assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    trail = container.audit.trail()
    kinds = [record.kind for record in trail.records()]
    assert kinds[-2:] == [ARCHIVED_KIND, ARCHIVED_KIND]
    assert verify_trail(trail).ok


def test_export_continues_where_it_stopped(setup):
    container, clock, _, _ = setup
    archiver = container.audit.archiver()
    archiver.export_closed_periods(Month(year=2018, month=1))
    assert archiver.export_closed_periods() != []
    assert archiver.export_closed_periods() == []
    clock.now = ns(2018, 4, 2)
    march = archiver.export_closed_periods()
    assert [m.period for m in march] == ["2018-03"]
    # March's segment holds the March record and the two export events recorded in March.
    assert march[0].records == 3
    assert archiver.verify().ok


def test_late_record_extends_retention(setup):
    container, clock, _, _ = setup
    trail = container.audit.trail()
    trail.append_entries([entry_at(ns(2018, 1, 20), 999)])  # recorded out of time order
    clock.now = ns(2018, 4, 2)
    manifests = container.audit.archiver().export_closed_periods()
    # January's segment runs to the late January record, so it holds February and March
    # too, and is kept 7 years after its latest record's month.
    assert [m.period for m in manifests] == ["2018-01"]
    assert (manifests[0].last_seq, manifests[0].records) == (7, 7)
    assert manifests[0].latest_recorded_at_ns == ns(2018, 3, 2)
    assert manifests[0].retention_until == date(2025, 4, 1)


def test_archive_verifies_and_round_trips(setup):
    container, _, _, _ = setup
    archiver = container.audit.archiver()
    archiver.export_closed_periods()
    result = archiver.verify()
    assert result.ok
    assert (result.segments_checked, result.records_checked) == (2, 5)
    archive = container.audit.archive()
    manifest = archive.manifests()[0]
    assert list(archive.read_segment(manifest)) == list(container.audit.trail().records(1, 3))


def test_modified_segment_file_is_detected(setup):
    container, _, _, folder = setup
    archiver = container.audit.archiver()
    manifest = archiver.export_closed_periods()[0]
    path = folder / manifest.file
    path.chmod(0o644)
    lines = gzip.decompress(path.read_bytes()).replace(b"event 3", b"event 4")
    path.write_bytes(gzip.compress(lines))
    result = archiver.verify()
    assert not result.ok
    assert "the file was modified" in (result.problem or "")


def test_missing_segment_file_is_detected(setup):
    container, _, _, folder = setup
    archiver = container.audit.archiver()
    manifest = archiver.export_closed_periods()[1]
    (folder / manifest.file).unlink()
    result = archiver.verify()
    assert not result.ok
    assert "file is missing" in (result.problem or "")


def test_live_change_after_export_is_detected(setup):
    container, _, tamper, _ = setup
    archiver = container.audit.archiver()
    archiver.export_closed_periods()
    tamper.modify_body(5)
    result = archiver.verify()
    assert not result.ok
    assert "changed after the export" in (result.problem or "")


def test_broken_chain_is_not_exported(setup):
    container, _, tamper, folder = setup
    tamper.modify_body(2)
    with pytest.raises(ChainBrokenDuringExport, match="2018-01"):
        container.audit.archiver().export_closed_periods()
    assert not folder.exists() or list(folder.iterdir()) == []
