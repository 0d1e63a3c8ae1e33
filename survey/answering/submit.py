"""One posted page, however it was answered: the customer's web form, an intercept interview
on a tablet, or a phone interview.

:func:`submit_page` is the one answering path: it works out skip logic once for the stored
answers and once with the page's, validates the page, writes it (:func:`~survey.answering.
pages.plan_page` then :func:`~survey.answering.pages.apply_page`, which also completes the
response and runs the service-remedy rules in the same transaction), and says what to show
next. It writes on the connection it is given and never commits: the web form's pages share
the group commit (:mod:`survey.db.group_commit`), interviews commit their session. What
differs between the ways in (which missing codes are offered) is the link's ``mode``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.engine import Connection

from survey.answering.pages import (
    Link,
    LinkUnavailable,
    Page,
    apply_page,
    next_page,
    plan_page,
    relevant_items,
    resume_page,
    shown_items,
    unanswered_required,
    validate_page,
)

#: ``invalid``: show ``page`` again with ``errors``; ``saved``: go on to ``next_page``;
#: ``moved``: skip logic leaves the page out now, nothing was written: go to ``next_page``;
#: ``completed``: the response is complete (by this page, or already: a double tap).
Outcome = Literal["invalid", "saved", "moved", "completed"]


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a posted page led to."""

    outcome: Outcome
    #: The page posted (``invalid``) or the page to go to (``saved``, ``moved``).
    page: Page | None = None
    #: Per refused field, its error code (see :class:`~survey.answering.pages.FieldError`).
    errors: Mapping[str, str] = field(default_factory=dict)
    #: The posted values, for showing a refused page as it was filled in.
    values: Mapping[str, Any] = field(default_factory=dict)
    #: The language the page was answered in.
    language: str = ""
    #: Whether anything was written (the caller commits only then).
    written: bool = False


def posted_language(link: Link, form: Mapping[str, Sequence[str]]) -> str:
    """The language a page was posted in (its hidden ``lang`` field), if the form has it."""
    return link.language_for((form.get("lang") or [None])[0])


def posted_values(page: Page, form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The posted fields of a page as the form shows them (a list for multiple choice)."""
    return {
        item.name: list(form.get(item.name, []))
        if item.type == "multiple"
        else (form.get(item.name) or [""])[0]
        for item in page.items
    }


def submit_page(
    connection: Connection,
    link: Link,
    number: int,
    form: Mapping[str, Sequence[str]],
    *,
    now: datetime | None = None,
) -> Submitted:
    """Check page ``number`` of ``link`` as posted and, if it is valid, write it.

    ``form`` maps a field to the values the browser sent. Raises
    :class:`~survey.answering.pages.LinkUnavailable` for a page the questionnaire does not
    have. The caller commits when ``written`` (and only after that shows the next page).
    """
    if link.completed:
        # A double tap, or a stale tab: the response is already in, exactly once.
        return Submitted("completed")
    page = link.page(number)
    if page is None:
        raise LinkUnavailable
    questionnaire = link.questionnaire
    relevant = link.relevant
    items = shown_items(page, relevant)
    if not items:
        target = resume_page(link.pages, questionnaire, link.answers, relevant)
        return Submitted("moved", page=target)
    language = posted_language(link, form)
    check = validate_page(questionnaire, items, form, link.mode)
    if not check.ok:
        errors = {name: error.code for name, error in check.errors.items()}
        return Submitted(
            "invalid", page=page, errors=errors, values=posted_values(page, form),
            language=language,
        )  # fmt: skip
    answers = {**link.answers, **check.values}
    after = relevant_items(questionnaire, answers)
    following = next_page(link.pages, page, after)
    complete = following is None and not unanswered_required(questionnaire, answers, after)
    write = plan_page(
        link, check.values, language=language, complete=complete, now=now, relevant=after
    )
    if not apply_page(connection, write):
        # Completed meanwhile (the other tap of a double tap): nothing written.
        return Submitted("completed", language=language)
    if complete:
        return Submitted("completed", language=language, written=True)
    if following is None:
        # The last page, but an earlier required answer is missing (skip logic changed, or a
        # page was reached by its address): go back to it.
        following = resume_page(link.pages, questionnaire, answers, after)
    return Submitted("saved", page=following, language=language, written=True)
