"""Settings of the audit trail and governance, read from the environment.

``TWINBANK_AUDIT_PSEUDONYMISATION_KEY`` is the secret for customer and card
pseudonyms. It is a ``SecretStr``: it never appears in a repr, a log line or an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twinbank.core.audit import Pseudonymiser

from .settings import Profile

logger = logging.getLogger(__name__)

DEVELOPMENT_KEY_ID = "development"
# Public, so pseudonyms made with it protect nothing; it only lets embedded and local
# runs work without configuration, and records name it by its key id.
_DEVELOPMENT_KEY = b"twinbank development pseudonymisation key; not a secret"


class MissingPseudonymisationKey(ValueError):
    """The production profile needs a configured pseudonymisation key."""


class AuditSettings(BaseSettings):
    """The audit trail: pseudonymisation key, write batches, archive, and whether the
    decisions of scenario runs are chained too."""

    model_config = SettingsConfigDict(env_prefix="TWINBANK_AUDIT_", extra="forbid")

    pseudonymisation_key: SecretStr | None = Field(
        None,
        description="Secret for keyed-hash pseudonyms; at least 16 bytes, 32 random recommended.",
    )
    pseudonymisation_key_id: str = Field(
        "key-1", min_length=1, description="Name of the key, stored in every decision record."
    )
    batch_size: int = Field(
        25_000,
        ge=1,
        description=(
            "Decisions written per transaction to the decision table and the audit chain."
        ),
    )
    chain_decisions: bool = Field(
        True, description="Also chain every decision of a scenario run into its database."
    )
    archive_dir: Path = Field(
        Path("audit-archive"), description="Where closed periods are exported."
    )
    decision_writer: Literal["process", "inline"] = Field(
        "process",
        description=(
            "Who writes a scenario run's decisions: 'process', a child process on another "
            "core, or 'inline', the replay's own thread. A private in-memory database is "
            "always written inline."
        ),
    )

    @field_validator("pseudonymisation_key", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        return None if value == "" else value


class GovernanceSettings(BaseSettings):
    """Where the inventory and its audit trail live, and who holds which role."""

    model_config = SettingsConfigDict(env_prefix="TWINBANK_GOVERNANCE_", extra="forbid")

    sqlite_path: Path = Field(
        Path("twinbank-governance.db"),
        description="SQLite file of the inventory and audit trail in the memory profile.",
    )
    roles_file: Path | None = Field(
        None, description="YAML role directory; without one, claimed roles are trusted."
    )

    @field_validator("roles_file", mode="before")
    @classmethod
    def _empty_means_no_file(cls, value: object) -> object:
        return None if value == "" else value


def build_pseudonymiser(settings: AuditSettings, profile: Profile) -> Pseudonymiser:
    """Return the pseudonymiser of the configured key.

    Without a key, the memory and local profiles use a public development key (and say
    so in a warning); the production profile raises MissingPseudonymisationKey.
    """
    if settings.pseudonymisation_key is not None:
        key = settings.pseudonymisation_key.get_secret_value().encode("utf-8")
        return Pseudonymiser(key, settings.pseudonymisation_key_id)
    if profile == "production":
        raise MissingPseudonymisationKey(
            "the production profile needs TWINBANK_AUDIT_PSEUDONYMISATION_KEY (at least 16 "
            "bytes, 32 random recommended) so that audit records do not expose customer ids"
        )
    logger.warning(
        "no TWINBANK_AUDIT_PSEUDONYMISATION_KEY is set; audit pseudonyms use the public "
        "development key (key id %r), which protects no identifier",
        DEVELOPMENT_KEY_ID,
    )
    return Pseudonymiser(_DEVELOPMENT_KEY, DEVELOPMENT_KEY_ID)
