"""Questionnaires as data: the sample passes, each kind of mistake is located and explained."""

from __future__ import annotations

import copy

import pytest
import yaml

from survey.questionnaire import (
    QuestionnaireError,
    build_questionnaire,
    load_questionnaire,
    questionnaire_from_document,
    read_yaml,
)
from tests.common import SAMPLES

SAMPLE = SAMPLES / "csi_questionnaire.yaml"


def sample_document() -> dict:
    return yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))


def problems_of(text: str) -> list:
    with pytest.raises(QuestionnaireError) as error:
        build_questionnaire(*read_yaml(text))
    return [p for p in error.value.problems if p.severity == "error"]


def dumped(document: dict) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def test_sample_questionnaire_is_valid_with_six_drivers_and_two_outcomes(sample_questionnaire):
    q = sample_questionnaire
    constructs = q.construct_items()
    drivers = {"image", "network", "billing", "hall", "new_services", "complaint"}
    assert set(constructs) == drivers | {"satisfaction", "loyalty"}
    assert all(3 <= len(constructs[d]) <= 5 for d in drivers)
    assert len(constructs["satisfaction"]) == 3 and len(constructs["loyalty"]) == 3
    assert q.languages == ("zh", "en")
    for item in q.items:
        assert set(item.label) == {"zh", "en"}


def test_sample_questionnaire_generates_lavaan_measurement_and_paths(sample_questionnaire):
    syntax = sample_questionnaire.lavaan_syntax()
    assert (
        "network =~ net_moving + net_clarity + net_coverage + net_dropped + net_data_speed"
        in syntax
    )
    assert "satisfaction ~ image + network + billing + hall + new_services + complaint" in syntax
    assert "loyalty ~ satisfaction + image" in syntax


def test_cannot_answer_is_a_missing_value_never_a_score(sample_questionnaire):
    item = sample_questionnaire.item("net_coverage")
    assert item.score("6") is None
    assert item.is_missing_code("6")
    assert item.score("4") == 4.0
    assert item.bounds == (1.0, 5.0)  # the scale's bounds, not the observed ones


def test_reverse_scored_items_turn_round_on_the_scale_bounds():
    document = sample_document()
    document["items"][0]["reverse_scored"] = True
    raw, locate = read_yaml(dumped(document))
    questionnaire, _ = build_questionnaire(raw, locate)
    item = questionnaire.item(document["items"][0]["name"])
    assert [item.score(str(code)) for code in (1, 2, 5, 6)] == [5.0, 4.0, 1.0, None]


def test_stored_document_rebuilds_the_same_questionnaire(sample_questionnaire):
    rebuilt = questionnaire_from_document(sample_questionnaire.document)
    assert rebuilt.content_hash == sample_questionnaire.content_hash
    assert rebuilt.lavaan_syntax() == sample_questionnaire.lavaan_syntax()


def test_invalid_item_name_is_located_with_a_fix():
    document = sample_document()
    document["items"][4]["name"] = "Net Clarity"
    [problem] = problems_of(dumped(document))
    assert problem.code == "item-name-invalid"
    assert problem.location.startswith("items[4].name (line ")
    assert "'Net Clarity'" in problem.message
    assert "lowercase" in problem.fix


def test_unknown_item_type_lists_the_types_that_exist():
    document = sample_document()
    document["items"][0]["type"] = "slider"
    [problem] = problems_of(dumped(document))
    assert problem.code == "item-type-unknown"
    assert problem.location.startswith("items[0].type")
    assert "rating" in problem.fix and "nps" in problem.fix


def test_dangling_choice_list_is_reported_with_a_suggestion():
    document = sample_document()
    document["items"][0]["choices"] = "quality6"
    [problem] = problems_of(dumped(document))
    assert problem.code == "choice-list-unknown"
    assert problem.location.startswith("items[0].choices")
    assert "did you mean 'quality5'" in problem.message


def test_construct_without_items_is_reported_at_its_declaration():
    document = sample_document()
    document["constructs"]["value"] = {"label": {"zh": "感知价值", "en": "Perceived value"}}
    [problem] = problems_of(dumped(document))
    assert problem.code == "construct-without-items"
    assert problem.location.startswith("constructs.value (line ")
    assert "construct: value" in problem.fix


