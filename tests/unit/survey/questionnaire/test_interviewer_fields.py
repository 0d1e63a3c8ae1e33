"""What a questionnaire holds for interviewers: read-out instructions, and "refused" and
"don't know" on every closed item, which are missing values wherever answers are scored."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from openpyxl import Workbook

from survey.answering.pages import INTERVIEWER, RESPONDENT, offered_codes, validate_page
from survey.questionnaire import QuestionnaireError, build_questionnaire, load_questionnaire
from survey.questionnaire.scores import item_scores
from tests.common import SAMPLES

CLOSED = ("rating", "single", "yes_no", "nps")


def small(items: list[dict], lists: dict | None = None) -> str:
    return yaml.safe_dump(
        {
            "form_id": "small",
            "version": "1",
            "title": {"zh": "小", "en": "Small"},
            "missing_codes": {
                "cannot_answer": {"label": {"zh": "无法回答", "en": "Cannot answer"}},
                "refused": {"label": {"zh": "拒绝回答", "en": "Refused"}, "modes": ["interviewer"]},
            },
            "choice_lists": lists or {},
            "items": items,
        },
        allow_unicode=True,
    )


def build(text: str):
    from survey.questionnaire import read_yaml

    return build_questionnaire(*read_yaml(text))[0]


def errors_of(text: str) -> dict[str, str]:
    from survey.questionnaire import read_yaml

    with pytest.raises(QuestionnaireError) as error:
        build_questionnaire(*read_yaml(text))
    return {p.code: p.location for p in error.value.problems if p.severity == "error"}


REFUSED_ONLY = {"ask": [{"name": "77", "missing": "refused", "label": {"zh": "拒", "en": "R"}}]}


def test_every_closed_sample_item_offers_refused_and_dont_know_to_interviewers_only(
    sample_questionnaire,
):
    q = sample_questionnaire
    closed = [item for item in q.items if item.type in CLOSED]
    assert {item.type for item in closed} == {"rating", "yes_no", "nps"}
    for item in closed:
        kinds = {item.missing_kind(code) for code in offered_codes(item, q, INTERVIEWER)}
        assert {"refused", "dont_know"} <= kinds, item.name
        for_customers = {item.missing_kind(code) for code in offered_codes(item, q, RESPONDENT)}
        assert not {"refused", "dont_know"} & for_customers, item.name
        # Distinct codes, and never a score.
        refused, dont_know = (
            next(c for c in offered_codes(item, q, INTERVIEWER) if item.missing_kind(c) == kind)
            for kind in ("refused", "dont_know")
        )
        assert refused != dont_know
        assert item.score(refused) is None and item.score(dont_know) is None


def test_the_sample_gives_read_out_instructions_to_each_page_and_the_outcomes(
    sample_questionnaire,
):
    q = sample_questionnaire
    for construct, names in q.construct_items().items():
        assert set(q.item(names[0]).instruction) == {"zh", "en"}, construct
    for name in ("sat_overall", "sat_expectation", "sat_ideal", "nps", "complained"):
        assert q.item(name).instruction["zh"] and q.item(name).instruction["en"], name
    assert not q.item("net_clarity").instruction  # optional: most items have none


def test_nps_keeps_its_scores_and_its_interviewer_codes_are_missing(sample_questionnaire):
    nps = sample_questionnaire.item("nps")
    assert offered_codes(nps, sample_questionnaire) == tuple(str(n) for n in range(11))
    assert offered_codes(nps, sample_questionnaire, INTERVIEWER)[-2:] == ("77", "88")
    assert [nps.score(code) for code in ("0", "7", "10", "77", "88")] == [
        0.0,
        7.0,
        10.0,
        None,
        None,
    ]
    assert nps.bounds == (0.0, 10.0)
    # A customer who posts 77 is refused; an interviewer's 77 is stored.
    assert validate_page(sample_questionnaire, [nps], {"nps": ["77"]}).errors["nps"].code == (
        "invalid_choice"
    )
    assert validate_page(sample_questionnaire, [nps], {"nps": ["77"]}, INTERVIEWER).ok


def test_refused_and_dont_know_score_as_missing_never_as_numbers(sample_questionnaire):
    table = pd.DataFrame(
        {
            "sat_overall": ["4", "7", "8", "6"],
            "nps": ["9", "77", "88", "0"],
            "complained": ["yes", "77", "88", "no"],
        }  # fmt: skip
    )
    scores = item_scores(table, table.columns, sample_questionnaire)
    assert scores["sat_overall"].tolist()[0] == 4.0
    assert scores["sat_overall"].isna().tolist() == [False, True, True, True]
    assert scores["nps"].isna().tolist() == [False, True, True, False]
    assert scores["complained"].isna().tolist() == [False, True, True, False]


def test_a_yes_no_item_takes_a_list_of_missing_codes_after_yes_and_no():
    q = build(small([{"name": "asked", "type": "yes_no", "choices": "ask",
                      "label": {"zh": "问", "en": "Asked"}}], REFUSED_ONLY))  # fmt: skip
    item = q.item("asked")
    assert offered_codes(item, q, INTERVIEWER) == ("yes", "no", "77")
    assert offered_codes(item, q, RESPONDENT) == ("yes", "no")
    assert item.score("yes") == 1.0 and item.score("77") is None


def test_a_scored_choice_or_an_implied_code_in_a_yes_no_or_nps_list_is_refused():
    lists = {
        "ask": [
            {"name": "5", "score": 5, "label": {"zh": "五", "en": "Five"}},
            {"name": "yes", "missing": "refused", "label": {"zh": "是", "en": "Y"}},
        ]
    }
    for item_type in ("yes_no", "nps"):
        text = small([{"name": "asked", "type": item_type, "choices": "ask",
                       "label": {"zh": "问", "en": "Asked"}}], lists)  # fmt: skip
        assert "choices-not-missing" in errors_of(text), item_type
    text = small([{"name": "asked", "type": "nps", "choices": "nope",
                   "label": {"zh": "问", "en": "Asked"}}])  # fmt: skip
    assert errors_of(text)["choice-list-unknown"].startswith("items[0].choices")


def test_instruction_is_a_label_per_language_and_an_unknown_language_is_reported():
    q = build(small([{"name": "asked", "type": "text", "label": {"zh": "问", "en": "Asked"},
                      "instruction": {"zh": "读出", "en": "Read out"}}]))  # fmt: skip
    assert dict(q.item("asked").instruction) == {"zh": "读出", "en": "Read out"}
    text = small([{"name": "asked", "type": "text", "label": {"zh": "问", "en": "Asked"},
                   "instruction": {"zh": "读出"}}])  # fmt: skip
    assert errors_of(text)["label-missing"].startswith("items[0].instruction")


def test_a_workbook_reads_instructions_from_instruction_columns(tmp_path):
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::zh", "label::en", "instruction::zh",
                   "instruction::en"])  # fmt: skip
    survey.append(["nps ask", "nps", "推荐", "Recommend", "读出0-10", "Read out 0-10"])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::zh", "label::en", "missing"])
    choices.append(["ask", "77", "拒绝回答", "Refused", "refused"])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version", "default_language", "title::zh", "title::en"])
    settings.append(["wb", "1", "zh", "问卷", "Form"])
    missing = book.create_sheet("missing_codes")
    missing.append(["name", "label::zh", "label::en"])
    missing.append(["refused", "拒绝回答", "Refused"])
    book.save(tmp_path / "form.xlsx")
    q, _ = load_questionnaire(tmp_path / "form.xlsx")
    item = q.item("nps")
    assert dict(item.instruction) == {"zh": "读出0-10", "en": "Read out 0-10"}
    assert item.missing_kind("77") == "refused" and item.score("77") is None


def test_the_sample_on_disk_is_the_one_the_tests_use(sample_questionnaire):
    loaded, warnings = load_questionnaire(SAMPLES / "csi_questionnaire.yaml")
    assert loaded.content_hash == sample_questionnaire.content_hash and warnings == ()
