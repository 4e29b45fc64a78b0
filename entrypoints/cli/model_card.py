"""``twinbank model-card``: generate a model card from the inventory and its evidence."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from twinbank.core.fairness import FairnessReport
from twinbank.core.governance import GovernanceRefusal, PerformanceEvidence, build_model_card

from .console import console, fail_bad_input
from .governance_common import DatabaseOption, load_document, open_container, refuse


class CardFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"
    BOTH = "both"


def model_card(
    model_id: Annotated[str, typer.Argument(metavar="MODEL_ID", help="NAME@VERSION.")],
    out: Annotated[Path, typer.Option(help="Folder for MODEL_ID.md and MODEL_ID.json.")] = Path(
        "out/model-cards"
    ),
    output_format: Annotated[
        CardFormat, typer.Option("--format", help="Which files to write.")
    ] = CardFormat.BOTH,
    performance: Annotated[
        Path | None,
        typer.Option(help="Performance evidence to use instead of the recorded gate evidence."),
    ] = None,
    fairness: Annotated[
        Path | None,
        typer.Option(help="Fairness report to use instead of the recorded gate evidence."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Write the model card of MODEL_ID: details, intended use, factors, metrics with
    intervals, data, analysis by group, ethical considerations, caveats, governance."""
    extra_performance = (
        load_document(performance, PerformanceEvidence, "performance evidence")
        if performance
        else None
    )
    extra_fairness = (
        load_document(fairness, FairnessReport, "fairness report") if fairness else None
    )
    container = open_container(database)
    service = container.governance.service()
    try:
        record = service.model(model_id)
    except GovernanceRefusal as error:
        refuse(error)
    card = build_model_card(
        record, container.platform.clock().now_ns(), extra_performance, extra_fairness
    )
    if out.exists() and not out.is_dir():
        fail_bad_input(f"--out {out}: exists and is not a folder; name a folder")
    out.mkdir(parents=True, exist_ok=True)
    stem = model_id.replace("@", "_")
    written = []
    if output_format in (CardFormat.MARKDOWN, CardFormat.BOTH):
        path = out / f"{stem}.md"
        path.write_text(card.markdown(), encoding="utf-8")
        written.append(path)
    if output_format in (CardFormat.JSON, CardFormat.BOTH):
        path = out / f"{stem}.json"
        path.write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
        written.append(path)
    console.print(
        f"Model card of {model_id} ({record.status.value}; fairness gate "
        f"{card.fairness_gate}): " + ", ".join(str(path) for path in written)
    )
