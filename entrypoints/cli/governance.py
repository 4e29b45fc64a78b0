"""``twinbank governance``: the model inventory and its gated lifecycle.

Every command names the acting person and role. Actions are checked against the
governance rules and recorded in the audit trail. A refused action records nothing
and exits with code 3.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twinbank.core.fairness import FairnessReport
from twinbank.core.governance import (
    ComplianceStatus,
    DocumentationEvidence,
    GateEvidence,
    GovernanceRefusal,
    GovernanceService,
    InventoryQuery,
    ModelRecord,
    ModelRegistration,
    ModelStatus,
    PerformanceEvidence,
    RiskTier,
    gate_of,
)

from .console import console, fail_bad_input
from .governance_common import (
    DatabaseOption,
    RoleOption,
    UserOption,
    actor,
    format_time,
    load_document,
    open_container,
    parse_time,
    refuse,
    require_role,
)

app = typer.Typer(
    help="Model inventory and lifecycle: register, submit, gate, sign, promote, status.",
    no_args_is_help=True,
)

ModelArgument = Annotated[str, typer.Argument(metavar="MODEL_ID", help="NAME@VERSION.")]
NoteOption = Annotated[str, typer.Option("--note", help="Comment stored in the audit trail.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why; stored in the audit trail.")]


class EvidenceGate(StrEnum):
    DOCUMENTATION = "documentation"
    PERFORMANCE = "performance"
    FAIRNESS = "fairness"


def _service(database: str | None) -> GovernanceService:
    return open_container(database).governance.service()


@app.command("register")
def register(
    registration_file: Annotated[
        Path, typer.Argument(metavar="REGISTRATION.yaml", help="The model's inventory details.")
    ],
    user: UserOption,
    role: RoleOption,
    database: DatabaseOption = None,
) -> None:
    """Register a model version in Development; the registering developer is its builder."""
    registration = load_document(registration_file, ModelRegistration, "registration")
    service = _service(database)
    try:
        record = service.register(actor(user, role), registration)
    except GovernanceRefusal as error:
        refuse(error)
    _print_record(record)


@app.command("submit")
def submit(
    model_id: ModelArgument,
    user: UserOption,
    role: RoleOption,
    note: NoteOption = "",
    database: DatabaseOption = None,
) -> None:
    """Submit a model for independent validation (Development -> Validation)."""
    _act(database, lambda service: service.submit(actor(user, role), model_id, note))


@app.command("gate")
def gate(
    model_id: ModelArgument,
    gate_name: Annotated[EvidenceGate, typer.Option("--gate", help="The evidence gate.")],
    evidence: Annotated[
        Path,
        typer.Option(
            help="Evidence file: documentation review (YAML/JSON), performance evidence or "
            "fairness report (the JSON files `twinbank fairness report` writes)."
        ),
    ],
    user: UserOption,
    role: RoleOption,
    note: NoteOption = "",
    database: DatabaseOption = None,
) -> None:
    """Record a validator's result for an evidence gate; performance and fairness are
    judged from the evidence by rule."""
    kinds: dict[EvidenceGate, type[GateEvidence]] = {
        EvidenceGate.DOCUMENTATION: DocumentationEvidence,
        EvidenceGate.PERFORMANCE: PerformanceEvidence,
        EvidenceGate.FAIRNESS: FairnessReport,
    }
    document = load_document(evidence, kinds[gate_name], f"{gate_name.value} evidence")
    record = _act(
        database,
        lambda service: service.record_gate_result(actor(user, role), model_id, document, note),
    )
    result = record.gate_results[gate_of(document)]
    verdict = "[green]passed[/green]" if result.passed else "[bold red]failed[/bold red]"
    console.print(f"{result.gate.value}: {verdict} (evidence SHA-256 {result.evidence_sha256})")


@app.command("sign")
def sign(
    model_id: ModelArgument,
    user: UserOption,
    role: RoleOption,
    note: NoteOption = "",
    database: DatabaseOption = None,
) -> None:
    """Sign off the gate of your role: independent validation (validator), model risk
    management sign-off (model_risk_manager) or risk committee approval."""
    _act(database, lambda service: service.sign(actor(user, role), model_id, note))


@app.command("promote")
def promote(
    model_id: ModelArgument, user: UserOption, role: RoleOption, database: DatabaseOption = None
) -> None:
    """Move a model one stage on: Validation -> Approval -> Production -> Monitoring."""
    _act(database, lambda service: service.promote(actor(user, role), model_id))


@app.command("reject")
def reject(
    model_id: ModelArgument,
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    database: DatabaseOption = None,
) -> None:
    """Reject a model under validation or approval."""
    _act(database, lambda service: service.reject(actor(user, role), model_id, reason))


@app.command("return")
def return_to_development(
    model_id: ModelArgument,
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    database: DatabaseOption = None,
) -> None:
    """Send a model back to Development; its next review starts afresh."""
    _act(
        database,
        lambda service: service.return_to_development(actor(user, role), model_id, reason),
    )


@app.command("retire")
def retire(
    model_id: ModelArgument,
    reason: ReasonOption,
    user: UserOption,
    role: RoleOption,
    database: DatabaseOption = None,
) -> None:
    """Retire a model for good."""
    _act(database, lambda service: service.retire(actor(user, role), model_id, reason))


@app.command("revalidate")
def revalidate(
    model_id: ModelArgument,
    compliance: Annotated[ComplianceStatus, typer.Option(help="The validation's conclusion.")],
    user: UserOption,
    role: RoleOption,
    note: NoteOption = "",
    database: DatabaseOption = None,
) -> None:
    """Record the periodic revalidation of a serving model (sets the next due date)."""
    _act(
        database,
        lambda service: service.record_periodic_validation(
            actor(user, role), model_id, compliance, note
        ),
    )


@app.command("status")
def status(
    user: UserOption,
    role: RoleOption,
    model_id: Annotated[
        str | None, typer.Argument(metavar="[MODEL_ID]", help="One model's full status.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only versions of this model name.")] = None,
    tier: Annotated[int | None, typer.Option(min=1, max=3, help="Only this risk tier.")] = None,
    state: Annotated[
        ModelStatus | None, typer.Option("--status", help="Only models in this status.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only models of this owner.")] = None,
    overdue: Annotated[
        bool, typer.Option(help="Only serving models whose validation is overdue now.")
    ] = False,
    in_production_at: Annotated[
        str | None,
        typer.Option(help="ISO 8601 time: which version of --name was serving then."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Show one model's status and what blocks it, or list the inventory."""
    container = open_container(database)
    require_role(container, actor(user, role))
    service = container.governance.service()
    try:
        if model_id is not None:
            _print_status(service, model_id)
            return
    except GovernanceRefusal as error:
        refuse(error)
    if in_production_at is not None:
        if name is None:
            fail_bad_input("--in-production-at needs --name, the model whose version to find")
        at = parse_time(in_production_at, "--in-production-at")
        record = service.in_production_at(name, at)
        if record is None:
            console.print(f"No version of {name} was serving at {format_time(at)}.")
            return
        console.print(f"{record.model_id} was serving at {format_time(at)}.")
        _print_record(record)
        return
    if overdue:
        records = service.overdue_validations()
    else:
        query = InventoryQuery(
            name=name,
            risk_tier=RiskTier(tier) if tier else None,
            status=state,
            owner=owner,
        )
        records = service.inventory(query)
    _print_inventory(records)


