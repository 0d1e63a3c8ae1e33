"""A period's agents ranked once: the same counts again are read back (a past day's counts do
not change), equal to a fresh fit; any changed input is fitted again."""

from __future__ import annotations

import pandas as pd

import api.analysis.agents as agents
from survey.programmes.report import COUNT_COLUMNS


def counts(satisfied_of_a2: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        [("a1", "X", 40, 30, 27), ("a2", "X", 40, 30, satisfied_of_a2), ("b1", "Y", 40, 30, 29),
         ("b2", "Y", 40, 30, 24), ("b3", "Y", 40, 4, 0)],
        columns=["unit", "team", "contacts", "replies", "satisfied"],
    )  # fmt: skip
    frame["invitations"] = frame["contacts"]
    frame["dissatisfied"] = frame["replies"] - frame["satisfied"]
    frame["fair"] = frame["free_text"] = 0
    return frame[["unit", "team", *COUNT_COLUMNS]]


def test_the_same_counts_are_ranked_once_and_read_back_equal_to_a_fresh_fit(monkeypatch):
    fits = []
    fit = agents.shrunken_rates
    monkeypatch.setattr(agents, "shrunken_rates", lambda *a, **k: fits.append(1) or fit(*a, **k))
    monkeypatch.setattr(agents, "_RANKINGS", type(agents._RANKINGS)())
    first = agents.measure(counts(15), "agent")
    again = agents.measure(counts(15), "agent")
    assert len(fits) == 1
    pd.testing.assert_frame_equal(first, again)
    # One "1" fewer for a2: fitted again, and a2's shrunken rate goes down.
    changed = agents.measure(counts(14), "agent")
    assert len(fits) == 2
    assert changed.loc[1, "shrunken_rate"] < first.loc[1, "shrunken_rate"]
    # A fresh fit (nothing kept) gives what was read back.
    agents._RANKINGS.clear()
    pd.testing.assert_frame_equal(agents.measure(counts(15), "agent"), first)
    assert len(fits) == 3


def test_only_the_newest_rankings_are_kept(monkeypatch):
    monkeypatch.setattr(agents, "_RANKINGS", type(agents._RANKINGS)())
    monkeypatch.setattr(agents, "_RANKINGS_KEPT", 2)
    for satisfied in (10, 11, 12):
        agents.measure(counts(satisfied), "agent")
    assert len(agents._RANKINGS) == 2
