"""Service remedy (服务补救): rules on a completed response open a follow-up call.

A customer who says they are dissatisfied, or answers like those who do, is called back by
the outbound team. :func:`open_follow_ups` runs in the transaction that completes a response
(web page, SMS reply, interview), so the follow-up exists the moment the answer does; it
evaluates the rules on the response's latest answers, scores it with the questionnaire's
usable "potentially dissatisfied" classifier (:mod:`survey.remedy.classifier`), and opens at most
one :class:`~survey.db.tables.FollowUp` with its outbound :class:`~survey.db.tables.CallCase`.
:func:`close_follow_up` records the call's outcome and root cause.

Rules are data: ``{"code", "item", "op", "value"}`` plus optional ``form_id`` (only that
questionnaire) and ``at_least`` (with item ``"*"``: how many items must match). They compare
an answer's *score* (the questionnaire's label-to-score map, reverse-scored items turned
round), never its code: "cannot answer", "refused" and "don't know" have no score and so
never fire a rule. Item ``"*"`` stands for every rating item of the questionnaire.

Default rules (:data:`DEFAULT_RULES`), after the operator's practice:

- ``overall_dissatisfied``: overall satisfaction (``sat_overall``) of 2 or less of 5;
- ``item_very_poor``: any rating item answered 1, "very poor" (on the sample data this fires
  for about 56% of responses, 36% with ``at_least: 2``: size the team or tighten it);
- ``sms_dissatisfied``: "不满意" (code 3, score 1) to the hotline SMS evaluation's ``overall``;
- ``contact_dissatisfied``: "不满意" (code 3, score 1) to the contact evaluation's
  ``overall`` (``contact_eval``, the programmes' questionnaire), by SMS reply or on the web.

The re-survey after a call is :mod:`survey.campaigns.resurvey`: the customer of a follow-up
closed as resolved or not resolved is invited to a running reply-mode campaign (e.g. the standing
hotline evaluation); the invitation's id is stored in ``FollowUp.resurvey_invitation_id``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from survey.db.tables import (
    Answer,
    CallCase,
    Customer,
    FollowUp,
    QuestionnaireVersion,
    Response,
    Staff,
)
from survey.errors import InvalidRequest
from survey.questionnaire import Questionnaire, questionnaire_from_document
from survey.remedy.classifier import features_of, flags, score, usable_model

#: Follow-ups go before every interview case (interviews have priority 0).
FOLLOW_UP_PRIORITY = 100
#: The default service-level agreement: a follow-up is to be closed within 48 hours.
DEFAULT_SLA = timedelta(hours=48)
#: The reason recorded when the classifier, not a rule, opened the follow-up.
CLASSIFIER_REASON = "potentially_dissatisfied"
OUTCOMES = ("resolved", "not_resolved", "unreachable")
#: Root causes a supervisor reports on; other codes (lower-case identifiers) are allowed.
ROOT_CAUSES = (
    "network",
    "billing",
    "hall",
    "hotline",
    "new_services",
    "complaint_handling",
    "product",
    "no_issue",
    "other",
)
#: zh/en labels of the follow-up outcomes, root causes and the reasons a follow-up opened.
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "resolved": ("已解决", "resolved"),
    "not_resolved": ("未解决", "not resolved"),
    "unreachable": ("联系不上", "unreachable"),
}
ROOT_CAUSE_LABELS: dict[str, tuple[str, str]] = {
    "network": ("网络", "network"),
    "billing": ("话费与缴费", "billing"),
    "hall": ("营业厅", "service hall"),
    "hotline": ("客服热线", "hotline"),
    "new_services": ("新业务", "new services"),
    "complaint_handling": ("投诉处理", "complaint handling"),
    "product": ("产品与套餐", "product"),
    "no_issue": ("无实际问题", "no real issue"),
    "other": ("其他", "other"),
}
REASON_LABELS: dict[str, tuple[str, str]] = {
    "overall_dissatisfied": ("总体满意度低（≤2分）", "overall satisfaction 2 or less"),
    "item_very_poor": ("有题目评为“非常差”", "an item rated very poor"),
    "sms_dissatisfied": ("短信评价“不满意”", "dissatisfied SMS evaluation"),
    "contact_dissatisfied": ("服务评价“不满意”", "dissatisfied with the contact"),
    "potentially_dissatisfied": ("潜在不满意（模型评分）", "potentially dissatisfied (model)"),
}
OPERATORS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
ANY_RATING = "*"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RuleError(InvalidRequest):
    """Rules that cannot be used; ``problems`` says which rule, which field and the fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid remedy rules:\n" + "\n".join(f"- {p}" for p in problems))
        self.problems = tuple(problems)


class FollowUpError(InvalidRequest):
    """A follow-up cannot be closed as asked."""


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    item: str
    op: str
    value: float
    form_id: str | None = None
    at_least: int = 1


DEFAULT_RULES = (
    Rule("overall_dissatisfied", "sat_overall", "<=", 2),
    Rule("item_very_poor", ANY_RATING, "<=", 1),
    Rule("sms_dissatisfied", "overall", "<=", 1, form_id="hotline_eval"),
    Rule("contact_dissatisfied", "overall", "<=", 1, form_id="contact_eval"),
)


