"""``manyi sample contacts``, run through typer's CliRunner on the command function."""

from __future__ import annotations

import json

import pandas as pd
import typer
from typer.testing import CliRunner

from api.cli.contact_samples import sample_contacts

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("contacts")(sample_contacts)
    # A second command keeps typer from collapsing the group into its one command.
    app.command("other")(lambda: None)
    return app


def test_sample_contacts_writes_contacts_replies_and_truth(tmp_path):
    out = tmp_path / "week"
    result = runner.invoke(
        _app(),
        [
            "contacts",
            "--n",
            "3000",
            "--agents",
            "40",
            "--teams",
            "4",
            "--seed",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3000 contacts" in result.output
    contacts = pd.read_parquet(out / "contacts.parquet")
    assert len(contacts) == 3000 and contacts["contact_id"].is_unique
    assert contacts["agent_id"].nunique() <= 40
    replies = pd.read_parquet(out / "replies.parquet")
    assert set(replies["contact_id"]) <= set(contacts["contact_id"])
    truth = pd.read_parquet(out / "agents_truth.parquet")
    assert len(truth) == 40 and truth["team"].nunique() == 4
    record = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert record["parameters"]["seed"] == 5 and record["summary"]["contacts"] == 3000


def test_sample_contacts_as_csv_is_the_same_data_for_the_same_seed(tmp_path):
    args = ["contacts", "--n", "500", "--agents", "10", "--teams", "2", "--seed", "9"]
    for folder in ("a", "b"):
        result = runner.invoke(_app(), [*args, "--format", "csv", "--out", str(tmp_path / folder)])
        assert result.exit_code == 0, result.output
    first = (tmp_path / "a" / "contacts.csv").read_bytes()
    assert first == (tmp_path / "b" / "contacts.csv").read_bytes()
    assert b"T00:" in first and b"+08:00" in first


def test_sample_contacts_refuses_more_teams_than_agents_and_an_unknown_format(tmp_path):
    result = runner.invoke(
        _app(), ["contacts", "--n", "100", "--agents", "3", "--teams", "5", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "5 teams need at least 5 agents" in result.output
    result = runner.invoke(
        _app(), ["contacts", "--n", "100", "--format", "xlsx", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "parquet or csv" in result.output
