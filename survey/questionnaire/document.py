"""The validated questionnaire: frozen objects built only by :mod:`.validate`.

A questionnaire is data: items, scales with their label-to-score maps, missing codes,
constructs and the structural model in lavaan syntax. Every response points at the exact
``(form_id, version)`` it answered, and a published version never changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from survey.questionnaire.relevant import Relevance

ITEM_TYPES = ("rating", "single", "multiple", "nps", "text", "yes_no")
#: Types whose answers are scores that a model can use.
SCORED_TYPES = ("rating", "nps")
#: Types whose choices the type implies (yes/no; 0 to 10): a choice list named by such an
#: item only adds missing codes to them (e.g. "refused" and "don't know" for interviewers).
IMPLIED_TYPES = ("yes_no", "nps")


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    label: Mapping[str, str]
    score: float | None = None
    #: The kind of missing value this choice records ("cannot_answer", "refused",
    #: "dont_know"); a missing choice is never a score.
    missing: str | None = None


@dataclass(frozen=True, slots=True)
class ChoiceList:
    name: str
    choices: tuple[Choice, ...]

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.name == code), None)

    @property
    def scored(self) -> tuple[Choice, ...]:
        return tuple(c for c in self.choices if c.missing is None and c.score is not None)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The scale's lowest and highest score (not the observed ones)."""
        scores = [c.score for c in self.scored if c.score is not None]
        return (min(scores), max(scores)) if scores else None


@dataclass(frozen=True, slots=True)
class MissingCode:
    name: str
    label: Mapping[str, str]
    #: Where the code is offered: "respondent" (web, SMS) and/or "interviewer" (CATI).
    modes: tuple[str, ...] = ("respondent", "interviewer")


@dataclass(frozen=True, slots=True)
class Construct:
    name: str
    label: Mapping[str, str]
    mode: str = "reflective"  # or "formative"


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    type: str
    label: Mapping[str, str]
    choices: ChoiceList | None = None
    hint: Mapping[str, str] = field(default_factory=dict)
    #: What the interviewer reads out or probes (e.g. "read the five answers"); shown on
    #: interviewers' pages only, never to a customer.
    instruction: Mapping[str, str] = field(default_factory=dict)
    required: bool = False
    relevant: Relevance | None = None
    construct: str | None = None
    reverse_scored: bool = False

    @property
    def bounds(self) -> tuple[float, float] | None:
        if self.type == "nps":
            return (0.0, 10.0)
        return self.choices.bounds if self.choices is not None else None

    def score(self, code: Any) -> float | None:
        """The score of a stored answer code, or None when it is missing.

        "Cannot answer", "refused" and "don't know" are missing values, never scores.
        Reverse-scored items are turned round here so that higher always means better.
        """
        if code is None or code == "":
            return None
        if self.is_missing_code(code):
            return None
        if self.type == "nps":
            value = float(code)
        elif self.choices is not None:
            choice = self.choices.choice(str(code))
            if choice is None or choice.missing is not None or choice.score is None:
                return None
            value = choice.score
        else:
            return None
        if self.reverse_scored and self.bounds is not None:
            low, high = self.bounds
            value = low + high - value
        return value

    def is_low(self, code: Any) -> bool:
        """Whether an answer is a low one, a customer's complaint in a number: a rating on
        its scale's two lowest points (after reverse scoring), or an NPS detractor (0-6).
        Other types (yes/no, a choice of topic) are context, never low."""
        if self.type not in SCORED_TYPES:
            return False
        score, bounds = self.score(code), self.bounds
        if score is None or bounds is None:
            return False
        return score <= (6 if self.type == "nps" else bounds[0] + 1)

    def is_missing_code(self, code: Any) -> bool:
        return self.missing_kind(code) is not None

    def missing_kind(self, code: Any) -> str | None:
        """The kind of missing value ``code`` records ("refused"...), or None for an answer."""
        if self.choices is None:
            return None
        choice = self.choices.choice(str(code))
        return choice.missing if choice is not None else None


@dataclass(frozen=True, slots=True)
class Questionnaire:
    form_id: str
    version: str
    title: Mapping[str, str]
    languages: tuple[str, ...]
    default_language: str
    items: tuple[Item, ...]
    choice_lists: Mapping[str, ChoiceList]
    constructs: Mapping[str, Construct]
    missing_codes: Mapping[str, MissingCode]
    #: Structural part of the model in lavaan syntax (``~`` and ``~~`` lines).
    structural_model: str
    #: The document the questionnaire was built from, in canonical form.
    document: Mapping[str, Any] = field(repr=False, compare=False)
    #: What answering works out once per questionnaire and keeps with it (skip logic per
    #: answers to the items conditions read: see ``survey.answering.pages.relevant_items``).
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def item(self, name: str) -> Item:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(f"questionnaire {self.form_id} {self.version} has no item {name!r}")

    @property
    def item_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)

    def construct_items(self) -> dict[str, tuple[str, ...]]:
        """Each construct with its items, in questionnaire order."""
        return {
            name: tuple(i.name for i in self.items if i.construct == name)
            for name in self.constructs
        }

    def lavaan_syntax(self) -> str:
        """The full model in lavaan syntax: measurement from the items, then the paths."""
        lines = []
        for name, items in self.construct_items().items():
            op = "<~" if self.constructs[name].mode == "formative" else "=~"
            lines.append(f"{name} {op} {' + '.join(items)}")
        lines += [ln for ln in self.structural_model.strip().splitlines() if ln.strip()]
        return "\n".join(lines) + "\n"

    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical document: two versions with one hash are identical."""
        return document_hash(self.document)


def document_hash(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