def parse_rules(data: Iterable[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """Rules from plain data (a YAML or JSON list), every problem reported at once."""
    rules, problems, codes = [], [], set()
    for index, raw in enumerate(data):
        where = f"rule {index + 1}"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: expected a mapping with code, item, op and value")
            continue
        unknown = set(raw) - {"code", "item", "op", "value", "form_id", "at_least"}
        if unknown:
            problems.append(
                f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                "fields are code, item, op, value, form_id, at_least"
            )
        code, item, op, value = (raw.get(k) for k in ("code", "item", "op", "value"))
        if not isinstance(code, str) or not _CODE.match(code):
            problems.append(
                f"{where}: code {code!r} must be a lower-case identifier, e.g. overall_dissatisfied"
            )
        elif code in codes or code == CLASSIFIER_REASON:
            problems.append(f"{where}: code {code!r} is already used; give each rule its own")
        codes.add(code)
        if not isinstance(item, str) or not (item == ANY_RATING or _CODE.match(item)):
            problems.append(f"{where}: item {item!r} must be an item name or '*' (any rating)")
        if op not in OPERATORS:
            problems.append(f"{where}: op {op!r} is not one of {' '.join(OPERATORS)}")
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number):
            problems.append(
                f"{where}: value {value!r} must be a number, compared with the "
                "answer's score (not its code)"
            )
        at_least = raw.get("at_least", 1)
        if not isinstance(at_least, int) or isinstance(at_least, bool) or at_least < 1:
            problems.append(f"{where}: at_least {at_least!r} must be a whole number >= 1")
        elif at_least > 1 and item != ANY_RATING:
            problems.append(f"{where}: at_least applies only to item '*'")
        form_id = raw.get("form_id")
        if form_id is not None and not isinstance(form_id, str):
            problems.append(f"{where}: form_id {form_id!r} must be a questionnaire's form_id")
        if not problems:
            rules.append(Rule(code, item, op, float(number), form_id, at_least))
    if problems:
        raise RuleError(problems)
    return tuple(rules)


def fired_rules(
    rules: Iterable[Rule], questionnaire: Questionnaire, answers: Mapping[str, str | None]
) -> list[str]:
    """The codes of the rules that fire on a response's latest answers (stored codes).

    A rule naming an item the questionnaire lacks, or for another form, does not apply.
    """
    items = {item.name: item for item in questionnaire.items}
    fired = []
    for rule in rules:
        if rule.form_id is not None and rule.form_id != questionnaire.form_id:
            continue
        if rule.item == ANY_RATING:
            names = [i.name for i in questionnaire.items if i.type == "rating"]
        else:
            names = [rule.item] if rule.item in items else []
        compare = OPERATORS[rule.op]
        matches = 0
        for name in names:
            value = items[name].score(answers.get(name))
            if value is not None and compare(value, rule.value):
                matches += 1
        if names and matches >= rule.at_least:
            fired.append(rule.code)
    return fired


# -- opening ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenedFollowUp:
    follow_up_id: int
    case_id: int | None
    reasons: tuple[str, ...]
    score: float | None
    due_at: datetime


_R, _C, _V = Response.__table__.c, Customer.__table__.c, QuestionnaireVersion.__table__.c
_A, _F = Answer.__table__.c, FollowUp.__table__.c
_RESPONSE = (
    select(
        _R.questionnaire_version_id,
        _R.customer_id,
        _R.channel,
        _R.status,
        _V.content_hash,
        _C.tier,
        _C.region,
        _C.tenure_months,
        _C.monthly_spend,
    )
    .join(QuestionnaireVersion.__table__, _V.id == _R.questionnaire_version_id)
    .join(Customer.__table__, _C.id == _R.customer_id, isouter=True)
    .where(_R.id == bindparam("response_id"))
)
_ANSWERS = (
    select(_A.item_name, _A.value).where(_A.response_id == bindparam("response_id")).order_by(_A.id)
)
_PARSED: dict[str, Questionnaire] = {}


def _questionnaire(connection: Connection, version_id: int, content_hash: str) -> Questionnaire:
    # Published versions never change: parse each content once (keyed by hash, not id, as
    # two databases may give one id to different questionnaires).
    parsed = _PARSED.get(content_hash)
    if parsed is None:
        document = connection.execute(select(_V.document).where(_V.id == version_id)).scalar_one()
        parsed = questionnaire_from_document(document)
        if len(_PARSED) < 64:
            _PARSED[content_hash] = parsed
    return parsed


def _insert_follow_up(dialect: str):
    # ON CONFLICT DO NOTHING on the unique response_id: a second call for one response is a
    # no-op without an error, so the caller's transaction (a group commit's batch) stays usable.
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        dialect_insert(FollowUp.__table__)
        .on_conflict_do_nothing(index_elements=["response_id"])
        .returning(_F.id)
    )


