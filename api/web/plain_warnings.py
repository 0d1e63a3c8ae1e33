"""Measurement warnings in words for the person reading them.

A warning (``models.diagnostics.ModelWarning``) carries a stable code, a researcher's
message in English naming variables, and the construct or item it is about. A manager gets
one plain zh/en sentence per warning, naming the construct or item by its label; a
researcher gets the same sentence and, under it, the code and the original message
(:func:`for_reader`).

Which warnings a priority matrix shows (:func:`about`): those of the constructs and items
on it, and those about no one construct (the model, the bootstrap) — never another
driver's items.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: code -> (zh, en); ``{s}`` is the subject's label. The codes are models' and scoring's.
WORDS: dict[str, tuple[str, str]] = {
    "missing-data": (
        "“{s}”的缺失回答较多，其结果的把握程度较低。",
        "Many customers did not answer “{s}”: its figures are less certain.",
    ),
    "low-ave": (
        "“{s}”的各题测量的不完全是同一件事，解读其指数时要谨慎。",
        "The questions of “{s}” do not all measure the same thing: read its index with care.",
    ),
    "low-alpha": (
        "“{s}”的各题回答不够一致，解读其指数时要谨慎。",
        "The answers to the questions of “{s}” are not consistent enough: read its "
        "index with care.",
    ),
    "low-rho-a": (
        "“{s}”的各题回答不够一致，解读其指数时要谨慎。",
        "The answers to the questions of “{s}” are not consistent enough: read its "
        "index with care.",
    ),
    "low-rho-c": (
        "“{s}”的各题回答不够一致，解读其指数时要谨慎。",
        "The answers to the questions of “{s}” are not consistent enough: read its "
        "index with care.",
    ),
    "fornell-larcker-violated": (
        "“{s}”与另一维度难以区分，两者的重要性可能互相混淆。",
        "“{s}” is hard to tell apart from another driver: their importances may be mixed up.",
    ),
    "htmt-above-0.90": (
        "“{s}”这两个维度难以区分，两者的重要性可能互相混淆。",
        "The drivers “{s}” are hard to tell apart: their importances may be mixed up.",
    ),
    "cross-loading": (
        "题目“{s}”同时反映了另一个维度，研究员将检查其归属。",
        "The question “{s}” also reflects another driver; the researchers will "
        "check where it belongs.",
    ),
    "high-vif": (
        "“{s}”与其他驱动因素高度相关，各自的重要性难以分开估计。",
        "“{s}” moves together with other drivers: their separate importances are hard to estimate.",
    ),
    "negative-outer-weight": (
        "题目“{s}”在其维度中的权重为负，研究员将检查该题。",
        "The question “{s}” counts negatively in its driver; the researchers will check it.",
    ),
    "not-comparable": (
        "“{s}”的指数与其他单位不可比较，其排名不能解读。",
        "The index of “{s}” is not comparable with the other units': its rank cannot be read.",
    ),
    "single-tier": (
        "各项的区间互相重叠，无法可靠地排出先后。",
        "The intervals overlap: the items cannot be put in a reliable order.",
    ),
    "single-item-construct": (
        "“{s}”只由一道题测量，其指数的把握程度较低。",
        "“{s}” is measured by one question only: its index is less certain.",
    ),
    "formative-construct": (
        "“{s}”由各题共同构成，不检查各题的一致性。",
        "“{s}” is formed by its questions together; their consistency is not checked.",
    ),
    "few-categories": (
        "题目“{s}”的回答类别很少，结果的把握程度较低。",
        "The question “{s}” has few answer categories: its figures are less certain.",
    ),
    "rows-without-segment": (
        "部分答卷没有所属单位，未计入各单位的结果。",
        "Some responses have no unit and are left out of the units' results.",
    ),
}
#: Warnings about the computation rather than the customers (a bootstrap, convergence).
COMPUTATION = (
    "计算过程中出现一个技术问题，研究员会检查；结果仍可阅读，但需谨慎。",
    "A technical issue arose in the computation; the researchers will check it. "
    "The figures can be read, with care.",
)


def _parts(subject: str | None) -> list[str]:
    """The constructs or items a subject names: one, or a pair written ``a~~b``."""
    return [part.strip() for part in str(subject or "").split("~~") if part.strip()]


def subject_of(warning: Mapping[str, Any], known: Iterable[str]) -> str | None:
    """The warning's subject; for a stored warning without one (a segment's matrix), the
    constructs or items of ``known`` that its message names, as ``a~~b``."""
    if warning.get("subject"):
        return warning["subject"]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", warning.get("message", "")))
    named = [name for name in known if name in words]
    return "~~".join(named) if named else None


def sentence(
    warning: Mapping[str, Any], label: Callable[[str], Mapping[str, str]], known: Iterable[str]
) -> tuple[str, str]:
    """The plain (zh, en) sentence of one warning, naming its subject by label ("some
    questions" when it names none of ``known``)."""
    names = _parts(subject_of(warning, known))
    zh_subject = "、".join(label(n)["zh"] for n in names) or "部分题目"
    en_subject = ", ".join(label(n)["en"] for n in names) or "some questions"
    zh, en = WORDS.get(warning.get("code", ""), COMPUTATION)
    return zh.format(s=zh_subject), en.format(s=en_subject)


def for_reader(
    warnings: Iterable[Mapping[str, Any]],
    label: Callable[[str], Mapping[str, str]],
    known: Iterable[str],
    *,
    detailed: bool,
) -> list[dict[str, Any]]:
    """Each warning as the page shows it: the plain sentence, and for a researcher
    (``detailed``) the code and the original message too. Identical sentences are shown
    once for a manager."""
    known = list(known)
    shown: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for warning in warnings:
        words = sentence(warning, label, known)
        if not detailed and words in seen:
            continue
        seen.add(words)
        shown.append({"zh": words[0], "en": words[1], "severity": warning.get("severity"),
                      "code": warning.get("code") if detailed else None,
                      "message": warning.get("message") if detailed else None})  # fmt: skip
    return shown


def about(
    warnings: Iterable[Mapping[str, Any]], known: Iterable[str], shown: set[str]
) -> list[Mapping[str, Any]]:
    """The warnings a view of ``shown`` (constructs and items, among all ``known``) should
    carry: those whose subject is among them, and those about no construct or item."""
    known = list(known)
    kept = []
    for warning in warnings:
        subject = subject_of(warning, known)
        if subject is None or any(part in shown for part in _parts(subject)):
            kept.append(warning)
    return kept
