"""Credit data sets and the fair-lending study run on them."""

from .spec import (
    DEFAULT_STUDY_FILE,
    BandAttribute,
    CategoryAttribute,
    CreditStudy,
    FairnessStudyFile,
    InvalidStudy,
    load_study_file,
)
from .study import StudyOutcome, run_study

__all__ = [
    "DEFAULT_STUDY_FILE",
    "BandAttribute",
    "CategoryAttribute",
    "CreditStudy",
    "FairnessStudyFile",
    "InvalidStudy",
    "StudyOutcome",
    "load_study_file",
    "run_study",
]
