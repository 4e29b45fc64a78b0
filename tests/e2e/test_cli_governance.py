"""End-to-end runs of the governance, audit and model-card commands."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.support.governance import fairness, performance
from twinbank.entrypoints.cli import app

ROOT = Path(__file__).resolve().parents[2]
REGISTRATION = ROOT / "scenarios" / "governance" / "credit-approval-german.yaml"
DOCUMENTATION = ROOT / "scenarios" / "governance" / "documentation-review.yaml"
MODEL = "credit-approval-german@1"


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    performance_file = tmp_path / "performance.json"
    performance_file.write_text(performance(MODEL, auc=0.79).model_dump_json(), encoding="utf-8")
    fairness_file = tmp_path / "fairness.json"
    fairness_file.write_text(fairness(MODEL).model_dump_json(), encoding="utf-8")
    return {
        "root": tmp_path,
        "database": tmp_path / "governance.db",
        "performance": performance_file,
        "fairness": fairness_file,
    }


def run(workspace: dict[str, Path], *arguments: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    database = f"sqlite:///{workspace['database']}"
    environment = {
        "TWINBANK_AUDIT_PSEUDONYMISATION_KEY": "a" * 32,
        "COLUMNS": "400",
        **(env or {}),
    }
    return CliRunner().invoke(app, [*arguments, "--database", database], env=environment)


def as_(user: str, role: str) -> list[str]:
    return ["--user", user, "--role", role]


def approve_to_production(workspace: dict[str, Path]) -> None:
    steps = [
        ["governance", "register", str(REGISTRATION), *as_("alice", "developer")],
        ["governance", "submit", MODEL, *as_("alice", "developer")],
        [
            "governance",
            "gate",
            MODEL,
            "--gate",
            "documentation",
            "--evidence",
            str(DOCUMENTATION),
            *as_("bob", "validator"),
        ],
        [
            "governance",
            "gate",
            MODEL,
            "--gate",
            "performance",
            "--evidence",
            str(workspace["performance"]),
            *as_("bob", "validator"),
        ],
        [
            "governance",
            "gate",
            MODEL,
            "--gate",
            "fairness",
            "--evidence",
            str(workspace["fairness"]),
            *as_("bob", "validator"),
        ],
        ["governance", "sign", MODEL, *as_("bob", "validator")],
        ["governance", "promote", MODEL, *as_("bob", "validator")],
        ["governance", "sign", MODEL, *as_("carol", "model_risk_manager"), "--note", "approved"],
        ["governance", "promote", MODEL, *as_("carol", "model_risk_manager")],
    ]
    for step in steps:
        result = run(workspace, *step)
        assert result.exit_code == 0, (step, result.output)


def test_model_reaches_production_through_the_cli(workspace):
    approve_to_production(workspace)
    result = run(workspace, "governance", "status", MODEL, *as_("erin", "validator"))
    assert result.exit_code == 0, result.output
    assert "production" in result.output
    assert "model_risk_management_sign_off" in result.output
    listing = run(workspace, "governance", "status", "--tier", "2", *as_("erin", "validator"))
    assert MODEL in listing.output
    serving = run(
        workspace,
        "governance",
        "status",
        "--name",
        "credit-approval-german",
        "--in-production-at",
        "2999-01-01T00:00:00",
        *as_("erin", "validator"),
    )
    assert f"{MODEL} was serving" in serving.output
    verify = run(workspace, "audit", "verify")
    assert verify.exit_code == 0, verify.output
    assert "audit chain intact: 9 records" in verify.output


def test_builder_signing_is_refused_with_exit_3(workspace):
    run(workspace, "governance", "register", str(REGISTRATION), *as_("alice", "developer"))
    run(workspace, "governance", "submit", MODEL, *as_("alice", "developer"))
    result = run(workspace, "governance", "sign", MODEL, *as_("alice", "validator"))
    assert result.exit_code == 3
    assert "'alice' built" in result.output
    assert "audit chain intact: 2 records" in run(workspace, "audit", "verify").output


def test_missing_gates_are_listed_with_exit_3(workspace):
    run(workspace, "governance", "register", str(REGISTRATION), *as_("alice", "developer"))
    run(workspace, "governance", "submit", MODEL, *as_("alice", "developer"))
    result = run(workspace, "governance", "promote", MODEL, *as_("bob", "validator"))
    assert result.exit_code == 3
    assert "documentation_complete" in result.output


def test_audit_verify_catches_a_record_changed_in_the_database(workspace):
    approve_to_production(workspace)
    with sqlite3.connect(workspace["database"]) as connection:
        connection.execute(
            'UPDATE audit_records SET body = REPLACE(body, \'"actor":"carol"\', '
            '\'"actor":"mallory"\') WHERE seq = 8'
        )
    result = run(workspace, "audit", "verify")
    assert result.exit_code == 4
    assert "at record 8 (modified)" in result.output
    assert "7 records verified" in result.output


def test_audit_verify_catches_a_removed_tail_against_the_head(workspace):
    approve_to_production(workspace)
    head = run(workspace, "audit", "head").output.strip()
    with sqlite3.connect(workspace["database"]) as connection:
        connection.execute("DELETE FROM audit_records WHERE seq = 9")
    assert run(workspace, "audit", "verify").exit_code == 0
    result = run(workspace, "audit", "verify", "--expect-head", head)
    assert result.exit_code == 4
    assert "at record 9 (removed)" in result.output


def test_bad_expected_head_is_bad_input(workspace):
    result = run(workspace, "audit", "verify", "--expect-head", "12:xyz")
    assert result.exit_code == 2
    assert "SEQ:HASH" in result.output


def test_invalid_registration_names_the_field(workspace):
    document = yaml.safe_load(REGISTRATION.read_text())
    document["risk_tier"] = 4
    path = workspace["root"] / "registration.yaml"
    path.write_text(yaml.safe_dump(document))
    result = run(workspace, "governance", "register", str(path), *as_("alice", "developer"))
    assert result.exit_code == 2
    assert "registration field risk_tier" in result.output
    assert "4" in result.output


def test_role_directory_limits_roles(workspace):
    roles = workspace["root"] / "roles.yaml"
    roles.write_text("users:\n  alice: [developer]\n  bob: [validator]\n")
    env = {"TWINBANK_GOVERNANCE_ROLES_FILE": str(roles)}
    assert (
        run(
            workspace,
            "governance",
            "register",
            str(REGISTRATION),
            *as_("alice", "developer"),
            env=env,
        ).exit_code
        == 0
    )
    run(workspace, "governance", "submit", MODEL, *as_("alice", "developer"), env=env)
    result = run(
        workspace,
        "governance",
        "gate",
        MODEL,
        "--gate",
        "documentation",
        "--evidence",
        str(DOCUMENTATION),
        *as_("mallory", "validator"),
        env=env,
    )
    assert result.exit_code == 3
    assert "'mallory' does not hold the role 'validator'" in result.output


def test_invalid_role_directory_is_bad_input(workspace):
    roles = workspace["root"] / "roles.yaml"
    roles.write_text("users:\n  alice: [boss]\n")
    result = run(
        workspace,
        "governance",
        "status",
        *as_("alice", "developer"),
        env={"TWINBANK_GOVERNANCE_ROLES_FILE": str(roles)},
    )
    assert result.exit_code == 2
    assert "users.alice.0" in result.output


def test_model_card_files(workspace):
    approve_to_production(workspace)
    out = workspace["root"] / "cards"
    result = run(workspace, "model-card", MODEL, "--out", str(out))
    assert result.exit_code == 0, result.output
    markdown = (out / "credit-approval-german_1.md").read_text()
    assert markdown.startswith(f"# Model card: {MODEL}")
    assert "## Caveats and recommendations" in markdown
    card = json.loads((out / "credit-approval-german_1.json").read_text())
    assert card["model_details"]["status"] == "production"
    assert card["metrics"][0]["name"] == "auc_roc"


def test_model_card_of_unknown_model_is_refused(workspace):
    result = run(workspace, "model-card", "nothing@1", "--out", str(workspace["root"] / "cards"))
    assert result.exit_code == 3
    assert "not in the inventory" in result.output


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("sqlite:///{root}/missing.db", "does not exist"),
        ("{root}/plain-path.db", "is not a SQLAlchemy URL"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot connect"),
    ],
)
def test_audit_verify_rejects_bad_database(tmp_path: Path, database: str, message: str):
    url = database.format(root=tmp_path)
    result = CliRunner().invoke(app, ["audit", "verify", "--database", url], env={"COLUMNS": "400"})

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "missing.db").exists()


def test_weak_pseudonymisation_key_stops_simulate(tmp_path: Path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["simulate", str(ROOT / "scenarios" / "baseline.yaml"), "--out", str(out)],
        env={"TWINBANK_AUDIT_PSEUDONYMISATION_KEY": "short", "COLUMNS": "400"},
    )

    assert result.exit_code == 2, result.output
    assert "has 5 bytes; use at least 16" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [["audit", "verify"], ["features", "materialize", "--until", "2030-01-01T00:00:00+00:00"]],
)
def test_misspelled_profile_names_the_setting(command: list[str]):
    result = CliRunner().invoke(app, command, env={"TWINBANK_PROFILE": "memroy", "COLUMNS": "400"})

    assert result.exit_code == 2, result.output
    assert "profile: Input should be 'memory', 'local' or 'production' (got 'memroy')" in (
        result.output
    )
    assert "errors.pydantic.dev" not in result.output
