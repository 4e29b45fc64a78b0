"""Start the decision service and the stream worker as real processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from twinbank.adapters.models.artifacts import save_xgboost_artifact
from twinbank.adapters.models.xgboost_model import XGBoostSettings
from twinbank.core.features.catalog import FeatureSetName
from twinbank.entrypoints.containers import build_container
from twinbank.entrypoints.settings import PlatformSettings
from twinbank.simulator.scenario import Scenario

DECIDE_KEY = "decide-key-for-tests"
READ_KEY = "read-key-for-tests"
DEVELOPER_KEY = "developer-key-for-tests"
VALIDATOR_KEY = "validator-key-for-tests"
RISK_MANAGER_KEY = "risk-manager-key-for-tests"
COMMITTEE_KEY = "committee-key-for-tests"
BUILDER_AS_VALIDATOR_KEY = "builder-as-validator-key-for-tests"

KEY_ENVIRONMENT = {
    "TWINBANK_TEST_DECIDE_KEY": DECIDE_KEY,
    "TWINBANK_TEST_READ_KEY": READ_KEY,
    "TWINBANK_TEST_DEVELOPER_KEY": DEVELOPER_KEY,
    "TWINBANK_TEST_VALIDATOR_KEY": VALIDATOR_KEY,
    "TWINBANK_TEST_RISK_MANAGER_KEY": RISK_MANAGER_KEY,
    "TWINBANK_TEST_COMMITTEE_KEY": COMMITTEE_KEY,
    "TWINBANK_TEST_BUILDER_AS_VALIDATOR_KEY": BUILDER_AS_VALIDATOR_KEY,
}


def _key(name: str, user: str, role: str, scopes: list[str], variable: str) -> dict[str, object]:
    return {"name": name, "user": user, "role": role, "scopes": scopes, "key_env": variable}


GOVERN = ["read", "govern"]
API_KEYS = [
    _key("gateway", "gateway", "service", ["decide"], "TWINBANK_TEST_DECIDE_KEY"),
    _key("analyst", "ana", "analyst", ["read"], "TWINBANK_TEST_READ_KEY"),
    _key("developer", "dan", "developer", GOVERN, "TWINBANK_TEST_DEVELOPER_KEY"),
    _key("validator", "vera", "validator", GOVERN, "TWINBANK_TEST_VALIDATOR_KEY"),
    _key("risk-manager", "mona", "model_risk_manager", GOVERN, "TWINBANK_TEST_RISK_MANAGER_KEY"),
    _key("committee", "rick", "risk_committee", GOVERN, "TWINBANK_TEST_COMMITTEE_KEY"),
    # The developer's own key in a reviewer role: separation of duties refuses it.
    _key("dan-validating", "dan", "validator", GOVERN, "TWINBANK_TEST_BUILDER_AS_VALIDATOR_KEY"),
]

SMALL_SCENARIO = {
    "name": "serving-tests",
    "transactions": {
        "kind": "generator",
        "settings": {
            "seed": 5,
            "start_date": "2018-04-01",
            "days": 30,
            "customers": 200,
            "terminals": 400,
        },
    },
    "model": {
        "training": {"training_start": "2018-04-10"},
        "hyperparameters": {"n_estimators": 20},
    },
}


def train_small_model(folder: Path, feature_set: FeatureSetName = "handbook") -> Path:
    """Train a small XGBoost model on generated data and save it as an artifact."""
    container = build_container(PlatformSettings(feature_set=feature_set))
    scenario = Scenario.model_validate(SMALL_SCENARIO)
    dataset = container.transactions.generated(scenario.transactions.settings)
    run = container.simulation.scenario_run(
        scenario=scenario,
        dataset=dataset,
        trainer=container.models.xgboost_trainer(
            settings=XGBoostSettings.model_validate(SMALL_SCENARIO["model"]["hyperparameters"])
        ),
    )
    model = run.train()
    save_xgboost_artifact(
        model.scorer, folder, container.features.feature_set().version, dataset.description
    )
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, model: Path, **overrides: object) -> Path:
    document = {
        "port": free_port(),
        "model": str(model),
        "journal": str(folder / "journal"),
        "api_keys": API_KEYS,
        **overrides,
    }
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


class ManagedProcess:
    """A ``twinbank`` subprocess with its output in a log file; stopped by PID."""

    def __init__(self, arguments: list[str], environment: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twinbank.entrypoints.cli", *arguments],
            env={**os.environ, **KEY_ENVIRONMENT, **environment},
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout_s: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()
        return self.process.returncode

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._file.close()


class ServiceProcess(ManagedProcess):
    """``twinbank serve``; in the memory profile its governance inventory is the SQLite
    file ``governance_db``, beside the log unless the environment names another."""

    def __init__(self, config: Path, profile: str, environment: dict[str, str], log: Path) -> None:
        document = yaml.safe_load(config.read_text(encoding="utf-8"))
        self.base_url = f"http://127.0.0.1:{document['port']}"
        environment = {
            "TWINBANK_GOVERNANCE_SQLITE_PATH": str(log.parent / "governance.db"),
            **environment,
        }
        self.governance_db = Path(environment["TWINBANK_GOVERNANCE_SQLITE_PATH"])
        super().__init__(["serve", str(config), "--profile", profile], environment, log)
        self._wait_until_live()

    def _wait_until_live(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"twinbank serve exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.terminate()
        pytest.fail(f"twinbank serve did not answer within {timeout_s} s:\n{self.output()}")

    def client(self, key: str | None) -> httpx.Client:
        headers = {} if key is None else {"X-API-Key": key}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)


@pytest.fixture(scope="session")
def model_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("model") / "artifact")


@pytest.fixture(scope="module")
def memory_service(
    model_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("memory-service")
    service = ServiceProcess(
        write_config(folder, model_artifact), "memory", {}, folder / "service.log"
    )
    yield service
    service.terminate()


def transaction_body(transaction_id: int, **changes: object) -> dict[str, object]:
    """Return a valid request; its time grows with the id (one minute per id), because
    the stream worker refuses events older than those it has applied."""
    moment = datetime(2018, 5, 2, 10, tzinfo=UTC) + timedelta(minutes=transaction_id)
    body: dict[str, object] = {
        "transaction_id": transaction_id,
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "customer_id": 17,
        "terminal_id": 33,
        "amount": 42.5,
    }
    body.update(changes)
    return body
