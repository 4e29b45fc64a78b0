"""Bad input to ``twinbank serve``, ``worker`` and ``train-model`` exits with code 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.support.serving import API_KEYS, KEY_ENVIRONMENT
from twinbank.adapters.models.artifacts import load_artifact
from twinbank.entrypoints.cli import app
from twinbank.entrypoints.governance_settings import GovernanceSettings


def _invoke(*arguments: str, environment: dict[str, str | None] | None = None):
    # A wide terminal, so that rich does not wrap the messages the tests look for.
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "400", **(environment or {})})


def _config(folder: Path, **document: object) -> Path:
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"api_keys": API_KEYS}, "set exactly one of 'model'"),
        ({"model": "m", "api_keys": []}, "api_keys"),
        ({"model": "m", "api_keys": API_KEYS, "port": 70000}, "port"),
        ({"model": "m", "api_keys": API_KEYS, "colour": "red"}, "colour"),
        (
            {"model": "m", "api_keys": [{**API_KEYS[0], "key_sha256": "ab" * 32}]},
            "exactly one of key_sha256 and key_env",
        ),
        ({"model": "m", "api_keys": [API_KEYS[0], API_KEYS[0]]}, "repeated: ['gateway']"),
        (
            {"model": "m", "api_keys": [{**API_KEYS[2], "role": "operator"}]},
            "key 'developer' has the govern scope, so its role must be a governance role, one "
            "of developer, validator, model_risk_manager, risk_committee; got 'operator'",
        ),
        (
            {"model": "m", "api_keys": API_KEYS, "governance_model_id": "Card Fraud"},
            "governance_model_id: Value error, must be NAME@VERSION",
        ),
        (
            {"model": "m", "api_keys": API_KEYS, "governance_gate": "warn"},
            "governance_gate: Input should be 'enforce' or 'report'",
        ),
    ],
)
def test_invalid_serve_config_exits_2(tmp_path: Path, document: dict, message: str):
    result = _invoke("serve", str(_config(tmp_path, **document)))

    assert result.exit_code == 2, result.output
    assert "serve.yaml" in result.output
    assert message in result.output


def test_missing_model_folder_exits_2(tmp_path: Path):
    config = _config(tmp_path, model="no-such-model", api_keys=API_KEYS)

    result = _invoke(
        "serve",
        str(config),
        environment=dict.fromkeys(KEY_ENVIRONMENT, "k"),
    )

    assert result.exit_code == 2
    assert "manifest.json does not exist" in result.output


def test_unset_key_variable_exits_2(tmp_path: Path, model_artifact: Path):
    config = _config(tmp_path, model=str(model_artifact), api_keys=API_KEYS[:1])

    result = _invoke("serve", str(config), environment={"TWINBANK_TEST_DECIDE_KEY": ""})

    assert result.exit_code == 2
    assert "TWINBANK_TEST_DECIDE_KEY is unset or empty" in result.output


def test_worker_refuses_the_memory_profile():
    result = _invoke("worker", "--profile", "memory")

    assert result.exit_code == 2
    assert "--profile local" in result.output


def test_damaged_model_artifact_is_refused(tmp_path: Path, model_artifact: Path):
    copy = tmp_path / "model"
    copy.mkdir()
    (copy / "manifest.json").write_bytes((model_artifact / "manifest.json").read_bytes())
    booster = bytearray((model_artifact / "model.ubj").read_bytes())
    booster[len(booster) // 2] ^= 0x01
    (copy / "model.ubj").write_bytes(bytes(booster))

    with pytest.raises(ValueError, match=r"replaced or damaged|cannot be loaded"):
        load_artifact(copy)


def test_enforced_governance_gate_rejects_unapproved_model(tmp_path: Path, model_artifact: Path):
    config = _config(
        tmp_path,
        model=str(model_artifact),
        journal=str(tmp_path / "journal"),
        api_keys=API_KEYS,
        governance_gate="enforce",
        governance_model_id="card-fraud@7",
    )

    result = _invoke(
        "serve",
        str(config),
        environment={
            **KEY_ENVIRONMENT,
            "TWINBANK_GOVERNANCE_SQLITE_PATH": str(tmp_path / "governance.db"),
        },
    )

    assert result.exit_code == 2, result.output
    assert "served model card-fraud@7 is not in the governance inventory" in result.output
    assert "governance_gate enforce serves only models in production or monitoring" in (
        result.output
    )
    assert "set governance_gate: report" in result.output


def test_production_profile_needs_a_role_file(tmp_path: Path, model_artifact: Path):
    config = _config(tmp_path, model=str(model_artifact), api_keys=API_KEYS)

    result = _invoke(
        "serve",
        str(config),
        "--profile",
        "production",
        environment={
            **KEY_ENVIRONMENT,
            "TWINBANK_AUDIT_PSEUDONYMISATION_KEY": "a-test-key-of-enough-length",
            "TWINBANK_GOVERNANCE_ROLES_FILE": None,
        },
    )

    assert result.exit_code == 2, result.output
    assert "TWINBANK_GOVERNANCE_ROLES_FILE" in result.output


def test_production_profile_needs_a_pseudonymisation_key(tmp_path: Path, model_artifact: Path):
    config = _config(tmp_path, model=str(model_artifact), api_keys=API_KEYS)

    result = _invoke(
        "serve",
        str(config),
        "--profile",
        "production",
        environment={**KEY_ENVIRONMENT, "TWINBANK_AUDIT_PSEUDONYMISATION_KEY": None},
    )

    assert result.exit_code == 2, result.output
    assert "TWINBANK_AUDIT_PSEUDONYMISATION_KEY" in result.output


def test_empty_roles_file_variable_means_no_file(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TWINBANK_GOVERNANCE_ROLES_FILE", "")

    assert GovernanceSettings().roles_file is None


def test_serve_rejects_a_busy_port(tmp_path: Path, model_artifact: Path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = _config(
            tmp_path,
            model=str(model_artifact),
            journal=str(tmp_path / "journal"),
            api_keys=API_KEYS,
            port=port,
        )

        result = _invoke("serve", str(config), environment=KEY_ENVIRONMENT)

    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "journal").exists()
