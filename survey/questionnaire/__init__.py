"""Questionnaires as data: versioned documents read from YAML or XLSForm-like workbooks."""

from .document import Choice, ChoiceList, Construct, Item, MissingCode, Questionnaire
from .problems import Problem, QuestionnaireError
from .relevant import Relevance, RelevantSyntaxError, parse_relevant
from .sources import load_questionnaire, questionnaire_from_document, read_yaml
from .validate import build_questionnaire

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
