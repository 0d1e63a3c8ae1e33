"""Questionnaires as data: versioned documents read from YAML or XLSForm-like workbooks."""

from survey.questionnaire.document import (
    Choice,
    ChoiceList,
    Construct,
    Item,
    MissingCode,
    Questionnaire,
)
from survey.questionnaire.problems import Problem, QuestionnaireError
from survey.questionnaire.relevant import Relevance, RelevantSyntaxError, parse_relevant
from survey.questionnaire.sources import load_questionnaire, questionnaire_from_document, read_yaml
from survey.questionnaire.validate import build_questionnaire

__all__ = [
    "Choice",
    "ChoiceList",
    "Construct",
    "Item",
    "MissingCode",
    "Problem",
    "Questionnaire",
    "QuestionnaireError",
    "Relevance",
    "RelevantSyntaxError",
    "build_questionnaire",
    "load_questionnaire",
    "parse_relevant",
    "questionnaire_from_document",
    "read_yaml",
]
