"""Export of closed periods of the audit trail to an archive, and its verification.

A period is a calendar month (UTC). A month is closed once the clock has passed its
end. Each export writes one segment per closed month: the contiguous records after the
last archived one, up to the last record recorded before the month's end. Records are
appended in the order they arrive, and their times are not always increasing (a twin
writes simulated times). So a segment may contain a record from a later month, and its
retention date then follows the latest record it contains. Every export is itself
recorded in the trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..ports import Clock
from .archive_manifest import RETENTION_YEARS, ArchiveManifest, Month, retention_date
from .chain import AuditEntry, ChainedRecord, ChainHead
from .ports import AuditArchive, AuditTrail
from .verification import ChainProblem, ChainWalker, verify_chain

ARCHIVED_KIND = "audit.period_archived"


class ChainBrokenDuringExport(RuntimeError):
    """The live chain failed verification while a segment was being exported."""

    def __init__(self, period: Month, problem: ChainProblem) -> None:
        super().__init__(
            f"export of {period} stopped: {problem.message}; nothing was archived for this "
            "period. Run `twinbank audit verify` and investigate before exporting again"
        )
        self.period = period
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ArchiveVerification:
    """Result of verifying every archived segment, in order, from the genesis."""

    segments_checked: int
    records_checked: int
    problem: str | None = None
    segment: str | None = None
    chain_problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class AuditArchiver:
    """Exports closed months of an audit trail and verifies the archive."""

    def __init__(
        self,
        trail: AuditTrail,
        archive: AuditArchive,
        clock: Clock,
        retention_years: int = RETENTION_YEARS,
    ) -> None:
        self._trail = trail
        self._archive = archive
        self._clock = clock
        self._retention_years = retention_years

    def export_closed_periods(self, through: Month | None = None) -> list[ArchiveManifest]:
        """Export every closed month not yet archived, up to ``through`` if given.

        Raises ChainBrokenDuringExport, before writing that month's manifest, when the
        records to export do not verify.
        """
        now_ns = self._clock.now_ns()
        manifests = self._archive.manifests()
        anchor = manifests[-1].head if manifests else ChainHead()
        month_ends = self._last_seq_by_month(anchor.seq)
        exported = []
        for month in sorted(month_ends):
            if month.end_ns > now_ns or (through is not None and through < month):
                break
            last_seq = month_ends[month]
            if last_seq <= anchor.seq:
                continue
            manifest = self._export_segment(month, anchor, last_seq, now_ns)
            exported.append(manifest)
            anchor = manifest.head
        return exported

    def verify(self) -> ArchiveVerification:
        """Verify every segment's file digest, chain and link to the previous segment, and
        that the live trail still contains each segment's last record unchanged."""
        anchor = ChainHead()
        segments = records = 0
        for manifest in self._archive.manifests():
            problem = self._manifest_problem(manifest, anchor)
            if problem is not None:
                return ArchiveVerification(segments, records, problem, manifest.file)
            result = verify_chain(
                self._archive.read_segment(manifest),
                anchor=manifest.anchor,
                expected_head=manifest.head,
            )
            records += result.records_checked
            if result.problem is not None:
                return ArchiveVerification(
                    segments,
                    records,
                    f"segment {manifest.file}: {result.problem.message}",
                    manifest.file,
                    result.problem,
                )
            live = next(self._trail.records(manifest.last_seq, manifest.last_seq), None)
            if live is not None and (
                live.record_hash != manifest.last_hash or live.computed_hash() != manifest.last_hash
            ):
                return ArchiveVerification(
                    segments,
                    records,
                    f"the live trail's record {manifest.last_seq} no longer hashes to "
                    f"{manifest.last_hash}, which segment {manifest.file} archived: the live "
                    "trail was changed after the export",
                    manifest.file,
                )
            segments += 1
            anchor = manifest.head
        return ArchiveVerification(segments, records)

    def _last_seq_by_month(self, after_seq: int) -> dict[Month, int]:
        """Return, per month from the first unarchived record's month on, the highest
        sequence number recorded before that month ends."""
        latest: dict[Month, int] = {}
        for seq, recorded_at_ns in self._trail.recorded_times(after_seq + 1):
            month = Month.containing(recorded_at_ns)
            latest[month] = max(seq, latest.get(month, 0))
        if not latest:
            return {}
        months = sorted(latest)
        month_ends = {}
        running = 0
        month = months[0]
        while month <= months[-1]:
            running = max(running, latest.get(month, 0))
            month_ends[month] = running
            month = month.next()
        return month_ends

    def _export_segment(
        self, month: Month, anchor: ChainHead, last_seq: int, now_ns: int
    ) -> ArchiveManifest:
        tally = _SegmentTally(month, anchor)
        name = f"{month}_{anchor.seq + 1:012d}-{last_seq:012d}"
        file, digest = self._archive.write_segment(
            name, tally.checked(self._trail.records(anchor.seq + 1, last_seq))
        )
        latest_month = Month.containing(tally.latest_ns)
        manifest = ArchiveManifest(
            period=str(month),
            file=file,
            file_sha256=digest,
            first_seq=anchor.seq + 1,
            last_seq=tally.head.seq,
            records=tally.count,
            prev_hash=anchor.record_hash,
            last_hash=tally.head.record_hash,
            earliest_recorded_at_ns=tally.earliest_ns,
            latest_recorded_at_ns=tally.latest_ns,
            exported_at_ns=now_ns,
            retention_until=retention_date(max(month, latest_month), self._retention_years),
        )
        self._archive.write_manifest(manifest)
        self._trail.append_entries(
            [
                AuditEntry(
                    kind=ARCHIVED_KIND,
                    recorded_at_ns=now_ns,
                    body=manifest.model_dump(mode="json"),
                )
            ]
        )
        return manifest

    def _manifest_problem(self, manifest: ArchiveManifest, anchor: ChainHead) -> str | None:
        if manifest.first_seq != anchor.seq + 1 or manifest.prev_hash != anchor.record_hash:
            return (
                f"segment {manifest.file} starts at record {manifest.first_seq} linked to "
                f"{manifest.prev_hash}, but the archive before it ends at {anchor}: a segment "
                "is missing or was replaced"
            )
        digest = self._archive.segment_digest(manifest)
        if digest is None:
            return f"segment {manifest.file} is listed in its manifest but its file is missing"
        if digest != manifest.file_sha256:
            return (
                f"segment {manifest.file} has the SHA-256 digest {digest}, but its manifest "
                f"records {manifest.file_sha256}: the file was modified"
            )
        return None


class _SegmentTally:
    """Counts and verifies the records of a segment while they stream to the archive."""

    def __init__(self, month: Month, anchor: ChainHead) -> None:
        self.month = month
        self.walker = ChainWalker(anchor)
        self.head = anchor
        self.count = 0
        self.earliest_ns = 0
        self.latest_ns = 0

    def checked(self, records: Iterator[ChainedRecord]) -> Iterator[ChainedRecord]:
        for record in records:
            problem = self.walker.feed(record)
            if problem is not None:
                raise ChainBrokenDuringExport(self.month, problem)
            self._count(record)
            yield record
        result = self.walker.finish()
        if result.problem is not None:
            raise ChainBrokenDuringExport(self.month, result.problem)

    def _count(self, record: ChainedRecord) -> None:
        if self.count == 0:
            self.earliest_ns = self.latest_ns = record.recorded_at_ns
        self.earliest_ns = min(self.earliest_ns, record.recorded_at_ns)
        self.latest_ns = max(self.latest_ns, record.recorded_at_ns)
        self.head = ChainHead(record.seq, record.record_hash)
        self.count += 1
