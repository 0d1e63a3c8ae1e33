"""Responses for analysts: one row per response, one column per item, and a codebook.

:func:`export_responses` reads one questionnaire version's responses (optionally of one
campaign, a period and some statuses, and within a staff member's regions) and returns a
:class:`ResponseExport`: the data as stored choice codes, never scores (a score turns
"cannot answer" into NaN and reverse-scored items round; an export keeps what was answered, and
the codebook says how to read it). Columns are named after items, so a file from version
2026.1 and one from 2026.2 line up by name even where items were added or moved.

The writers for CSV, XLSX, SPSS and Parquet are in :mod:`survey.exports.files`.

Phone numbers are personal data: an export carries one only when asked (``include_phone``);
otherwise, given a key, an HMAC-SHA256 of the number, so that analysts can link two exports of
one customer without seeing the number (a plain hash of a phone number is reversed by trying
every number), or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func
from sqlmodel import Session, select

from survey.db.tables import Answer, Customer, QuestionnaireVersion, Response, Staff
from survey.questionnaire import Item, Questionnaire
from survey.questionnaire.publish import load_version
from survey.signing import mac
from survey.staff.accounts import scope_clause

PHONE = "phone_e164"
PHONE_HASH = "phone_hash"
#: Response metadata before the items, with the codebook's label of each (zh, en).
METADATA: dict[str, tuple[str, str]] = {
    "response_id": ("答卷编号", "Response id (database)"),
    "response_ref": ("外部答卷编号", "Response id from an imported data set"),
    "form_id": ("问卷编号", "Questionnaire form id"),
    "version": ("问卷版本", "Questionnaire version"),
    "campaign_id": ("调查活动", "Campaign id"),
    "channel": ("渠道", "Channel"),
    "language": ("语言", "Language"),
    "status": ("状态", "Status"),
    "started_at": ("开始时间 (UTC)", "Started at (UTC)"),
    "completed_at": ("完成时间 (UTC)", "Completed at (UTC)"),
    "interviewer": ("访问员", "Interviewer"),
    "interview_hall": ("拦截访问营业厅", "Service hall of an intercept interview"),
    "customer_id": ("客户编号", "Customer external id"),
    "region": ("地区", "Customer region"),
    "service_hall": ("营业厅", "Customer service hall"),
    "tier": ("星级", "Customer tier (1-5 stars)"),
}
PHONE_LABELS = {
    PHONE: ("手机号码", "Phone number (E.164)"),
    PHONE_HASH: ("手机号码密钥哈希", "Phone number, keyed hash (HMAC-SHA256)"),
}
CODEBOOK_COLUMNS = (
    "variable", "kind", "label_zh", "label_en", "type", "construct", "reverse_scored",
    "value_labels", "missing_codes", "form_id", "version",
    # What writing one file did to the column (survey.spreadsheets): cells given a leading '
    # against formulas, characters the format cannot hold replaced, and a sentence saying so.
    "cells_prefixed", "characters_replaced", "cleaning_zh", "cleaning_en",
)  # fmt: skip


@dataclass(frozen=True)
class ResponseExport:
    """The data (one row per response) and its codebook (one row per column of the data)."""

    data: pd.DataFrame
    codebook: pd.DataFrame
    questionnaire: Questionnaire
    #: How phone numbers appear: "included", "hashed" or "removed".
    phone: str

    @property
    def name(self) -> str:
        """A file name stem naming the questionnaire version, e.g. ``csi_mobile_2026.1``."""
        return f"{self.questionnaire.form_id}_{self.questionnaire.version}"


def phone_key(secret: str) -> bytes:
    """The key of exports' phone hashes, derived from the service secret for this one use.

    One key for every export (so that hashes link across exports and formats); a different
    purpose string from cookies' and CSRF's, so a hash never doubles as a signature.
    """
    return mac(secret, "manyi:export:phone-hash")


def phone_hash(key: bytes, phone: str) -> str:
    return mac(key, phone).hex()


def is_numeric(item: Item) -> bool:
    """Whether an item's codes are whole numbers (ratings, NPS), stored as numbers in files."""
    if item.type == "nps":
        return True
    if item.type == "multiple" or item.choices is None:
        return False
    return all(choice.name.lstrip("-").isdigit() for choice in item.choices.choices)


