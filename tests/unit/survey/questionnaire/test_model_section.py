"""The questionnaire's structural model, read by models.syntax: every mistake at its line.

The ``model:`` section holds the structural part only (``~`` and ``~~``); measurement comes
from the items' ``construct:``. Validation reads it statement by statement
(:func:`models.syntax.read_statements`), so an author sees every mistake in one pass.
"""

from __future__ import annotations

import pytest
import yaml

from survey.questionnaire import QuestionnaireError, build_questionnaire, read_yaml
from tests.common import SAMPLES

PATHS = "satisfaction ~ image + network\nloyalty ~ satisfaction\n"


def model_errors(model: str) -> list[tuple[str, str, str]]:
    """``(code, location, message)`` of each error when the sample has this model."""
    document = yaml.safe_load((SAMPLES / "csi_questionnaire.yaml").read_text(encoding="utf-8"))
    document["model"] = model
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    with pytest.raises(QuestionnaireError) as caught:
        build_questionnaire(*read_yaml(text))
    return [(p.code, p.location, p.message) for p in caught.value.problems if p.severity == "error"]


def test_every_bad_statement_is_reported_at_its_own_line():
    errors = model_errors(PATHS + "loyalty satisfaction\nsatisfaction ~ image $ hall\n")
    assert [code for code, _, _ in errors] == ["model-syntax", "model-syntax"]
    assert "line 3 of the model" in errors[0][1] and "line 4 of the model" in errors[1][1]
    assert "no operator" in errors[0][2] and "unexpected character '$'" in errors[1][2]


def test_a_continued_statement_is_located_at_its_first_line():
    [(code, location, message)] = model_errors("satisfaction ~ image +\n  netwrk\n")
    assert code == "model-unknown-construct" and "line 1 of the model" in location
    assert "did you mean 'network'" in message


def test_a_measurement_operator_is_reported_at_its_line():
    [(code, location, _)] = model_errors(PATHS + "image =~ img_1 + img_2\n")
    assert code == "model-measurement-operator" and "line 3 of the model" in location


def test_an_unknown_construct_on_the_left_is_reported_too():
    [(code, location, message)] = model_errors(PATHS + "loyalti ~~ image\n")
    assert code == "model-unknown-construct" and "line 3 of the model" in location
    assert "did you mean 'loyalty'" in message


def test_a_cycle_is_named_and_located_at_the_path_that_closes_it():
    [(code, location, message)] = model_errors(PATHS + "image ~ loyalty\n")
    assert code == "model-cycle" and "line 3 of the model" in location
    assert message == "the paths loop: image -> satisfaction -> loyalty -> image"


def test_several_outcomes_on_one_left_side_are_refused_as_the_analysis_would():
    [(code, location, message)] = model_errors("satisfaction + loyalty ~ image\n")
    assert code == "model-syntax" and "line 1 of the model" in location
    assert "must be one variable name" in message


def test_a_workbook_row_is_the_place_of_a_model_error(tmp_path):
    from openpyxl import Workbook

    from survey.questionnaire import load_questionnaire

    document = yaml.safe_load((SAMPLES / "csi_questionnaire.yaml").read_text(encoding="utf-8"))
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::zh", "label::en", "construct"])
    survey.append(["rating q5", "sat_overall", "满意", "Satisfied", "satisfaction"])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::zh", "label::en", "score"])
    for k in range(1, 6):
        choices.append(["q5", str(k), str(k), str(k), k])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version"])
    settings.append([document["form_id"], "2026.9"])
    model = book.create_sheet("model")
    model.append(["statement"])
    model.append(["satisfaction ~ satisfaction"])
    path = tmp_path / "form.xlsx"
    book.save(path)
    with pytest.raises(QuestionnaireError) as caught:
        load_questionnaire(path)
    [cycle] = [p for p in caught.value.problems if p.code == "model-cycle"]
    assert cycle.location == "model sheet, row 2"