_INSERT_FOLLOW_UP = {name: _insert_follow_up(name) for name in ("postgresql", "sqlite")}


def open_follow_ups(
    db: Session | Connection,
    response_id: int,
    now: datetime,
    *,
    rules: Sequence[Rule] = DEFAULT_RULES,
    sla: timedelta = DEFAULT_SLA,
    priority: int = FOLLOW_UP_PRIORITY,
) -> OpenedFollowUp | None:
    """Open the follow-up a completed response calls for, in the caller's transaction.

    Reasons are the rules that fired and, when the version has a usable classifier whose
    score reaches its threshold, ``potentially_dissatisfied``; the score is recorded only
    from a usable classifier. The follow-up is due ``now + sla``; a customer who can be
    called gets a ``follow_up`` call case with ``priority`` (above every interview), due
    now. Idempotent: a response has at most one follow-up, a second call returns None.
    Returns None too when the response is not completed or nothing fires. Does not commit.
    """
    connection = db.connection() if isinstance(db, Session) else db
    row = connection.execute(_RESPONSE, {"response_id": response_id}).one_or_none()
    if row is None or row.status != "completed":
        return None
    questionnaire = _questionnaire(connection, row.questionnaire_version_id, row.content_hash)
    answers: dict[str, str | None] = {}
    for name, value in connection.execute(_ANSWERS, {"response_id": response_id}):
        answers[name] = value  # append-only: the latest row per item wins
    reasons = fired_rules(rules, questionnaire, answers)
    probability = None
    parameters = usable_model(connection, row.questionnaire_version_id)
    if parameters is not None:
        attributes = {
            "tier": row.tier,
            "region": row.region,
            "tenure_months": row.tenure_months,
            "monthly_spend": row.monthly_spend,
            "channel": row.channel,
        }
        features = features_of(questionnaire, parameters["items"], answers, attributes)
        probability = score(parameters, features)
        if flags(parameters, probability):
            reasons.append(CLASSIFIER_REASON)
    if not reasons:
        return None
    due_at = now + sla
    follow_up_id = connection.execute(
        _INSERT_FOLLOW_UP[connection.dialect.name],
        {
            "response_id": response_id,
            "customer_id": row.customer_id,
            "reasons": reasons,
            "score": probability,
            "status": "open",
            "opened_at": now,
            "due_at": due_at,
        },
    ).scalar()
    if follow_up_id is None:
        return None  # opened already
    case_id = None
    if row.customer_id is not None:
        # Not tied to the response's campaign: a follow-up is no interview of it, and must
        # not enter that campaign's AAPOR response rates.
        case_id = connection.execute(
            CallCase.__table__.insert().returning(CallCase.__table__.c.id),
            {
                "customer_id": row.customer_id,
                "kind": "follow_up",
                "priority": priority,
                "status": "open",
                "next_call_at": now,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        connection.execute(
            update(FollowUp.__table__).where(_F.id == follow_up_id).values(case_id=case_id)
        )
    return OpenedFollowUp(follow_up_id, case_id, tuple(reasons), probability, due_at)


# -- closing ------------------------------------------------------------------------------


def close_follow_up(
    session: Session,
    follow_up_id: int,
    outcome: str,
    root_cause: str | None,
    staff_id: int,
    now: datetime,
    *,
    notes: str | None = None,
) -> FollowUp:
    """Record a follow-up's outcome and root cause and take its call case off the queue.

    ``root_cause`` is required unless the customer was unreachable (then nobody knows it).
    Raises :class:`FollowUpError` for an unknown outcome, a malformed root cause, an unknown
    or inactive staff member, or a follow-up that does not exist or is closed already (the
    closing UPDATE is conditional, so two agents cannot both close it). Does not commit.
    """
    if outcome not in OUTCOMES:
        raise FollowUpError(f"outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    if root_cause is None or root_cause == "":
        if outcome != "unreachable":
            raise FollowUpError(
                f"a {outcome} follow-up needs a root cause, e.g. {', '.join(ROOT_CAUSES)}"
            )
        root_cause = None
    elif not _CODE.match(root_cause):
        raise FollowUpError(
            f"root cause {root_cause!r} must be a lower-case code such as {', '.join(ROOT_CAUSES)}"
        )
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise FollowUpError(f"staff member {staff_id} does not exist or is inactive")
    closed = session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.status == "open")
        .values(
            status="closed",
            outcome=outcome,
            root_cause=root_cause,
            notes=notes,
            closed_at=now,
            closed_by=staff_id,
        )
    ).rowcount
    follow_up = session.get(FollowUp, follow_up_id, populate_existing=True)
    if follow_up is None:
        raise FollowUpError(f"follow-up {follow_up_id} does not exist")
    if closed != 1:
        raise FollowUpError(f"follow-up {follow_up_id} is closed already ({follow_up.outcome})")
    if follow_up.case_id is not None:
        session.execute(
            update(CallCase)
            .where(CallCase.id == follow_up.case_id, CallCase.status == "open")
            .values(status="final", held_by=None, held_until=None, updated_at=now)
        )
    return follow_up