def export_responses(
    session: Session,
    version: QuestionnaireVersion,
    *,
    campaign_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    statuses: Sequence[str] | None = ("completed",),
    staff: Staff | None = None,
    include_phone: bool = False,
    phone_key: bytes | None = None,
) -> ResponseExport:
    """The responses to ``version`` as a :class:`ResponseExport`.

    ``since``/``until`` bound the completion time (the start time of an unfinished response),
    ``until`` excluded; ``statuses=None`` takes every status; ``staff`` limits the rows to a
    regional manager's regions and service halls (of the customer). The latest answer per
    item counts (answers are an append-only log).
    """
    questionnaire = load_version(version)
    query = (
        select(Response, Customer)
        .join(Customer, Response.customer_id == Customer.id, isouter=True)
        .where(Response.questionnaire_version_id == version.id)
    )
    if campaign_id is not None:
        query = query.where(Response.campaign_id == campaign_id)
    when = func.coalesce(Response.completed_at, Response.started_at)
    if since is not None:
        query = query.where(when >= since)
    if until is not None:
        query = query.where(when < until)
    if statuses is not None:
        query = query.where(Response.status.in_(list(statuses)))  # type: ignore[attr-defined]
    if staff is not None:
        query = query.where(scope_clause(staff, Customer.region, Customer.service_hall))
    rows = session.exec(query.order_by(Response.id)).all()
    answers = _latest_answers(session, [response.id for response, _ in rows])

    phone = "included" if include_phone else "hashed" if phone_key is not None else "removed"
    records = []
    for response, customer in rows:
        record = {
            "response_id": response.id,
            "response_ref": response.external_id,
            "form_id": questionnaire.form_id,
            "version": questionnaire.version,
            "campaign_id": response.campaign_id,
            "channel": response.channel,
            "language": response.language,
            "status": response.status,
            "started_at": response.started_at,
            "completed_at": response.completed_at,
            "interviewer": response.interviewer,
            "interview_hall": response.service_hall,
            "customer_id": customer.external_id if customer else None,
            "region": customer.region if customer else None,
            "service_hall": customer.service_hall if customer else None,
            "tier": customer.tier if customer else None,
        }
        if phone == "included":
            record[PHONE] = customer.phone_e164 if customer else None
        elif phone_key is not None:
            record[PHONE_HASH] = phone_hash(phone_key, customer.phone_e164) if customer else None
        given = answers.get(response.id, {})
        for item in questionnaire.items:
            record[item.name] = given.get(item.name)
        records.append(record)

    phone_columns = {"included": [PHONE], "hashed": [PHONE_HASH], "removed": []}[phone]
    columns = [*METADATA, *phone_columns, *questionnaire.item_names]
    data = pd.DataFrame(records, columns=columns)
    for column in ("response_id", "campaign_id", "tier"):
        data[column] = data[column].astype("Int64")
    for column in ("started_at", "completed_at"):
        data[column] = pd.to_datetime(data[column], utc=True)
    for item in questionnaire.items:
        # Codes of ratings and NPS as whole numbers (a missing code such as 6 included); a
        # code that is not a number (never stored by the forms) would stop the export here.
        if is_numeric(item):
            data[item.name] = pd.to_numeric(data[item.name]).astype("Int64")
        else:
            data[item.name] = data[item.name].astype("string")
    return ResponseExport(data, codebook(questionnaire, phone_columns), questionnaire, phone)


def _latest_answers(session: Session, response_ids: list[int]) -> dict[int, dict[str, str | None]]:
    latest: dict[int, dict[str, str | None]] = {}
    # In chunks: a database limits the parameters of one statement (SQLite 32766).
    for start in range(0, len(response_ids), 5000):
        chunk = response_ids[start : start + 5000]
        rows = session.exec(
            select(Answer.response_id, Answer.item_name, Answer.value)
            .where(Answer.response_id.in_(chunk))  # type: ignore[attr-defined]
            .order_by(Answer.id)
        ).all()
        for response_id, item_name, value in rows:
            latest.setdefault(response_id, {})[item_name] = value  # later rows win
    return latest


def value_labels(item: Item) -> dict[str, dict[str, str]]:
    """Each code of an item with its labels per language (NPS: the ends of the scale)."""
    if item.type == "nps":
        ends = {"0": {"zh": "完全不可能", "en": "Not at all likely"},
                "10": {"zh": "极有可能", "en": "Extremely likely"}}  # fmt: skip
        # and its missing codes (an interviewer's "refused", "don't know"), if it has any
        extra = [c for c in item.choices.choices if c.missing] if item.choices else []
        return {**ends, **{choice.name: dict(choice.label) for choice in extra}}
    if item.choices is None:
        return {}
    return {choice.name: dict(choice.label) for choice in item.choices.choices}


def missing_codes(item: Item) -> dict[str, str]:
    """Each code of an item that records a missing value, with its kind (e.g. cannot_answer)."""
    if item.choices is None:
        return {}
    return {c.name: c.missing for c in item.choices.choices if c.missing is not None}


def codebook(questionnaire: Questionnaire, phone_columns: Sequence[str] = ()) -> pd.DataFrame:
    """One row per column of the data: labels, type, construct, value labels, missing codes.

    ``value_labels`` and ``missing_codes`` are JSON objects keyed by code, so that the codebook
    stays one flat table in CSV and XLSX and is still read back exactly. The cleaning columns
    are zero and empty here: each file's writer fills them for what it changed.
    """
    base = {"form_id": questionnaire.form_id, "version": questionnaire.version}
    rows = []
    for name, (zh, en) in {**METADATA, **{c: PHONE_LABELS[c] for c in phone_columns}}.items():
        rows.append({"variable": name, "kind": "metadata", "label_zh": zh, "label_en": en,
                     "value_labels": "{}", "missing_codes": "{}", **base})  # fmt: skip
    for item in questionnaire.items:
        rows.append(
            {
                "variable": item.name,
                "kind": "item",
                "label_zh": item.label.get("zh", ""),
                "label_en": item.label.get("en", ""),
                "type": item.type,
                "construct": item.construct or "",
                "reverse_scored": item.reverse_scored,
                "value_labels": json.dumps(value_labels(item), ensure_ascii=False),
                "missing_codes": json.dumps(missing_codes(item)),
                **base,
            }
        )
    table = pd.DataFrame(rows, columns=list(CODEBOOK_COLUMNS))
    table["type"] = table["type"].fillna("")
    table["construct"] = table["construct"].fillna("")
    table["reverse_scored"] = table["reverse_scored"].fillna(False).astype(bool)
    table["cells_prefixed"] = 0
    table["characters_replaced"] = 0
    table["cleaning_zh"] = ""
    table["cleaning_en"] = ""
    return table
