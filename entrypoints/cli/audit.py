"""``twinbank audit``: verify, anchor, export and read the hash-chained audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twinbank.adapters.audit import InvalidArchive
from twinbank.core.audit import (
    ArchiveVerification,
    ChainBrokenDuringExport,
    ChainHead,
    ChainVerification,
    Month,
    verify_trail,
)

from .console import console, errors, fail_bad_input
from .governance_common import (
    VERIFICATION_FAILED,
    DatabaseOption,
    open_container,
)

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)

ArchiveOption = Annotated[
    Path | None,
    typer.Option(help="Archive folder; by default TWINBANK_AUDIT_ARCHIVE_DIR (audit-archive)."),
]


@app.command("verify")
def verify(
    database: DatabaseOption = None,
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH printed earlier by `twinbank audit head`: the chain must still "
            "contain it, which also catches records removed from the end."
        ),
    ] = None,
    archive: Annotated[
        Path | None, typer.Option(help="Also verify the segments archived in this folder.")
    ] = None,
) -> None:
    """Check every record's hash and link; name the first record that was modified,
    removed, inserted or reordered. Exits with code 4 when the chain is broken."""
    expected = None
    if expect_head is not None:
        try:
            expected = ChainHead.parse(expect_head)
        except ValueError as error:
            fail_bad_input(f"--expect-head: {error}")
    container = open_container(database, must_exist=True)
    trail = container.audit.trail()
    with console.status("Verifying the audit chain"):
        result = verify_trail(trail, expected_head=expected)
    _print_chain(result)
    archive_result = None
    if archive is not None:
        try:
            with console.status(f"Verifying the archive in {archive}"):
                archive_result = container.audit.archiver(
                    archive=_archive(container, archive)
                ).verify()
        except InvalidArchive as error:
            fail_bad_input(str(error))
        _print_archive(archive_result)
    if not result.ok or (archive_result is not None and not archive_result.ok):
        raise typer.Exit(VERIFICATION_FAILED)


@app.command("head")
def head(database: DatabaseOption = None) -> None:
    """Print the chain head as SEQ:HASH, to anchor it outside the database."""
    container = open_container(database, must_exist=True)
    console.print(str(container.audit.trail().head()), highlight=False)


@app.command("export")
def export(
    archive: ArchiveOption = None,
    through: Annotated[
        str | None,
        typer.Option(help="Last month to export (YYYY-MM); by default every closed one."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Export each closed month not yet archived, with a manifest and a 7-year retention date."""
    last = None
    if through is not None:
        try:
            last = Month.parse(through)
        except ValueError as error:
            fail_bad_input(f"--through: {error}")
    container = open_container(database, must_exist=True)
    archiver = container.audit.archiver(archive=_archive(container, archive))
    try:
        with console.status("Exporting closed months"):
            manifests = archiver.export_closed_periods(last)
    except ChainBrokenDuringExport as error:
        errors.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        raise typer.Exit(VERIFICATION_FAILED) from error
    except InvalidArchive as error:
        fail_bad_input(str(error))
    if not manifests:
        console.print("Nothing to export: no closed month contains unarchived records.")
        return
    table = Table(title="Exported segments")
    for column in ("period", "records", "seq", "file", "retain until"):
        table.add_column(column)
    for manifest in manifests:
        table.add_row(
            manifest.period,
            f"{manifest.records:,}",
            f"{manifest.first_seq}-{manifest.last_seq}",
            manifest.file,
            manifest.retention_until.isoformat(),
        )
    console.print(table)


@app.command("show")
def show(
    decision_id: Annotated[str, typer.Argument(metavar="DECISION_ID")],
    database: DatabaseOption = None,
) -> None:
    """Print a decision's audit record, with its features by name and its model's lineage."""
    container = open_container(database, must_exist=True)
    trail = container.audit.trail()
    record = trail.decision(decision_id)
    if record is None:
        fail_bad_input(f"decision {decision_id!r} is not in the audit trail")
    body = json.loads(record.body_json)
    features = body.get("features") or {}
    names = trail.feature_set_names(features.get("feature_set_version", "")) or ()
    table = Table(title=f"Decision {decision_id} (record {record.seq})", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in body.items():
        if key != "features":
            table.add_row(key, json.dumps(value, ensure_ascii=False))
    table.add_row("feature set", str(features.get("feature_set_version")))
    for name, value in zip(names, features.get("values", []), strict=False):
        table.add_row(f"  {name}", "null" if value is None else f"{value:g}")
    table.add_row("record hash", record.record_hash)
    console.print(table)
    model_id = record.model_id
    if model_id is not None:
        inventory = container.governance.store().get(model_id)
        if inventory is not None:
            lineage = inventory.lineage
            console.print(
                f"Model {model_id}: training data {lineage.training_data_version}, feature "
                f"pipeline {lineage.feature_pipeline_version}, training run {lineage.training_run}"
            )


def _archive(container, folder: Path | None):  # type: ignore[no-untyped-def]
    if folder is None:
        return container.audit.archive()
    return container.audit.archive(root=folder)


def _print_chain(result: ChainVerification) -> None:
    if result.ok:
        console.print(
            f"[bold green]audit chain intact[/bold green]: {result.records_checked:,} records, "
            f"head {result.head}",
            highlight=False,
        )
        if result.records_checked == 0:
            console.print(
                "[yellow]the trail holds no records[/yellow]: nothing was chained into this "
                "database (multi-region scenario runs keep only the decision table)",
                highlight=False,
            )
        return
    problem = result.problem
    if problem is None:
        return
    errors.print(
        f"[bold red]audit chain broken[/bold red] at record {problem.seq} "
        f"({problem.kind.value}): {problem.message}. {result.records_checked:,} records "
        f"verified before it (up to {result.head}).",
        highlight=False,
    )


def _print_archive(result: ArchiveVerification) -> None:
    if result.ok:
        console.print(
            f"[bold green]archive intact[/bold green]: {result.segments_checked} segments, "
            f"{result.records_checked:,} records",
            highlight=False,
        )
        return
    errors.print(f"[bold red]archive broken[/bold red]: {result.problem}", highlight=False)
