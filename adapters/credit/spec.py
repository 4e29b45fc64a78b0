"""The fairness study file: which credit data, which model, which protected attributes."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twinbank.core.fairness import FairnessSettings
from twinbank.core.governance import model_id_of

DEFAULT_STUDY_FILE = Path(__file__).with_name("credit-fairness.yaml")


class InvalidStudy(ValueError):
    """A study file or data file that cannot be used; the message names it and the fix."""


class CategoryAttribute(BaseModel):
    """A protected attribute whose column values map to group labels.

    ``groups`` maps each group label to the raw column values it covers (as text); a
    value that no group covers is an error, so no applicant is silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["categories"]
    attribute: str
    column: str
    groups: dict[str, list[str]] = Field(min_length=2)


class BandAttribute(BaseModel):
    """A numeric protected attribute cut into bands at ``edges``: with edges 25, 35 the
    groups are ``under 25``, ``25-34`` and ``35+``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["bands"]
    attribute: str
    column: str
    edges: list[int] = Field(min_length=1)

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: list[int]) -> list[int]:
        if any(later <= earlier for earlier, later in pairwise(edges)):
            raise ValueError(f"band edges must increase, got {edges}")
        return edges

    def labels(self) -> list[str]:
        edges = self.edges
        labels = [f"under {edges[0]}"]
        labels += [f"{low}-{high - 1}" for low, high in pairwise(edges)]
        labels.append(f"{edges[-1]}+")
        return labels


ProtectedAttribute = Annotated[CategoryAttribute | BandAttribute, Field(discriminator="kind")]


class ModelSettings(BaseModel):
    """Gradient-boosted trees for default probability."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_depth: int = Field(3, ge=1, le=12)
    n_estimators: int = Field(200, ge=1, le=5000)
    learning_rate: float = Field(0.05, gt=0, le=1)
    threads: int = Field(1, ge=1)


class CreditStudy(BaseModel):
    """One credit data set, the approval model trained on it, and the groups analysed.

    ``file`` is relative to the data folder. ``bad_outcome`` is the target value of a
    default (a bad credit); everyone else counts as qualified for equal opportunity.
    Protected attributes, and ``excluded_inputs``, are never model inputs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    model_name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    model_version: str = Field("1", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    file: Path
    target: str
    bad_outcome: int
    excluded_inputs: list[str] = []
    protected: list[ProtectedAttribute] = Field(min_length=1)
    max_default_probability: float = Field(
        gt=0, lt=1, description="Approve when the predicted default probability is below it."
    )
    test_fraction: float = Field(0.3, gt=0, lt=1)
    seed: int = 0
    model: ModelSettings = ModelSettings()

    @property
    def model_id(self) -> str:
        return model_id_of(self.model_name, self.model_version)


class FairnessStudyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    studies: list[CreditStudy] = Field(min_length=1)
    fairness: FairnessSettings = FairnessSettings()


def load_study_file(path: Path) -> FairnessStudyFile:
    """Read and validate a study file; raises InvalidStudy naming the file and field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidStudy(f"{path}: cannot read the study file ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise InvalidStudy(f"{path}: not valid YAML ({error})") from error
    try:
        return FairnessStudyFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InvalidStudy(
            f"{path}: field {location}: {first['msg']} (got {first.get('input')!r})"
        ) from error
