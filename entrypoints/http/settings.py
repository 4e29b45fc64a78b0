"""Configuration of ``twinbank serve``: a YAML file validated by pydantic."""

from __future__ import annotations

import hashlib
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from twinbank.core.governance import Role

GovernanceGate = Literal["enforce", "report"]
"""Whether ``twinbank serve`` requires the served model to be approved in the inventory."""

INVENTORY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9._-]{0,99}")
"""A model's id in the governance inventory: NAME@VERSION."""


class InvalidServeSettings(ValueError):
    """A serve configuration that fails validation; the message names file and field."""


class Scope(StrEnum):
    """Permission an API key grants."""

    DECIDE = "decide"  # POST /v1/decisions
    READ = "read"  # online features, models, governance state
    GOVERN = "govern"  # governance actions, taken in the key's role


class ApiKeySettings(BaseModel):
    """One API key: who uses it, with which role, for what.

    The key itself never appears in the file: give either ``key_sha256`` (the hex
    SHA-256 of the key) or ``key_env`` (the environment variable that contains the key).
    ``name`` identifies the key in logs. A key with the ``govern`` scope acts as
    ``user`` in ``role``, which must then be a governance role.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=64)
    scopes: frozenset[Scope] = Field(min_length=1)
    key_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _one_source(self) -> ApiKeySettings:
        if (self.key_sha256 is None) == (self.key_env is None):
            raise ValueError(f"key {self.name!r}: give exactly one of key_sha256 and key_env")
        return self

    @model_validator(mode="after")
    def _governance_role(self) -> ApiKeySettings:
        roles = [role.value for role in Role]
        if Scope.GOVERN in self.scopes and self.role not in roles:
            raise ValueError(
                f"key {self.name!r} has the govern scope, so its role must be a governance "
                f"role, one of {', '.join(roles)}; got {self.role!r}"
            )
        return self


class TelemetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="Where decision traces go; otlp sends to otlp_endpoint."
    )
    otlp_endpoint: str = Field(
        "http://127.0.0.1:4317", description="OTLP gRPC endpoint of a trace collector."
    )
    service_name: str = "twinbank-decisions"


class EnsembleArtifactSettings(BaseModel):
    """A stored ensemble, by the store folder and the version ``twinbank train`` printed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: Path
    name: str = "fraud-ensemble"
    version: str = Field(pattern=r"^[0-9a-f]{16}$")


