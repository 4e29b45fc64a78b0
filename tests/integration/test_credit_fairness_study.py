"""Credit approval studies: a synthetic data set always, the real ones when configured."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.support.credit import (
    SYNTHETIC_STUDY,
    credit_data_dir,
    write_study_file,
    write_synthetic_credit,
)
from twinbank.adapters.credit import DEFAULT_STUDY_FILE, InvalidStudy, load_study_file, run_study
from twinbank.core.fairness import FairnessSettings, GroupStatus


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    write_synthetic_credit(tmp_path)
    return tmp_path


def test_synthetic_study_finds_the_age_disparity(synthetic: Path):
    studies = load_study_file(write_study_file(synthetic))
    outcome = run_study(studies.studies[0], synthetic, studies.fairness)
    assert outcome.test_rows == 600
    assert outcome.training_rows == 1_400
    assert not {"age", "sex", "default"} & set(outcome.inputs)
    assert "purpose=home below 1y" in outcome.inputs
    ages = next(a for a in outcome.report.attributes if a.attribute == "age_band")
    assert [group.group for group in ages.groups] == ["under 30", "30-49", "50+"]
    young = next(group for group in ages.groups if group.group == "under 30")
    assert young.status is GroupStatus.ADVERSE_IMPACT
    assert not outcome.report.passed
    assert outcome.report.model == "credit-synthetic@1"
    assert outcome.performance.model == "credit-synthetic@1"
    auc = outcome.performance.metrics["auc_roc"]
    assert auc.lower < auc.value < auc.upper
    assert auc.value > 0.7


def test_study_is_reproducible(synthetic: Path):
    studies = load_study_file(write_study_file(synthetic))
    first = run_study(studies.studies[0], synthetic, studies.fairness)
    second = run_study(studies.studies[0], synthetic, studies.fairness)
    assert first.report == second.report
    assert first.performance == second.performance


def test_missing_column_is_named(synthetic: Path):
    document = copy.deepcopy(SYNTHETIC_STUDY)
    document["studies"][0]["excluded_inputs"] = ["salary"]
    studies = load_study_file(write_study_file(synthetic, document))
    with pytest.raises(InvalidStudy, match=r"no column \['salary'\]"):
        run_study(studies.studies[0], synthetic, studies.fairness)


def test_unmapped_group_value_is_named(synthetic: Path):
    document = copy.deepcopy(SYNTHETIC_STUDY)
    document["studies"][0]["protected"][0]["groups"] = {"female": ["F"], "other": ["X"]}
    studies = load_study_file(write_study_file(synthetic, document))
    with pytest.raises(InvalidStudy, match=r"holds \['M'\]"):
        run_study(studies.studies[0], synthetic, studies.fairness)


def test_missing_data_file_is_named(tmp_path: Path):
    studies = load_study_file(write_study_file(tmp_path))
    with pytest.raises(InvalidStudy, match=r"synthetic\.csv does not exist"):
        run_study(studies.studies[0], tmp_path, studies.fairness)


def test_invalid_study_file_names_field(tmp_path: Path):
    document = copy.deepcopy(SYNTHETIC_STUDY)
    document["studies"][0]["max_default_probability"] = 1.5
    with pytest.raises(InvalidStudy, match=r"studies\.0\.max_default_probability"):
        load_study_file(write_study_file(tmp_path, document))


@pytest.mark.realdata
def test_real_credit_studies():
    data_dir = credit_data_dir()
    studies = load_study_file(DEFAULT_STUDY_FILE)
    outcomes = {
        study.name: run_study(study, data_dir, FairnessSettings()) for study in studies.studies
    }
    taiwan, german = outcomes["taiwan"], outcomes["german"]
    assert (taiwan.training_rows, taiwan.test_rows) == (16_800, 7_200)
    assert (german.training_rows, german.test_rows) == (700, 300)
    assert not {"SEX", "AGE", "MARRIAGE", "EDUCATION"} & set(taiwan.inputs)
    assert not any(
        name.split("=")[0] in {"personal_status_sex", "age", "foreign_worker"}
        for name in german.inputs
    )
    for outcome in outcomes.values():
        assert [a.attribute for a in outcome.report.attributes] == ["sex", "age_band"]
        assert 0.7 < outcome.performance.metrics["auc_roc"].value < 0.9
        for attribute in outcome.report.attributes:
            assert sum(group.applicants for group in attribute.groups) == outcome.test_rows
    taiwan_sex = {g.group: g for g in taiwan.report.attributes[0].groups}
    assert taiwan_sex["female"].applicants + taiwan_sex["male"].applicants == 7_200
