"""Process-level settings, read from the environment (prefix ``TWINBANK_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from twinbank.core.features.catalog import FeatureSetName

Profile = Literal["memory", "local", "production"]


class PlatformSettings(BaseSettings):
    """Which adapters a process uses and where its servers are.

    ``memory`` runs embedded with no servers (SQLite files, in-process state);
    ``local`` uses the Redis and PostgreSQL servers on 127.0.0.1; ``production``
    takes every server address from the environment.
    """

    model_config = SettingsConfigDict(env_prefix="TWINBANK_", extra="forbid")

    profile: Profile = "memory"
    feature_set: FeatureSetName = Field(
        "handbook",
        description=(
            "Features every process computes: handbook (its 14) or handbook-profile "
            "(those plus a customer spending profile, 15 per customer). A scenario that "
            "names a feature_set overrides this in simulate and train-model."
        ),
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the local profile.")
    postgres_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        description="PostgreSQL for the local profile.",
    )
    feature_prefix: str = Field(
        "twinbank", description="Redis key prefix of the feature state and online values."
    )
    feature_history_dir: Path = Field(
        Path("feature-history"),
        description="Folder of the Parquet feature history (offline store).",
    )
    online_key_ttl_ms: int | None = Field(
        None,
        gt=0,
        description=(
            "Expiry in ms that every online-store write sets on its Redis hash; unset "
            "keeps hashes forever. Use at least the longest feature ttl."
        ),
    )
    event_stream: str = Field(
        "twinbank:events", description="Redis stream of transaction and label events."
    )
    feature_lookup_timeout_ms: float = Field(
        20.0, gt=0, description="Budget of one feature-state read by the decision service."
    )
    worker_lease_ms: int = Field(
        30_000,
        ge=1_000,
        description=(
            "How long the stream worker's write lease lasts without renewal: a successor "
            "of a killed worker waits this long."
        ),
    )