def test_path_to_unknown_construct_names_the_model_line():
    document = sample_document()
    document["model"] = "satisfaction ~ image + netwrk\nloyalty ~ satisfaction\n"
    [problem] = problems_of(dumped(document))
    assert problem.code == "model-unknown-construct"
    assert "line 1 of the model" in problem.location
    assert "'netwrk'" in problem.message and "did you mean 'network'" in problem.message


def test_path_to_an_item_says_it_is_an_item():
    document = sample_document()
    document["model"] = "satisfaction ~ net_coverage\n"
    [problem] = problems_of(dumped(document))
    assert "(it is an item)" in problem.message


def test_unsafe_relevant_expression_is_refused_and_never_evaluated():
    document = sample_document()
    document["items"][-1]["relevant"] = "__import__('os').system('touch /tmp/pwned')"
    [problem] = problems_of(dumped(document))
    assert problem.code == "relevant-unsafe"
    assert problem.location.startswith(f"items[{len(document['items']) - 1}].relevant")


def test_deeply_nested_relevant_is_a_located_problem_when_read_and_when_rebuilt(
    sample_questionnaire,
):
    document = sample_document()
    last = len(document["items"]) - 1
    name = document["items"][last]["name"]
    document["items"][last]["relevant"] = "(" * 5000 + "${sat_overall} <= 2" + ")" * 5000
    [problem] = problems_of(dumped(document))
    assert problem.code == "relevant-syntax"
    assert problem.location.startswith(f"items[{last}].relevant (line ")
    assert problem.message.startswith(f"relevant of {name!r} '(((")
    assert problem.message.endswith("nested more than 32 levels deep (at column 33)")
    assert len(problem.message) < 200  # the expression is shortened, not repeated whole
    # A stored document is re-checked when it is loaded (publishing, answering, analyses).
    stored = copy.deepcopy(dict(sample_questionnaire.document))
    stored["items"][last]["relevant"] = document["items"][last]["relevant"]
    with pytest.raises(QuestionnaireError, match="nested more than 32 levels"):
        questionnaire_from_document(stored)


def test_relevant_may_only_look_back():
    document = sample_document()
    document["items"][0]["relevant"] = "${sat_overall} <= 2"
    [problem] = problems_of(dumped(document))
    assert problem.code == "relevant-forward-reference"


def test_cycle_in_the_structural_model_is_named():
    document = sample_document()
    document["model"] += "image ~ loyalty\n"
    [problem] = problems_of(dumped(document))
    assert problem.code == "model-cycle"
    assert "image" in problem.message and "loyalty" in problem.message


def test_missing_code_with_a_score_is_refused():
    document = sample_document()
    document["choice_lists"]["quality5"][5]["score"] = 0
    [problem] = problems_of(dumped(document))
    assert problem.code == "missing-with-score"
    assert "never a score" in problem.fix


def test_unquoted_version_number_is_refused():
    text = SAMPLE.read_text(encoding="utf-8").replace('version: "2026.1"', "version: 2026.10")
    [problem] = problems_of(text)
    assert problem.code == "version-not-text"
    assert problem.location == "version (line 5)"


def test_what_could_not_be_published_is_refused_where_it_is():
    # questionnaire_version holds a form id of 64 characters, a version of 32, a title of 200,
    # and PostgreSQL no NUL: a valid questionnaire must be one that can be published.
    document = sample_document()
    document["form_id"] = "f" * 65
    document["version"] = "9" * 33
    document["title"]["zh"] = "题" * 201
    document["title"]["en"] = "x\0y"
    found = {p.code: p.location for p in problems_of(dumped(document))}
    assert found == {"form-id-too-long": "form_id (line 1)", "version-too-long":
                     "version (line 2)", "title-too-long": "title (line 8)",
                     "nul-character": "(document) (line 1)"}  # fmt: skip


def test_every_problem_is_reported_in_one_pass():
    document = sample_document()
    document["items"][0]["name"] = "Bad"
    document["items"][1]["type"] = "slider"
    document["items"][2]["choices"] = "nope"
    del document["items"][3]["label"]["en"]
    codes = {p.code for p in problems_of(dumped(document))}
    assert {
        "item-name-invalid",
        "item-type-unknown",
        "choice-list-unknown",
        "label-missing",
    } <= codes


def test_yaml_syntax_error_gives_line_and_column():
    [problem] = problems_of("form_id: x\nitems: [\n")
    assert problem.code == "yaml-syntax"
    assert problem.location.startswith("line ")


