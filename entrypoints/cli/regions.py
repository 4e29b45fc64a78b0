"""``twinbank simulate`` for multi-region scenarios: regions, failover, residency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from twinbank.adapters.transactions import InvalidTransactionData, TransactionDataset
from twinbank.simulator.regions.report import build_report
from twinbank.simulator.regions.scenario import MultiRegionScenario
from twinbank.simulator.regions.specs import ReplayedTraffic
from twinbank.simulator.regions.traffic import InvalidTrafficFile, TrafficFile
from twinbank.simulator.scenario import FileTransactions

from ..containers import ApplicationContainer, scenario_trainer
from .composition import open_application
from .console import console, fail_bad_input, progress_bar

REPORT_FILE = "report.json"
HTML_FILE = "report.html"
DECISIONS_FILE = "decisions.db"
OUTPUT_FILES = (REPORT_FILE, HTML_FILE, DECISIONS_FILE)


def simulate_regions(
    scenario: MultiRegionScenario, transactions: Path | None, out: Path | None, overwrite: bool
) -> None:
    """Run a multi-region scenario and write report.json, report.html and, when the
    scenario has a fraud section, decisions.db. Bad input exits with code 2 before
    anything is written."""
    out = out or Path("out") / scenario.name
    _check_output_folder(out, overwrite)
    container = open_application(sqlite_url=f"sqlite:///{(out / DECISIONS_FILE).resolve()}")
    traffic = _traffic_file(container, scenario)
    dataset = _fraud_transactions(container, scenario, transactions)
    trainer = (
        scenario_trainer(container, scenario.fraud.model) if scenario.fraud is not None else None
    )
    run = container.regions.run(
        scenario=scenario, traffic_file=traffic, transactions=dataset, trainer=trainer
    )
    with console.status("Training the fraud model and timing core decisions"):
        try:
            model = run.prepare()
        except ValueError as error:
            fail_bad_input(str(error))
    out.mkdir(parents=True, exist_ok=True)
    for stale in OUTPUT_FILES:
        (out / stale).unlink(missing_ok=True)
    with progress_bar() as progress:
        warm_up = progress.add_task(
            "Feeding the fraud model's history", total=None if model else 0, visible=bool(model)
        )
        task = progress.add_task(
            f"Simulating {scenario.name} (simulated seconds)", total=scenario.horizon_seconds
        )
        result = run.execute(
            model,
            progress=lambda done: progress.update(task, completed=done),
            warm_up_progress=lambda fed: progress.update(warm_up, completed=fed),
        )
        progress.update(warm_up, visible=False)
    # Imported here: matplotlib adds 0.4 s to every command's start otherwise.
    from twinbank.simulator.regions.html import render_html  # noqa: PLC0415

    with console.status("Writing the report"):
        report = build_report(result)
        (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (out / HTML_FILE).write_text(render_html(report), encoding="utf-8")
    _print_summary(report, out)


def _check_output_folder(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        fail_bad_input(f"--out {out}: exists and is not a folder; name a folder")
    earlier = [name for name in OUTPUT_FILES if (out / name).exists()]
    if earlier and not overwrite:
        fail_bad_input(
            f"--out {out}: holds an earlier run ({', '.join(earlier)}); "
            "choose another folder or pass --overwrite"
        )


def _traffic_file(
    container: ApplicationContainer, scenario: MultiRegionScenario
) -> TrafficFile | None:
    if not isinstance(scenario.traffic, ReplayedTraffic):
        return None
    try:
        return container.regions.traffic_file(  # type: ignore[no-any-return]
            scenario.traffic, scenario.region_names, scenario.horizon_seconds
        )
    except InvalidTrafficFile as error:
        fail_bad_input(f"traffic.path: {error}")


def _fraud_transactions(
    container: ApplicationContainer, scenario: MultiRegionScenario, override: Path | None
) -> TransactionDataset | None:
    fraud = scenario.fraud
    if fraud is None:
        if override is not None:
            fail_bad_input(
                f"scenario {scenario.name!r} has no fraud section; --transactions applies only "
                "to scenarios that decide transactions"
            )
        return None
    spec = fraud.transactions
    try:
        if isinstance(spec, FileTransactions):
            path = override or spec.path
            if path is None:
                fail_bad_input(
                    f"scenario {scenario.name!r} replays a transaction file but names none; "
                    "pass --transactions PATH or set fraud.transactions.path"
                )
            return container.transactions.file(path, spec.sequence_column)  # type: ignore[no-any-return]
        if override is not None:
            fail_bad_input(
                f"scenario {scenario.name!r} generates its transactions; --transactions applies "
                "only to fraud.transactions.kind: file"
            )
        return container.transactions.generated(spec.settings)  # type: ignore[no-any-return]
    except InvalidTransactionData as error:
        fail_bad_input(str(error))


def _print_summary(report: dict[str, Any], out: Path) -> None:
    table = Table(title=f"Scenario {report['scenario']} ({report['horizon_seconds']:,.0f} s)")
    for column in ("clients of", "requests", "avail.", "p99 ms", "SLA miss", "resid. rej."):
        table.add_column(column, justify="left" if column == "clients of" else "right")
    table.add_column("replicas", justify="right")
    table.add_column("stale", justify="right")

    sync = report["feature_sync"]["regions"]
    for name, region in report["regions"].items():
        clients = region["clients"]
        sla = clients["sla"]
        breaches = sla["same_region"]["breaches"] + sla["cross_region"]["breaches"]
        replicas = region["serving"]["replicas"]
        table.add_row(
            name,
            f"{clients['requests']:,}",
            _percent(clients["availability"]),
            _ms(clients["latency_ms"]["p99"]),
            f"{breaches:,}",
            f"{clients['unserved']['RESIDENCY_REJECTED']:,}",
            f"{replicas['min']}-{replicas['max']}",
            f"{sync[name]['decisions_over_target']:,}",
        )
    console.print(table)
    console.print(
        "avail.: served within the authorization window; SLA miss: served slower than the "
        "same- or cross-region target; stale: decisions on features older than "
        f"{report['feature_sync']['staleness_target_seconds']:g} s (by serving region)."
    )

    for failover in report["failovers"]:
        console.print(
            f"Failover of {failover['region']}: outage at {failover['outage_start_seconds']:,.0f} s, "
            f"detected after {_seconds(failover['detection_seconds'])} "
            f"(interval x threshold = {failover['documented_detection_seconds']:g} s), "
            f"traffic moved by {_seconds(failover['traffic_moved_by_seconds'])}"
        )

    fraud = report.get("fraud")
    if fraud and "fraud" in fraud:
        caught = fraud["fraud"]
        console.print(
            f"Fraud: {caught['caught']['twin']:,} of {caught['frauds']:,} caught "
            f"({caught['caught']['without_faults']:,} without faults), "
            f"{caught['missed_because_of_faults']:,} missed because of faults"
        )

    performance = report["performance"]
    console.print(
        f"{performance['simulated_requests']:,} requests in {performance['twin_wall_seconds']:.1f} s "
        f"({performance['simulated_requests_per_wall_second']:,.0f} per wall second); "
        f"served outside allowed jurisdictions: "
        f"{report['residency']['served_outside_allowed_jurisdictions']}"
    )
    files = [out / name for name in OUTPUT_FILES if (out / name).exists()]
    console.print("Reports: " + "   ".join(str(path) for path in files))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} s"
