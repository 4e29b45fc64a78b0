"""``twinbank fairness``: fair-lending reports on the credit data sets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twinbank.adapters.credit import DEFAULT_STUDY_FILE, InvalidStudy, StudyOutcome
from twinbank.core.fairness import AttributeReport
from twinbank.core.fairness.markdown import fairness_markdown, format_interval, format_p_value
from twinbank.core.governance import PerformanceEvidence

from .composition import open_application
from .console import console, fail_bad_input

DATA_DIR_VARIABLE = "TWINBANK_DATA_DIR"
REPORT_FILE = "fairness-report.md"

app = typer.Typer(help="Fair-lending checks of credit approval models.", no_args_is_help=True)


@app.command("report")
def report(
    study_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[STUDY.yaml]",
            help="Study file; by default the Taiwan and German credit studies shipped with twinbank.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help=f"Folder holding credit/; by default ${DATA_DIR_VARIABLE}."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for the JSON evidence files and the Markdown report.")
    ] = Path("out/fairness"),
) -> None:
    """Train each study's credit approval model without the protected attributes, decide
    the held-out applicants, and report approval rates, impact ratios, tests and
    intervals by protected group.

    Writes STUDY-fairness.json and STUDY-performance.json (evidence for `twinbank
    governance gate`) and fairness-report.md to OUT.
    """
    container = open_application()
    folder = data_dir or _data_dir_from_environment()
    if out.exists() and not out.is_dir():
        fail_bad_input(f"--out {out}: exists and is not a folder; name a folder")
    try:
        studies = container.fairness.study_file(study_file or DEFAULT_STUDY_FILE)
        outcomes = []
        for study in studies.studies:
            with console.status(f"Training and deciding {study.name} ({study.file})"):
                outcomes.append(container.fairness.run_study(study, folder, studies.fairness))
    except InvalidStudy as error:
        fail_bad_input(str(error))
    out.mkdir(parents=True, exist_ok=True)
    sections = [f"# Fair-lending report: {studies.name}", ""]
    for outcome in outcomes:
        _print_outcome(outcome)
        name = outcome.study.name
        (out / f"{name}-fairness.json").write_text(
            outcome.report.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
        (out / f"{name}-performance.json").write_text(
            outcome.performance.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
        sections.append(_performance_markdown(outcome))
        sections.append(fairness_markdown(outcome.report, heading_level=3))
    (out / REPORT_FILE).write_text("\n".join(sections), encoding="utf-8")
    console.print(f"Reports: {out}/ ({REPORT_FILE}, *-fairness.json, *-performance.json)")


def _data_dir_from_environment() -> Path:
    value = os.environ.get(DATA_DIR_VARIABLE)
    if not value:
        fail_bad_input(
            f"no data folder: pass --data-dir or set {DATA_DIR_VARIABLE} to the folder "
            "that holds credit/"
        )
    return Path(value)


def _print_outcome(outcome: StudyOutcome) -> None:
    study = outcome.study
    console.rule(f"{study.name}: {outcome.report.model}")
    console.print(
        f"{outcome.training_rows:,} training and {outcome.test_rows:,} test applicants; "
        f"{len(outcome.inputs)} model inputs, none of them protected. "
        f"{outcome.report.decision_rule.capitalize()}."
    )
    console.print(_performance_table(outcome.performance))
    for attribute in outcome.report.attributes:
        console.print(_attribute_table(attribute))
    findings = outcome.report.findings
    if findings:
        for finding in findings:
            console.print(
                f"[bold red]adverse impact[/bold red] {finding.attribute} = {finding.group}: "
                f"ratio {finding.ratio:.3f} against {finding.reference_group}, "
                f"p = {format_p_value(finding.p_value)}"
            )
        console.print("Fairness gate: [bold red]failed[/bold red]")
    else:
        console.print("Fairness gate: [bold green]passed[/bold green]")


def _performance_table(performance: PerformanceEvidence) -> Table:
    table = Table(title="Model performance on the test set")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI")
    table.add_column("method")
    for name, estimate in performance.metrics.items():
        interval = (
            "–"
            if estimate.lower is None or estimate.upper is None
            else f"[{estimate.lower:.3f}, {estimate.upper:.3f}]"
        )
        table.add_row(name, f"{estimate.value:.3f}", interval, estimate.method)
    return table


def _attribute_table(attribute: AttributeReport) -> Table:
    table = Table(
        title=f"{attribute.attribute} (reference {attribute.reference_group})", show_lines=False
    )
    for column in (
        "group",
        "n",
        "approved",
        "rate [CI]",
        "impact ratio [CI]",
        "test",
        "p-value",
        "status",
        "EO diff [CI]",
        "EO p",
    ):
        table.add_column(column, justify="right" if column in {"n", "approved"} else "left")
    for group in attribute.groups:
        approval = group.approval
        opportunity = group.equal_opportunity
        eo_difference = eo_p = "–"
        if opportunity is not None:
            comparison = opportunity.comparison
            eo_difference = (
                f"{comparison.difference:+.3f} {format_interval(comparison.difference_interval)}"
            )
            eo_p = format_p_value(comparison.p_value)
        ratio = "–" if approval.ratio is None else f"{approval.ratio:.3f}"
        status = group.status.value.replace("_", " ")
        if group.status.value == "adverse_impact":
            status = f"[bold red]{status}[/bold red]"
        table.add_row(
            group.group,
            f"{group.applicants:,}",
            f"{group.approved:,}",
            f"{approval.rate:.3f} {format_interval(approval.rate_interval)}",
            f"{ratio} {format_interval(approval.ratio_interval)}",
            "–" if approval.test is None else approval.test.value.replace("_", " "),
            format_p_value(approval.adjusted_p_value),
            status,
            eo_difference,
            eo_p,
        )
    return table


def _performance_markdown(outcome: StudyOutcome) -> str:
    study = outcome.study
    lines = [
        f"## {study.name}",
        "",
        study.description,
        "",
        f"Model {outcome.report.model}: gradient-boosted trees on {len(outcome.inputs)} inputs "
        f"(protected attributes and {', '.join(study.excluded_inputs) or 'nothing else'} "
        f"excluded); {outcome.training_rows:,} training and {outcome.test_rows:,} test "
        "applicants.",
        "",
        "| metric | value | 95% CI | method |",
        "| --- | ---: | --- | --- |",
    ]
    for name, estimate in outcome.performance.metrics.items():
        interval = (
            "–"
            if estimate.lower is None or estimate.upper is None
            else f"[{estimate.lower:.3f}, {estimate.upper:.3f}]"
        )
        lines.append(f"| {name} | {estimate.value:.3f} | {interval} | {estimate.method} |")
    return "\n".join(lines) + "\n"
