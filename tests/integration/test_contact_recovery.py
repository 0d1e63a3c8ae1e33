"""Recovery on the simulated week: shrunken agent rankings find the true agent effects.

On five simulated weeks of 200,000 contacts (the replies only: about 45,000), agents'
satisfaction rates are ranked raw and shrunk toward their team's mean
(scoring.agents), and compared with the true agent effects (team + agent effect) that
survey.synthetic.contacts drew: Spearman's rho, and how many agents flagged "bottom 5%"
are not truly among the 5% with the lowest effect.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from scoring.agents import bottom_flags, shrunken_rates, unit_rates
from survey.synthetic.contacts import simulate_contacts

SEEDS = (1, 2, 3, 4, 5)


def recovery(seed: int) -> dict[str, float]:
    week = simulate_contacts(seed=seed)
    contacts = week.contacts.merge(week.replies[["contact_id", "digit"]], how="left")
    truth = week.agents.set_index("agent_id")
    rates = unit_rates(contacts, "agent_id").join(truth[["team"]])
    shrunk = shrunken_rates(rates, successes="satisfied", trials="replies", group="team")
    flags = bottom_flags(shrunk, share=0.05)
    effect = truth.loc[shrunk.index, "true_effect"]
    measured = shrunk["trials"] > 0
    worst = set(truth["true_effect"].nsmallest(int(np.ceil(0.05 * len(truth)))).index)
    return {
        "rho_raw": spearmanr(shrunk["raw_rate"][measured], effect[measured]).statistic,
        "rho_shrunken": spearmanr(shrunk["posterior_mean"][measured], effect[measured]).statistic,
        "false_raw": sum(agent not in worst for agent in flags.index[flags["bottom_raw"]]),
        "false_shrunken": sum(
            agent not in worst for agent in flags.index[flags["bottom_shrunken"]]
        ),
        "flagged": int(flags["bottom_raw"].sum()),
    }


@pytest.fixture(scope="module")
def results() -> dict[int, dict[str, float]]:
    return {seed: recovery(seed) for seed in SEEDS}


def test_shrunken_ranking_follows_the_true_effects_better_than_raw_rates(results, capsys):
    with capsys.disabled():
        for seed, r in results.items():
            print(
                f"\nseed {seed}: rho raw {r['rho_raw']:.3f} shrunken {r['rho_shrunken']:.3f}; "
                f"false bottom-5% raw {r['false_raw']}/{r['flagged']} "
                f"shrunken {r['false_shrunken']}/{r['flagged']}"
            )
    for r in results.values():
        assert r["rho_shrunken"] > 0.8
        assert r["rho_shrunken"] >= r["rho_raw"] + 0.01
    gain = np.mean([r["rho_shrunken"] - r["rho_raw"] for r in results.values()])
    assert gain >= 0.025


def test_shrunken_rates_flag_fewer_false_bottom_agents_than_raw_rates(results):
    for r in results.values():
        assert r["false_shrunken"] <= r["false_raw"]
    raw = sum(r["false_raw"] for r in results.values())
    shrunken = sum(r["false_shrunken"] for r in results.values())
    assert shrunken <= raw - 5
