"""``manyi sample contacts``: a simulated week of hotline contacts with known agent effects.

Registered in the ``sample`` group by ``api/cli/main.py``. The data are generated on
demand (200,000 contacts take a couple of seconds), never kept in the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.support import fail

DEFAULT_OUT = Path("data/samples/contacts")


def sample_contacts(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of contacts in the week.")] = 200_000,
    agents: Annotated[int, typer.Option(min=1, help="Number of agents.")] = 300,
    teams: Annotated[int, typer.Option(min=1, help="Number of teams.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = (
        20260302
    ),
    out: Annotated[Path, typer.Option(help="Folder to write into.")] = DEFAULT_OUT,
    fmt: Annotated[str, typer.Option("--format", help="Tables as parquet or csv.")] = "parquet",
) -> None:
    """Simulate a week of hotline contacts, the replies they would get, and the truth.

    Writes contacts, replies and agents_truth (.parquet or .csv) and truth.json (the
    parameters, the seed and a summary) into the folder OUT. Phone numbers are from ranges
    reserved for fiction.
    """
    from survey.synthetic.contacts import simulate_contacts, write_week

    try:
        week = simulate_contacts(n=n, agents=agents, teams=teams, seed=seed)
        written = write_week(week, out, fmt)
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(
        f"wrote {len(week.contacts)} contacts ({week.contacts['phone'].nunique()} customers), "
        f"{len(week.replies)} replies and the truth of {len(week.agents)} agents to {out}: "
        + ", ".join(p.name for p in written)
    )
