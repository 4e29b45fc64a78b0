"""``twinbank features``: compute feature values, check registries, materialize."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from twinbank.adapters.registry import load_registry
from twinbank.adapters.transactions import InvalidTransactionData, TransactionDataset
from twinbank.core.events import interleave_labels
from twinbank.core.features.batch import compute_batch
from twinbank.core.features.definitions import FeatureSet, InvalidFeatureDefinition
from twinbank.core.features.registry import FeatureRegistry, format_duration
from twinbank.core.features.streaming import StreamingFeatureEngine
from twinbank.core.timestamps import NaiveTimestampError, days, from_datetime
from twinbank.core.transactions import FraudLabel

from ..containers import ApplicationContainer
from ..settings import PlatformSettings
from .composition import open_application
from .console import console, fail_bad_input, progress_bar

app = typer.Typer(help="Feature computation from the shared definitions.", no_args_is_help=True)


class Mode(StrEnum):
    STREAM = "stream"
    BATCH = "batch"


@app.command("compute")
def compute(
    transactions: Annotated[
        Path, typer.Option(help="Transaction file (Parquet or CSV, handbook layout).")
    ],
    out: Annotated[Path, typer.Option(help="Parquet file to write, one row per transaction.")],
    mode: Annotated[
        Mode, typer.Option(help="stream: event by event; batch: whole table.")
    ] = Mode.STREAM,
    label_delay_days: Annotated[
        float, typer.Option(min=0.0, help="Days until a transaction's TX_FRAUD label is revealed.")
    ] = 7.0,
    sequence_column: Annotated[
        str | None, typer.Option(help="Column giving the arrival order among equal timestamps.")
    ] = None,
) -> None:
    """Write the feature set's values keyed by TRANSACTION_ID, in arrival order."""
    if out.suffix.lower() != ".parquet":
        fail_bad_input(f"--out {out}: must end in .parquet")
    if out.is_dir():
        fail_bad_input(f"--out {out}: is a folder; name a .parquet file")
    container = open_application()
    try:
        dataset = container.transactions.file(transactions, sequence_column)
    except InvalidTransactionData as error:
        fail_bad_input(str(error))
    feature_set = container.features.feature_set()
    delay_ns = days(label_delay_days)
    if mode is Mode.BATCH:
        with console.status(
            f"Computing {len(feature_set.names)} features over {len(dataset):,} rows"
        ):
            values = compute_batch(feature_set, dataset.table(), dataset.labels(delay_ns))
    else:
        values = _stream(container, feature_set, dataset, delay_ns)
    frame = _feature_frame(feature_set, dataset, values)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    console.print(
        f"Wrote {len(frame):,} rows x {len(feature_set.names)} features to {out} ({mode.value})"
    )


def _stream(
    container: ApplicationContainer,
    feature_set: FeatureSet,
    dataset: TransactionDataset,
    delay_ns: int,
) -> np.ndarray:
    engine = StreamingFeatureEngine(feature_set, container.features.state_store())
    values = np.empty((len(dataset), len(feature_set.names)))
    row = 0
    with progress_bar() as progress:
        task = progress.add_task("Streaming transactions and labels", total=len(dataset))
        for event in interleave_labels(dataset, delay_ns):
            if isinstance(event, FraudLabel):
                engine.observe_label(event)
                continue
            values[row] = engine.observe_transaction(event).values
            row += 1
            if row % 20_000 == 0:
                progress.update(task, completed=row)
        progress.update(task, completed=row)
    return values


def _feature_frame(
    feature_set: FeatureSet, dataset: TransactionDataset, values: np.ndarray
) -> pd.DataFrame:
    columns: dict[str, np.ndarray] = {"TRANSACTION_ID": dataset.transaction_id}
    for index, definition in enumerate(feature_set.definitions):
        column = values[:, index]
        columns[definition.name] = (
            column.astype(np.int64) if definition.dtype == "int64" else column
        )
    return pd.DataFrame(columns)


@app.command("registry")
def registry(
    source: Annotated[str, typer.Argument(help="Registry YAML file, or package.module:attribute.")],
    register: Annotated[
        bool, typer.Option(help="Also record this pipeline version in the registry store.")
    ] = False,
) -> None:
    """Validate a feature registry and list its features with their versions."""
    try:
        feature_set = load_registry(source)
    except InvalidFeatureDefinition as error:
        fail_bad_input(str(error))
    feature_registry = FeatureRegistry(feature_set)
    table = Table(title=f"pipeline {feature_set.name} version {feature_registry.pipeline_version}")
    for column in ("feature", "entity", "owner", "ttl", "tags", "version"):
        table.add_column(column)
    versions = feature_registry.versions()
    for definition in feature_set.definitions:
        table.add_row(
            definition.name,
            definition.entity or "-",
            definition.owner,
            str(format_duration(definition.ttl_ns)),
            ", ".join(definition.tags),
            versions[definition.name],
        )
    console.print(table)
    if register:
        container = open_application()
        now_ns = container.platform.clock().now_ns()
        added = container.features.registry_store().register(feature_set, now_ns)
        console.print("registered" if added else "already registered")


@app.command("materialize")
def materialize(
    until: Annotated[
        str, typer.Option(help="End of the event-time range, ISO 8601 with a time zone.")
    ],
) -> None:
    """Copy offline feature values to the online store, from each entity's watermark."""
    try:
        moment = datetime.fromisoformat(until)
        end_ns = from_datetime(moment)
    except (ValueError, NaiveTimestampError) as error:
        fail_bad_input(f"--until {until!r}: {error}")
    container = open_application()
    history_dir = PlatformSettings().feature_history_dir
    if not history_dir.is_dir():
        fail_bad_input(
            f"the feature history folder {history_dir} does not exist; point "
            "TWINBANK_FEATURE_HISTORY_DIR at a Parquet feature history (one that "
            "ParquetOfflineStore.append wrote)"
        )
    try:
        runs = container.serving.batch_materializer().materialize_incremental(end_ns)
    except ValueError as error:
        fail_bad_input(str(error))
    for run in runs:
        console.print(f"{run.entity}: {run.keys_written} keys written up to {until}")