def _act(database: str | None, action) -> ModelRecord:  # type: ignore[no-untyped-def]
    service = _service(database)
    try:
        record = action(service)
    except GovernanceRefusal as error:
        refuse(error)
    _print_record(record)
    return record  # type: ignore[no-any-return]


def _print_record(record: ModelRecord) -> None:
    last = record.history[-1]
    console.print(
        f"{record.model_id}: {record.status.value} since {format_time(last.at_ns)} "
        f"({last.action} by {last.actor}); tier {int(record.risk_tier)}, revision "
        f"{record.revision}"
    )


def _print_status(service: GovernanceService, model_id: str) -> None:
    report = service.status(model_id)
    record = report.record
    _print_record(record)
    summary = Table(title=f"{record.model_id}", show_header=False)
    summary.add_column("field")
    summary.add_column("value")
    for field, value in (
        ("owner", record.owner),
        ("builders", ", ".join(record.builders)),
        ("material use", record.material_use),
        ("fair lending", "yes" if record.fair_lending else "no"),
        (
            "lineage",
            f"data {record.lineage.training_data_version}, features "
            f"{record.lineage.feature_pipeline_version}, run {record.lineage.training_run}",
        ),
        ("last validation", format_time(record.last_validation_ns)),
        ("next validation", format_time(record.next_validation_ns)),
        ("compliance", record.compliance_status.value),
        ("review cycle", str(record.review_cycle)),
        ("next stage", report.next_stage.value if report.next_stage else "–"),
        ("blocking gates", ", ".join(sorted(g.value for g in report.blocking_gates)) or "none"),
        ("required roles", ", ".join(sorted(r.value for r in report.required_roles))),
    ):
        summary.add_row(field, value)
    console.print(summary)
    gates = Table(title="Gates in this review")
    for column in ("gate", "required", "result", "by", "role", "at"):
        gates.add_column(column)
    for gate_name in sorted(report.required_gates | set(record.gate_results), key=str):
        required = "yes" if gate_name in report.required_gates else "no"
        result = record.gate_results.get(gate_name)
        if result is None:
            gates.add_row(gate_name.value, required, "–", "–", "–", "–")
            continue
        gates.add_row(
            gate_name.value,
            required,
            "passed" if result.passed else "failed",
            result.recorded_by,
            result.role.value,
            format_time(result.recorded_at_ns),
        )
    console.print(gates)
    history = Table(title="History")
    for column in ("at", "from", "to", "action", "by", "reason"):
        history.add_column(column)
    for change in record.history:
        history.add_row(
            format_time(change.at_ns),
            change.from_status.value if change.from_status else "–",
            change.to_status.value,
            change.action,
            f"{change.actor} ({change.role.value if change.role else '–'})",
            change.reason or "–",
        )
    console.print(history)


def _print_inventory(records: list[ModelRecord]) -> None:
    table = Table(title=f"Model inventory ({len(records)} models)")
    for column in ("model", "tier", "status", "owner", "next validation", "compliance"):
        table.add_column(column)
    for record in records:
        table.add_row(
            record.model_id,
            str(int(record.risk_tier)),
            record.status.value,
            record.owner,
            format_time(record.next_validation_ns),
            record.compliance_status.value,
        )
    console.print(table)
