"""``twinbank simulate``: run a scenario through the digital twin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from twinbank.adapters.transactions import InvalidTransactionData, TransactionDataset
from twinbank.simulator.regions.scenario import MultiRegionScenario
from twinbank.simulator.report import build_report
from twinbank.simulator.scenario import FileTransactions, InvalidScenario, Scenario, load_scenario

from ..containers import ApplicationContainer, scenario_trainer
from .composition import open_application, platform_settings
from .console import console, fail_bad_input, progress_bar
from .regions import simulate_regions

REPORT_FILE = "report.json"
DECISIONS_FILE = "decisions.db"


def simulate(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.yaml", help="Scenario file.")],
    transactions: Annotated[
        Path | None,
        typer.Option(
            help="Transaction file to replay (Parquet or CSV); overrides the scenario's path."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder for report.json and decisions.db.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an earlier run's report and decisions in OUT.")
    ] = False,
) -> None:
    """Run a scenario through the twin and write its report.

    A replay scenario decides every transaction; a multi-region scenario simulates
    regions, failover and residency and writes report.json and report.html.
    """
    scenario = _load_scenario(scenario_path)
    if isinstance(scenario, MultiRegionScenario):
        simulate_regions(scenario, transactions, out, overwrite)
        return
    out = out or Path("out") / scenario.name
    _check_output_folder(out, overwrite)
    container = open_application(
        platform_settings(**scenario.platform_overrides()),
        sqlite_url=f"sqlite:///{(out / DECISIONS_FILE).resolve()}",
        bulk_load_decisions=True,
    )
    dataset = _load_dataset(container, scenario, transactions)
    run = container.simulation.scenario_run(
        scenario=scenario,
        dataset=dataset,
        trainer=scenario_trainer(container, scenario.model),
    )
    with console.status("Computing batch features and training on the protocol's training week"):
        try:
            model = run.train()
        except ValueError as error:
            fail_bad_input(str(error))
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / REPORT_FILE, out / DECISIONS_FILE):
        stale.unlink(missing_ok=True)
    with progress_bar() as progress:
        task = progress.add_task(f"Replaying {scenario.name}", total=len(dataset))
        result = run.finish(model, lambda done: progress.update(task, completed=done))
    report = build_report(result)
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _print_summary(report, out)


def _load_scenario(path: Path) -> Scenario | MultiRegionScenario:
    try:
        return load_scenario(path)
    except InvalidScenario as error:
        fail_bad_input(str(error))


def _check_output_folder(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        fail_bad_input(f"--out {out}: exists and is not a folder; name a folder")
    earlier = [name for name in (REPORT_FILE, DECISIONS_FILE) if (out / name).exists()]
    if earlier and not overwrite:
        fail_bad_input(
            f"--out {out}: holds an earlier run ({', '.join(earlier)}); "
            "choose another folder or pass --overwrite"
        )


def _load_dataset(
    container: ApplicationContainer, scenario: Scenario, override: Path | None
) -> TransactionDataset:
    spec = scenario.transactions
    try:
        if isinstance(spec, FileTransactions):
            path = override or spec.path
            if path is None:
                fail_bad_input(
                    f"scenario {scenario.name!r} replays a file but names none; "
                    "pass --transactions PATH or set transactions.path"
                )
            return container.transactions.file(path, spec.sequence_column)
        if override is not None:
            fail_bad_input(
                f"scenario {scenario.name!r} generates its transactions; "
                "--transactions applies only to scenarios with transactions.kind: file"
            )
        return container.transactions.generated(spec.settings)
    except InvalidTransactionData as error:
        fail_bad_input(str(error))


def _print_summary(report: dict[str, Any], out: Path) -> None:
    table = Table(title=f"Scenario {report['scenario']}", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("transactions", f"{report['transactions']:,}")
    for outcome, count in report["decisions"].items():
        table.add_row(f"decisions {outcome}", f"{count:,}")
    fraud = report["fraud"]
    if fraud.get("labelled"):
        table.add_row("frauds", f"{fraud['frauds']:,}")
        table.add_row("fraud caught (step-up or decline)", f"{fraud['caught']['total']:,}")
        table.add_row("false positives", f"{fraud['false_positives']['total']:,}")
    twin = report["metrics"].get("twin")
    if twin:
        published = report["metrics"]["handbook_published_xgboost"]
        for name, value in twin.items():
            table.add_row(f"test week {name} (handbook XGBoost {published[name]})", f"{value:.3f}")
    latency = report["latency_us"]["total"]
    if latency:
        table.add_row(
            "core latency p50 / p95 / p99 (µs)",
            f"{latency['p50']:.0f} / {latency['p95']:.0f} / {latency['p99']:.0f}",
        )
    throughput = report["throughput"]
    table.add_row("replay wall time (s)", f"{throughput['replay_wall_seconds']:.1f}")
    table.add_row("decisions per second", f"{throughput['decisions_per_second']:,.0f}")
    console.print(table)
    console.print(f"Report: {out / REPORT_FILE}   Decisions: {out / DECISIONS_FILE}")
