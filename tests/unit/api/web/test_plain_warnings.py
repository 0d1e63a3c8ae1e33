"""Warnings in words for their reader: plain sentences for managers, codes for researchers."""

from __future__ import annotations

from api.web.plain_warnings import COMPUTATION, about, for_reader, subject_of

LABELS = {"network": {"zh": "网络质量", "en": "Network quality"},
          "net_clarity": {"zh": "通话清晰度", "en": "Call clarity"},
          "billing": {"zh": "话费", "en": "Billing"}}  # fmt: skip


def label(name):
    return LABELS.get(name, {"zh": name, "en": name})


MISSING = {"code": "missing-data", "severity": "warning",
           "message": "10.5% of answers missing for net_clarity; mean shrinks"}  # fmt: skip
PAIR = {"code": "htmt-above-0.90", "severity": "warning", "subject": "network~~billing",
        "message": "HTMT of 'network' and 'billing' is 0.93"}  # fmt: skip
ODD = {"code": "bootstrap-failed-resamples", "severity": "warning", "message": "3 of 200 failed"}


def test_a_manager_reads_a_sentence_naming_labels_and_no_code_or_variable():
    shown = for_reader([MISSING, MISSING, PAIR, ODD], label, LABELS, detailed=False)
    assert [w["en"] for w in shown] == [
        "Many customers did not answer “Call clarity”: its figures are less certain.",
        "The drivers “Network quality, Billing” are hard to tell apart: their importances may "
        "be mixed up.",
        COMPUTATION[1],
    ]  # the same sentence twice is said once
    assert shown[1]["zh"].startswith("“网络质量、话费”")
    assert all(w["code"] is None and w["message"] is None for w in shown)


def test_a_researcher_also_gets_the_code_and_the_message_of_each_warning():
    shown = for_reader([MISSING, MISSING], label, LABELS, detailed=True)
    assert len(shown) == 2 and shown[0]["code"] == "missing-data"
    assert shown[0]["message"] == MISSING["message"]


def test_a_view_keeps_the_warnings_of_what_it_shows_and_those_about_no_one_thing():
    assert subject_of(MISSING, LABELS) == "net_clarity"
    assert about([MISSING, PAIR, ODD], LABELS, {"network", "net_clarity"}) == [MISSING, PAIR, ODD]
    assert about([MISSING, PAIR, ODD], LABELS, {"billing"}) == [PAIR, ODD]
    assert about([MISSING], LABELS, {"image"}) == []
