"""The survey domain on a real database: SQLite and PostgreSQL run the same tests."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, SQLModel, select

from api.cli.demo import prepare_demo
from survey.answering.bulk_import import import_responses
from survey.db.engine import current_revision, downgrade, head_revision, make_engine, upgrade
from survey.db.tables import Answer, Customer, QuestionnaireVersion, Response
from survey.exports.responses import export_responses
from survey.frames.sample_frame import generate_frame
from survey.frames.store import store_frame
from survey.questionnaire import build_questionnaire
from survey.questionnaire.publish import VersionConflict, find_version, load_version, publish
from survey.questionnaire.scores import item_scores


def test_migrations_create_exactly_the_tables_of_the_code(engine):
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrations_go_down_and_up_again(engine):
    downgrade(engine, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_durable_commits(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'dir' / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_publish_is_idempotent_and_a_changed_version_is_refused(engine, sample_questionnaire):
    with Session(engine) as session:
        first = publish(session, sample_questionnaire)
        again = publish(session, sample_questionnaire)
        assert again.id == first.id
        changed = dict(sample_questionnaire.document)
        changed["title"] = {"zh": "改过的标题", "en": "A changed title"}
        questionnaire, _ = build_questionnaire(changed)
        with pytest.raises(VersionConflict, match="immutable"):
            publish(session, questionnaire)
        assert load_version(find_version(session, "csi_mobile", "2026.1")).content_hash == (
            sample_questionnaire.content_hash
        )


def test_database_refuses_to_update_a_published_version(engine, sample_questionnaire):
    with Session(engine) as session:
        row = publish(session, sample_questionnaire)
        row.title = "tampered"
        session.add(row)
        with pytest.raises(DBAPIError, match="immutable"):
            session.commit()


def test_database_keeps_answers_append_only(engine, sample_questionnaire):
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        response = Response(questionnaire_version_id=version.id, channel="web")
        session.add(response)
        session.commit()
        answer = Answer(response_id=response.id, item_name="sat_overall", value="4")
        session.add(answer)
        session.commit()
        answer.value = "5"
        session.add(answer)
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()


def test_response_must_point_at_a_published_version(engine):
    with Session(engine) as session:
        session.add(Response(questionnaire_version_id=999_999, channel="web"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_sample_data_loads_once_and_exports_scores_with_cannot_answer_as_nan(engine):
    loaded = prepare_demo(engine)
    assert (loaded.customers, loaded.responses) == (20_000, 5000)
    assert prepare_demo(engine) == loaded  # a second run loads nothing twice
    raw = pd.read_csv(
        "data/samples/responses.csv", dtype=str, keep_default_na=False, na_values=[""]
    )
    with Session(engine) as session:
        version = find_version(session, "csi_mobile", "2026.1")
        export = export_responses(session, version)  # what the analyses read
        phones = session.exec(select(Customer.phone_e164)).all()
    items = [i.name for i in export.questionnaire.items if i.construct or i.type == "nps"]
    scores = item_scores(export.data, items, export.questionnaire).join(
        export.data[["customer_id", "tier", "channel"]]
    )
    assert len(scores) == 5000
    assert all(p.startswith("+1") and p[5:10] == "55501" for p in phones[:100])
    merged = scores.merge(raw, on="customer_id", suffixes=("", "_raw"))
    for item in ("net_coverage", "cmp_result", "sat_overall", "nps"):
        for code, score in zip(merged[f"{item}_raw"], merged[item], strict=True):
            # "6" is "cannot answer" on the 1-5 scales, but a real score on the 0-10 NPS.
            if pd.isna(code) or (code == "6" and item != "nps"):
                assert math.isnan(score)
            else:
                assert score == float(code)
    assert scores["tier"].between(1, 5).all()
    assert set(scores["channel"]) == {"sms_link", "web", "cati", "intercept"}


def test_importing_the_same_responses_twice_is_refused(engine, sample_questionnaire):
    frame = generate_frame(50, seed=2)
    data = pd.DataFrame(
        {
            "response_id": ["R1"],
            "customer_id": [frame.customer_id[0]],
            "region": [frame.region[0]],
            "service_hall": [frame.service_hall[0]],
            "tier": [frame.tier[0]],
            "channel": ["web"],
            "language": ["zh"],
            "submitted_at": ["2026-03-01T10:00:00+08:00"],
            "sat_overall": ["2"],
        }
    )
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        frame_id = store_frame(session, frame, "small", "test").id
        assert import_responses(session, version, data, frame_id) == 1
        with pytest.raises(IntegrityError):
            import_responses(session, version, data, frame_id)
        session.rollback()
    with Session(engine) as session:
        assert len(session.exec(select(Response)).all()) == 1
        stored = session.exec(select(Response)).one()
        assert stored.completed_at.utcoffset().total_seconds() == 0  # stored as UTC
        assert stored.completed_at.hour == 2  # 10:00 in Shanghai


def test_responses_naming_unknown_items_or_customers_are_refused(engine, sample_questionnaire):
    frame = generate_frame(10, seed=2)
    with Session(engine) as session:
        version = publish(session, sample_questionnaire)
        row = store_frame(session, frame, "small", "test")
        base = {"response_id": "R1", "customer_id": "C000001", "region": "x",
                "service_hall": "y", "tier": 1, "channel": "web", "language": "zh",
                "submitted_at": "2026-03-01T10:00:00+08:00"}  # fmt: skip
        with pytest.raises(ValueError, match="not items"):
            import_responses(session, version, pd.DataFrame([{**base, "speed": "3"}]), row.id)
        with pytest.raises(ValueError, match="not in the frame"):
            import_responses(session, version, pd.DataFrame([{**base, "customer_id": "Z"}]),
                             row.id)  # fmt: skip


def test_a_frame_name_is_stored_once(engine):
    with Session(engine) as session:
        store_frame(session, generate_frame(5), "april", "a.csv")
        with pytest.raises(ValueError, match="already stored"):
            store_frame(session, generate_frame(5), "april", "a.csv")
        assert session.exec(select(QuestionnaireVersion)).all() == []


@pytest.mark.slow
def test_a_database_of_the_previous_schema_with_data_upgrades_and_keeps_every_row(engine):
    """`manyi db upgrade` on a database in use: the demo's data (a frame of 20,000 customers,
    5,000 responses, a launched campaign with its outbox) and an analysis job, at 0006."""
    from survey.analyses import jobs

    prepare_demo(engine, secret="k" * 40)
    downgrade(engine, "0006")  # the schema as it was before the states and lookup columns
    filters = {"channel": [], "region": ["North"], "service_hall": [], "tier": []}
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO analysis (key, questionnaire_version_id, request, "
                 "data_fingerprint, status, origin, created_at, attempts) VALUES "
                 "('k1', 1, :request, 'f', 'done', 'schedule', '2026-07-01', 1)"),
            {"request": json.dumps({"period": "2026-Q2", "segment": "region",
                                    "filters": filters})},
        )  # fmt: skip
    tables = ("customer", "campaign", "invitation", "outbound_sms", "response", "answer",
              "analysis")  # fmt: skip

    def counts():
        with engine.connect() as connection:
            return {t: connection.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar()
                    for t in tables}  # fmt: skip

    before = counts()
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert counts() == before and before["answer"] > 100_000
    with Session(engine) as session:
        found = jobs.latest_done(session, 1, period="2026-Q2", segment="region", filters=filters)
        assert found is not None and found.key == "k1"  # filled in from the stored request
    with engine.connect() as connection, pytest.raises(IntegrityError, match="ck_campaign"):
        connection.execute(text("UPDATE campaign SET status = 'runing'"))
    if engine.dialect.name == "sqlite":  # the table copies kept the append-only triggers
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text("UPDATE answer SET value = '1'"))


def test_an_unknown_state_stops_the_upgrade_naming_the_rows_and_changes_nothing(engine):
    downgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO questionnaire_version (form_id, version, title, content_hash, "
                 "document, published_at) VALUES ('f', '1', 't', 'h', '{}', '2026-01-01')")
        )  # fmt: skip
        connection.execute(
            text("INSERT INTO response (questionnaire_version_id, channel, language, status, "
                 "started_at) VALUES (1, 'web', 'zh', 'finished', '2026-01-01')")
        )  # fmt: skip
    with pytest.raises(RuntimeError, match=r"response: 1 row\(s\) with status 'finished'.*"
                                           r"manyi db upgrade"):  # fmt: skip
        upgrade(engine)
    assert current_revision(engine) == "0006"