def test_unused_choice_list_is_a_warning_not_an_error():
    document = sample_document()
    document["choice_lists"]["spare"] = copy.deepcopy(document["choice_lists"]["quality5"])
    raw, locate = read_yaml(dumped(document))
    _, warnings = build_questionnaire(raw, locate)
    assert [w.code for w in warnings] == ["choice-list-unused"]


# -- workbooks (XLSForm-like) -------------------------------------------------------------


def write_workbook(path, survey_rows, choices_rows, model_rows=("satisfaction ~ quality",)):
    from openpyxl import Workbook

    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::zh", "label::en", "construct", "required", "relevant"])
    for row in survey_rows:
        survey.append(list(row))
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::zh", "label::en", "score", "missing"])
    for row in choices_rows:
        choices.append(list(row))
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version", "default_language", "title::zh", "title::en"])
    settings.append(["hotline_eval", "2026.2", "zh", "热线评价", "Hotline evaluation"])
    constructs = book.create_sheet("constructs")
    constructs.append(["name", "label::zh", "label::en"])
    constructs.append(["quality", "服务质量", "Service quality"])
    constructs.append(["satisfaction", "满意度", "Satisfaction"])
    model = book.create_sheet("model")
    model.append(["statement"])
    for statement in model_rows:
        model.append([statement])
    book.save(path)


CHOICES = [("q5", str(k), f"{k}分", f"{k} points", k, None) for k in range(1, 6)] + [
    ("q5", "6", "无法回答", "Cannot answer", None, "cannot_answer")
]


def test_workbook_questionnaire_reads_like_yaml(tmp_path):
    path = tmp_path / "form.xlsx"
    write_workbook(
        path,
        [
            ("rating q5", "q_speed", "速度", "Speed", "quality", "yes", None),
            ("rating q5", "q_attitude", "态度", "Attitude", "quality", "yes", None),
            ("rating q5", "sat_overall", "满意", "Satisfied", "satisfaction", "yes", None),
            ("rating q5", "sat_ideal", "理想", "Ideal", "satisfaction", "yes", None),
            ("text", "why", "原因", "Why", None, "no", "${sat_overall} <= 2"),
        ],
        CHOICES,
    )
    questionnaire, warnings = load_questionnaire(path)
    assert (questionnaire.form_id, questionnaire.version) == ("hotline_eval", "2026.2")
    assert questionnaire.construct_items() == {
        "quality": ("q_speed", "q_attitude"),
        "satisfaction": ("sat_overall", "sat_ideal"),
    }
    assert questionnaire.item("q_speed").score("6") is None
    assert questionnaire.item("why").relevant.evaluate({"sat_overall": "1"})
    assert warnings == ()


def test_workbook_problems_name_sheet_row_and_column(tmp_path):
    path = tmp_path / "form.xlsx"
    write_workbook(
        path,
        [
            ("rating q5", "q_speed", "速度", "Speed", "quality", "yes", None),
            ("rating q7", "q_attitude", "态度", "Attitude", "quality", "yes", None),
            ("slider", "sat_overall", "满意", "Satisfied", "satisfaction", "yes", None),
            ("rating q5", "Sat Ideal", "理想", "Ideal", "satisfaction", "yes", None),
        ],
        CHOICES,
        model_rows=("satisfaction ~ quality", "loyalty ~ satisfaction"),
    )
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    by_code = {p.code: p.location for p in error.value.problems}
    assert by_code["choice-list-unknown"] == "survey sheet, row 3, column type"
    assert by_code["item-type-unknown"] == "survey sheet, row 4, column type"
    assert by_code["item-name-invalid"] == "survey sheet, row 5, column name"
    assert by_code["model-unknown-construct"] == "model sheet, row 3"


def test_workbook_without_required_sheets_says_which(tmp_path):
    from openpyxl import Workbook

    path = tmp_path / "empty.xlsx"
    Workbook().save(path)
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    assert {p.code for p in error.value.problems} == {"sheet-missing"}


def test_unknown_file_type_is_refused(tmp_path):
    path = tmp_path / "form.docx"
    path.write_text("x")
    with pytest.raises(QuestionnaireError) as error:
        load_questionnaire(path)
    assert error.value.problems[0].code == "file-type-unknown"