class ServeSettings(BaseModel):
    """Configuration of ``twinbank serve``; every field has a safe default except the model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535)
    model: Path | None = Field(
        None, description="Model artifact folder (written by twinbank train-model)."
    )
    ensemble: EnsembleArtifactSettings | None = Field(
        None, description="Serve a stored ensemble (twinbank train) instead of a model folder."
    )
    rules: Path | None = Field(
        None,
        description=(
            "Rule file (YAML) applied to degraded decisions only: the floors of firing "
            "rules raise the score and their codes join the reasons."
        ),
    )
    governance_model_id: str | None = Field(
        None,
        description=(
            "Inventory id (NAME@VERSION) of the served model; by default "
            "card-fraud-KIND@VERSION from the artifact manifest, such as "
            "card-fraud-xgboost@xgb-0123456789ab."
        ),
    )
    governance_gate: GovernanceGate | None = Field(
        None,
        description=(
            "enforce: refuse to start unless the inventory has the served model in "
            "production or monitoring; report: start anyway and show its status in "
            "/readyz. By default enforce in the production profile, report otherwise."
        ),
    )
    journal: Path = Field(
        Path("out/serve/journal"), description="Folder of the local decision journal."
    )
    journal_sync: Literal["fsync", "os"] = Field(
        "fsync",
        description=(
            "fsync: a decision is answered after its record is on disk; "
            "os: after the operating system has it (survives a process crash only)."
        ),
    )
    journal_inline_sync_below_ms: float = Field(
        5.0,
        ge=0,
        le=100,
        description=(
            "With fsync, sync on the request loop while recent syncs took less than this "
            "on average, and in a worker thread otherwise; 0 always uses the thread. "
            "The default is the GIL's switch interval, about what a thread waits to answer."
        ),
    )
    forwarding: Literal["thread", "process"] | None = Field(
        None,
        description=(
            "Where the journal forwarders run: thread (inside the service) or process "
            "(`twinbank forward`, started and restarted by the service, so that their "
            "work does not hold the service's interpreter lock). By default process, "
            "except in the memory profile, whose event stream lives in the service."
        ),
    )
    audit_linger_ms: float = Field(
        100.0,
        ge=0,
        le=5_000,
        description=(
            "After forwarding a small batch of journaled decisions to the audit database, "
            "wait this long so that the next batch carries more (fewer commits)."
        ),
    )
    events_linger_ms: float = Field(
        10.0,
        ge=0,
        le=1_000,
        description=(
            "The same wait for publishing decided transactions to the event stream; it "
            "delays the stream worker's feature updates by as much."
        ),
    )
    feature_lookup_timeout_ms: float = Field(
        20.0, gt=0, le=1_000, description="Budget of one feature-state read."
    )
    feature_retry_after_ms: float = Field(
        500.0,
        gt=0,
        description="After a failed feature-state read, decide degraded this long before trying again.",
    )
    max_batch: int = Field(
        64, ge=1, le=4096, description="Most decisions scored in one model call."
    )
    idempotency_cache: int = Field(
        100_000, ge=0, description="Recent decisions kept to return the same response to a retry."
    )
    api_keys: tuple[ApiKeySettings, ...] = Field(min_length=1)
    telemetry: TelemetrySettings = TelemetrySettings()

    @field_validator("governance_model_id")
    @classmethod
    def _inventory_id(cls, value: str | None) -> str | None:
        if value is not None and not INVENTORY_ID.fullmatch(value):
            raise ValueError(
                "must be NAME@VERSION, each of lower-case letters, digits, '.', '_' and '-', "
                "such as card-fraud-xgboost@xgb-0123456789ab"
            )
        return value

    @model_validator(mode="after")
    def _one_model(self) -> ServeSettings:
        if (self.model is None) == (self.ensemble is None):
            raise ValueError(
                "set exactly one of 'model' (a twinbank train-model folder) and 'ensemble' "
                "({store, version} from twinbank train)"
            )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> ServeSettings:
        names = [key.name for key in self.api_keys]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"api key names must be unique; repeated: {duplicates}")
        return self


def load_serve_settings(path: Path) -> ServeSettings:
    """Read and validate a serve configuration; raises InvalidServeSettings.

    A relative ``model``, ``rules``, ``journal`` or ``ensemble.store`` path is taken
    relative to the file's folder.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidServeSettings(f"{path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise InvalidServeSettings(f"{path}: is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise InvalidServeSettings(f"{path}: must be a mapping of settings, got {document!r}")
    for field in ("model", "rules", "journal"):
        value = document.get(field)
        if isinstance(value, str) and not os.path.isabs(value):
            document[field] = str(path.parent / value)
    ensemble = document.get("ensemble")
    if isinstance(ensemble, dict):
        store = ensemble.get("store")
        if isinstance(store, str) and not os.path.isabs(store):
            document["ensemble"] = ensemble | {"store": str(path.parent / store)}
    try:
        return ServeSettings.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top)'}: {issue['msg']}"
            f" (got {issue.get('input')!r})"
            for issue in error.errors()
        )
        raise InvalidServeSettings(f"{path}: {problems}") from None


def resolve_key(settings: ApiKeySettings) -> str:
    """Return the SHA-256 hex digest of a configured key; raises InvalidServeSettings
    when its environment variable is unset or empty."""
    if settings.key_sha256 is not None:
        return settings.key_sha256
    assert settings.key_env is not None
    value = os.environ.get(settings.key_env, "")
    if not value:
        raise InvalidServeSettings(
            f"api key {settings.name!r}: environment variable {settings.key_env} is unset "
            "or empty; set it to the key"
        )
    return hashlib.sha256(value.encode()).hexdigest()
