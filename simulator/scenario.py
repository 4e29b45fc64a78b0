"""Scenario files: what a twin run replays, which model decides and how.

A scenario is YAML validated by pydantic. Errors name the file, the field path, the
bad value and what is expected, and surface before anything runs or is written.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from twinbank.adapters.generator import GeneratorSettings
from twinbank.adapters.models.xgboost_model import XGBoostSettings
from twinbank.core.features.catalog import FeatureSetName

if TYPE_CHECKING:
    from .regions.scenario import MultiRegionScenario


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileTransactions(_Strict):
    """Replay a recorded file in the handbook layout (Parquet or CSV)."""

    kind: Literal["file"]
    path: Path | None = Field(
        None, description="File to replay; `twinbank simulate --transactions` overrides it."
    )
    sequence_column: str | None = Field(
        None, description="Column giving the arrival order among equal timestamps."
    )


class GeneratedTransactions(_Strict):
    """Generate transactions with the seeded handbook-design simulator."""

    kind: Literal["generator"]
    settings: GeneratorSettings = Field(default_factory=GeneratorSettings)


TransactionSpec = Annotated[FileTransactions | GeneratedTransactions, Field(discriminator="kind")]


class ProtocolSpec(_Strict):
    """The handbook's train/test protocol, anchored at the first training day."""

    training_start: date
    training_days: int = Field(7, ge=1)
    delay_days: int = Field(7, ge=0)
    test_days: int = Field(7, ge=1)


class ArtifactRef(_Strict):
    """A stored model artifact: the store folder (relative to the working directory)
    and the content-hash version that ``twinbank train`` printed."""

    store: Path
    name: str = "fraud-ensemble"
    version: str = Field(pattern=r"^[0-9a-f]{16}$")


class ModelSpec(_Strict):
    kind: Literal["xgboost", "ensemble"] = "xgboost"
    artifact: ArtifactRef | None = Field(
        None, description="The stored ensemble to load; required when kind is 'ensemble'."
    )
    inputs: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description=(
            "Request fields, feature names and ratios ('a/b') the model reads, in order. "
            "By default 'xgboost' reads the amount and every feature of the set, and "
            "'ensemble' reads what its artifact was trained on."
        ),
    )
    hyperparameters: XGBoostSettings = Field(default_factory=XGBoostSettings)
    training: ProtocolSpec

    @model_validator(mode="after")
    def _artifact_for_ensemble(self) -> ModelSpec:
        if self.kind == "ensemble" and self.artifact is None:
            raise ValueError(
                "kind 'ensemble' loads a stored artifact; set artifact: {store, version} "
                "from the output of `twinbank train`"
            )
        if self.kind == "xgboost" and self.artifact is not None:
            raise ValueError("kind 'xgboost' trains its model; remove artifact or use 'ensemble'")
        return self


class PolicySpec(_Strict):
    version: str = "thresholds-v1"
    step_up_at: float = Field(0.3, gt=0.0, le=1.0)
    decline_at: float = Field(0.7, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> PolicySpec:
        if self.step_up_at > self.decline_at:
            raise ValueError(
                f"step_up_at ({self.step_up_at}) must not exceed decline_at ({self.decline_at})"
            )
        return self


class BatchingSpec(_Strict):
    """How the twin's decision process groups transactions for scoring.

    The process waits ``max_wait_seconds`` of simulated time after the first waiting
    transaction, then scores up to ``max_size`` at once. Features are always computed
    on arrival, so batching changes when a decision is made, never what it sees.
    """

    max_size: int = Field(256, ge=1)
    max_wait_seconds: float = Field(0.0, ge=0.0)


class Scenario(_Strict):
    """A replay scenario: one transaction source replayed and decided by one model."""

    kind: Literal["replay"] = "replay"
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    transactions: TransactionSpec
    feature_set: FeatureSetName | None = Field(
        None,
        description=(
            "The features computed and trained on; overrides TWINBANK_FEATURE_SET, "
            "which applies when this is omitted."
        ),
    )

    def platform_overrides(self) -> dict[str, str]:
        """Return the platform settings this scenario fixes (its feature set, if named)."""
        return {} if self.feature_set is None else {"feature_set": self.feature_set}

    label_delay_days: float = Field(
        7.0, ge=0.0, description="Days between a transaction and the reveal of its label."
    )
    model: ModelSpec
    policy: PolicySpec = Field(default_factory=PolicySpec)
    batching: BatchingSpec = Field(default_factory=BatchingSpec)


class InvalidScenario(ValueError):
    """A scenario file that cannot be read or breaks the schema."""


class FieldProblems(ValueError):
    """Problems that a validator found by checking several fields together.

    Each problem is ``(field path, message, bad value)`` with the path relative to the
    model whose validator raised it; ``load_scenario`` reports each on its own line.
    """

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str, Any]]) -> None:
        super().__init__("; ".join(f"{_dotted(path)}: {message}" for path, message, _ in problems))
        self.problems = problems


SCENARIO_KINDS = ("replay", "multi-region")


def scenario_kind(document: Any) -> str | None:
    """Return the ``kind`` of a scenario document; files without one are replays."""
    if isinstance(document, dict):
        return str(document.get("kind", "replay"))
    return getattr(document, "kind", None)


@cache
def scenario_document() -> TypeAdapter[Scenario | MultiRegionScenario]:
    """Return the validator of any scenario file: a union discriminated by ``kind``."""
    # Imported here because the multi-region schema reuses this module's model specs.
    from .regions.scenario import MultiRegionScenario  # noqa: PLC0415

    union = Annotated[
        Annotated[Scenario, Tag("replay")] | Annotated[MultiRegionScenario, Tag("multi-region")],
        Discriminator(scenario_kind),
    ]
    return TypeAdapter(union)


def load_scenario(path: Path) -> Scenario | MultiRegionScenario:
    """Read and validate a scenario file of any kind.

    Raises InvalidScenario with one line per problem: the file, the field path, the
    bad value and what is expected.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidScenario(
            f"{path}: cannot read the scenario file ({error.strerror})"
        ) from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidScenario(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise InvalidScenario(
            f"{path}: expected a mapping of scenario fields, got {type(document).__name__}"
        )
    kind = scenario_kind(document)
    if kind not in SCENARIO_KINDS:
        raise InvalidScenario(
            f"{path}: 1 invalid field(s)\n  kind: unknown scenario kind (got {kind!r}); "
            f"expected one of {', '.join(SCENARIO_KINDS)} (no kind means replay)"
        )
    try:
        return scenario_document().validate_python(document)
    except ValidationError as error:
        raise InvalidScenario(_describe(path, error)) from error


def _describe(path: Path, error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        location = problem["loc"]
        if location and location[0] in SCENARIO_KINDS:
            location = location[1:]  # the union's tag, not a field of the file
        found = problem.get("ctx", {}).get("error")
        if isinstance(found, FieldProblems):
            for inner, message, value in found.problems:
                lines.append(f"  {_dotted((*location, *inner))}: {message} (got {value!r})")
            continue
        value = problem.get("input")
        shown = "" if problem["type"] == "missing" else f" (got {value!r})"
        lines.append(f"  {_dotted(location)}: {problem['msg']}{shown}")
    return "\n".join([f"{path}: {len(lines)} invalid field(s)", *lines])


def _dotted(location: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in location) or "(top level)"
