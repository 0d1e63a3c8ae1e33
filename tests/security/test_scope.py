"""A manager limited to one region, or to one service hall, reads nothing of another unit's
data on any route of the app (security issue 18, item 4), against SQLite and PostgreSQL.

Every GET route is taken from the app, so that a route added tomorrow is read too: pages,
the JSON API, exports, reports. Path parameters are filled with the real ids of other units'
objects (analyses, campaigns, call cases, invitation tokens, phone numbers), required query
parameters with real values, and each URL is read with the session cookie and with an API
key. Every answer, whatever its status, is searched for what belongs to other units:

- their names (regions and service halls);
- their markers: each hall's follow-ups are opened by a rule, and closed with a root cause,
  whose code names the hall (``seen_in_shaoxing_02``), so a follow-up listed or counted
  anywhere says whose it is;
- the reasons of analyses that failed on customers outside the reader's scope;
- their counts, and every total they are part of (a total beside one's own count gives
  the others' by subtraction): responses, and this week's follow-ups.

An unlimited manager reads the same routes and must see every name, marker and reason looked
for: the search is then known to find each of them, and their absence means scope.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import fastapi.routing
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.routing import Mount

from api.analysis.request import AnalysisRequest
from api.analysis.worker import work
from api.settings import Settings
from api.web.app import create_app
from survey.analyses import jobs as analyses
from survey.answering.bulk_import import import_responses
from survey.answering.links import invitation_token
from survey.campaigns.lifecycle import change_status, create_call_cases, create_campaign, invite
from survey.db.tables import Analysis, Answer, CallCase, Customer, Invitation, Response, Staff
from survey.frames.sample_frame import read_frame
from survey.frames.store import store_frame
from survey.questionnaire.publish import publish
from survey.remedy.rules import ANY_RATING, Rule, close_follow_up, open_follow_ups
from survey.staff.accounts import create_api_key, create_staff
from tests.common import SAMPLES
from tests.integration.staff_login import PASSWORD, SECRET, log_in

pytestmark = pytest.mark.usefixtures("cheap_hashing")

BASE = "https://manyi.example.org"
FORM, NUMBER = "csi_mobile", "2026.1"
VERSION = f"{FORM}@{NUMBER}"
OWN, OTHER = "Jiaxing", "Shaoxing"
#: Responses per region, the first of the sample data's (five halls in each region).
SIZES = {OWN: 160, OTHER: 143}
#: The hall manager's hall, another hall of their region, a hall of the other region.
OWN_HALL, NEIGHBOUR_HALL, OTHER_HALL = "Jiaxing-03", "Jiaxing-02", "Shaoxing-02"
#: Wednesday 12:00 in Shanghai: this week's reports begin on Monday 4 May 2026.
NOW = datetime(2026, 5, 6, 4, 0, tzinfo=UTC)
MONDAY = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
#: Follow-ups opened this week per hall of each region (the first one closed on Tuesday): the
#: other region's many, so that their totals stand above the reader's own small numbers.
FOLLOW_UPS = {OWN: 2, OTHER: 30}
#: username -> (regions, service halls); the unlimited manager shows what there is to find.
READERS = {"regional": ([OWN], []), "hall": ([], [OWN_HALL]), "boss": ([], [])}
LIMITED = ("regional", "hall")
#: Values of path parameters that name no unit's object.
FIXED = {"form_id": FORM, "version": NUMBER, "number": 1}
#: Values of query parameters a route requires.
QUERY = {"version": VERSION, "from": "2026-05-01", "to": "2026-05-31"}


def code_of(kind: str, hall: str) -> str:
    """A rule or root-cause code that names ``hall`` (codes are lower-case identifiers)."""
    return f"{kind}_{hall.lower().replace('-', '_')}"


@dataclass
class World:
    #: hall -> region, for every hall with responses.
    halls: dict[str, str]
    #: What is counted per hall: "analysed" (customers' responses), "responses" (with the
    #: interviews'), follow-ups "opened" this week and "open_at_end" of it.
    counts: dict[str, Counter] = field(default_factory=dict)
    #: Each hall's markers: the codes of its follow-ups' rules and root causes.
    markers: dict[str, set[str]] = field(default_factory=dict)
    #: Each hall's objects' ids, by the name of the path parameter that takes them.
    ids: dict[str, dict[str, list]] = field(default_factory=dict)
    #: Failed analyses: their filters and their stored reasons.
    failures: list[tuple[dict[str, list], str]] = field(default_factory=list)
    campaigns: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)


# -- the data, through the domain's functions -----------------------------------------------


def build_world(engine, questionnaire) -> World:
    sample = pd.read_csv(SAMPLES / "responses.csv", dtype=str)
    chosen = pd.concat([sample[sample.region == r].head(n) for r, n in SIZES.items()])
    frame = read_frame(SAMPLES / "frame.csv")
    frame = frame[frame.customer_id.isin(chosen.customer_id)]
    halls = dict(zip(chosen.service_hall, chosen.region, strict=True))
    world = World(halls)
    for hall in halls:
        analysed = int((chosen.service_hall == hall).sum())
        world.counts[hall] = Counter(analysed=analysed, responses=analysed)
        world.markers[hall] = set()
        world.ids[hall] = {}
    with Session(engine) as session:
        version = publish(session, questionnaire)
        import_responses(session, version, chosen, store_frame(session, frame, "scope", "t").id)
        agent = Staff(username="agent", display_name="agent", role="interviewer")
        session.add(agent)
        session.commit()
        interviews = _interviews(session, version.id, world)
        _follow_ups(session, world, interviews, agent.id)
        _campaigns(session, version.id, world)
        for username, (regions, service_halls) in READERS.items():
            member = create_staff(session, username, "manager", PASSWORD, regions=regions,
                                  service_halls=service_halls)  # fmt: skip
            world.keys[username] = create_api_key(session, member, "scope test")[1]
        _submit_analyses(session, version.id)
    work(engine, once=True)
    with Session(engine) as session:
        jobs = session.exec(select(Analysis).order_by(Analysis.id)).all()
    assert sum(job.status == "done" for job in jobs) == 3, [(j.request, j.error) for j in jobs]
    for job in jobs:
        filters = job.request["filters"]
        if job.status == "failed":
            world.failures.append((filters, job.error))
        for hall in kept_by(filters, world):
            world.ids[hall].setdefault("analysis_id", []).append(job.id)
    return world


def kept_by(filters: dict[str, list], world: World) -> set[str]:
    """The halls whose customers an analysis's filters keep (none: every hall)."""
    regions, named = filters.get("region") or [], filters.get("service_hall") or []
    return {h for h, r in world.halls.items()
            if (not regions or r in regions) and (not named or h in named)}  # fmt: skip


def _interviews(session: Session, version_id: int, world: World) -> dict[str, int]:
    """An intercept interview in a hall of each region: a response with a hall, no customer."""
    made = {}
    for hall in (OWN_HALL, OTHER_HALL):
        response = Response(questionnaire_version_id=version_id, channel="intercept",
                            status="completed", started_at=MONDAY, completed_at=MONDAY,
                            interviewer="ivy", service_hall=hall)  # fmt: skip
        session.add(response)
        session.flush()
        for item in ("sat_overall", "net_coverage", "bil_clarity"):
            session.add(Answer(response_id=response.id, item_name=item, value="1",
                               answered_at=MONDAY))  # fmt: skip
        world.counts[hall]["responses"] += 1
        made[hall] = response.id
    session.commit()
    return made


def _follow_ups(session: Session, world: World, interviews: dict[str, int], agent: int) -> None:
    """Each hall's follow-ups, opened on Monday by a rule naming the hall, the first closed on
    Tuesday with a root cause naming the hall; and one of each interview."""
    rows = session.exec(
        select(Response.id, Customer.service_hall)
        .join(Customer, Response.customer_id == Customer.id)
        .order_by(Response.id)
    ).all()
    for hall, region in world.halls.items():
        reason, cause = code_of("seen_in", hall), code_of("cause_in", hall)
        rule = Rule(reason, ANY_RATING, ">=", 1)
        responses = [r for r, h in rows if h == hall][: FOLLOW_UPS[region]]
        opened = [open_follow_ups(session, response_id, MONDAY + timedelta(hours=i), rules=[rule])
                  for i, response_id in enumerate(responses)]  # fmt: skip
        if hall in interviews:
            interview = code_of("interview_in", hall)
            rule = Rule(interview, ANY_RATING, ">=", 1)
            opened.append(open_follow_ups(session, interviews[hall], MONDAY, rules=[rule]))
            world.markers[hall].add(interview)
        assert all(opened), hall
        close_follow_up(session, opened[0].follow_up_id, "resolved", cause, agent,
                        MONDAY + timedelta(days=1), notes=f"called back in {hall}")  # fmt: skip
        session.commit()
        world.markers[hall] |= {reason, cause}
        world.counts[hall].update(opened=len(opened), open_at_end=len(opened) - 1)
        world.ids[hall]["case_id"] = [f.case_id for f in opened if f.case_id is not None]


def _campaigns(session: Session, version_id: int, world: World) -> None:
    """A campaign per region, named after it: SMS invitations, phone interviews, intercepts."""
    for region in SIZES:
        customers = session.exec(
            select(Customer).where(Customer.region == region).order_by(Customer.id).limit(4)
        ).all()
        campaign = create_campaign(session, version_id, f"{region} spring survey",
                                   channels=["sms_link", "cati", "intercept"],
                                   message={"zh": "请评价：{link}"})  # fmt: skip
        change_status(session, campaign, "launch")
        invite(session, campaign, [c.id for c in customers[:2]], secret=SECRET,
               public_base_url=BASE, timezone="Asia/Shanghai", now=NOW)  # fmt: skip
        create_call_cases(session, campaign, [c.id for c in customers[2:]], now=NOW)
        session.commit()
        world.campaigns[region] = campaign.name
        invitation = session.exec(
            select(Invitation).where(Invitation.campaign_id == campaign.id)
        ).first()
        cases = session.exec(select(CallCase.id).where(CallCase.campaign_id == campaign.id))
        ids = world.ids[customers[0].service_hall]
        ids.setdefault("campaign_id", []).append(campaign.id)
        ids.setdefault("case_id", []).extend(cases.all())
        ids["token"] = [invitation_token(SECRET, invitation.id)]
        ids["e164"] = [customers[0].phone_e164]


def _submit_analyses(session: Session, version_id: int) -> None:
    """Done: every customer by region, and each region's own. Failed, each with a reason that
    counts its customers (too few to fit): a month of every customer, a month of each region,
    and a hall of each region."""

    def submit(**fields):
        request = AnalysisRequest(version=VERSION, bootstrap=0, **fields)
        analyses.submit(session, version_id, request.canonical())

    submit(segment="region")
    submit(period="2026-02")
    for region in SIZES:
        submit(filters={"region": [region]})
        submit(filters={"region": [region]}, period="2026-03")
    for hall in (OWN_HALL, NEIGHBOUR_HALL, OTHER_HALL):
        submit(filters={"service_hall": [hall]})


# -- what is not a reader's ----------------------------------------------------------------


@dataclass(frozen=True)
class Forbidden:
    names: frozenset[str]
    texts: frozenset[str]
    counts: frozenset[int]


def theirs(username: str, world: World) -> set[str]:
    """The halls a reader may see (every hall of their regions, and their halls)."""
    regions, halls = READERS[username]
    if not regions and not halls:
        return set(world.halls)
    return {h for h, r in world.halls.items() if r in regions or h in halls}


def forbidden_for(username: str, world: World) -> Forbidden:
    own = theirs(username, world)
    others = set(world.halls) - own
    regions = set(world.halls.values())
    whole = {r for r in regions if all(h in own for h, x in world.halls.items() if x == r)}
    own_names = own | whole
    # A region's name inside the name of the reader's own hall ("Jiaxing" in "Jiaxing-03")
    # says nothing of the region.
    names = {u for u in (set(world.halls) | regions) - own_names
             if not any(u in mine for mine in own_names)}  # fmt: skip
    texts = {marker for hall in others for marker in world.markers[hall]}
    texts |= {name for region, name in world.campaigns.items() if region not in whole}
    allowed = {reason for filters, reason in world.failures if kept_by(filters, world) <= own}
    texts |= {reason for filters, reason in world.failures} - allowed

    counts: set[int] = set()
    legit: set[int] = set()
    for figure in ("analysed", "responses", "opened", "open_at_end"):
        per_hall = {h: c[figure] for h, c in world.counts.items()}
        counts |= {sum(per_hall[h] for h in others), sum(per_hall.values())}
        counts |= {sum(n for h, n in per_hall.items() if world.halls[h] == r)
                   for r in regions - whole}  # fmt: skip
        legit |= {per_hall[h] for h in own} | {sum(per_hall[h] for h in own)}
    # Small numbers are everywhere (ranks, days, pages); the totals looked for are not small.
    counts = {n for n in counts - legit if n >= 10}
    return Forbidden(frozenset(names), frozenset(texts), frozenset(counts))


# -- reading every route -------------------------------------------------------------------


def get_routes(app) -> list[Any]:
    """Every GET route of the app (an included router's routes unfolded, where FastAPI
    includes them lazily), with what it depends on."""
    unfold = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(unfold(app.routes)) if unfold else list(app.routes)
    return [
        route for route in routes
        if not isinstance(getattr(route, "original_route", route), Mount)
        and getattr(route, "path", None) and "GET" in (getattr(route, "methods", None) or ())
    ]  # fmt: skip


def _query_fields(dependant) -> list[Any]:
    if dependant is None:
        return []
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found += _query_fields(sub)
    return found


def _required(query_field) -> bool:
    required = getattr(query_field, "required", None)
    if isinstance(required, bool):
        return required
    return query_field.field_info.is_required()


def urls_of(route, ids: dict[str, list]) -> list[str]:
    """The route's URLs: each path parameter filled with every id of its kind (one of
    another name: with every id of every kind), required query parameters with real values,
    and a ``campaign`` filter, where a route takes one, with each campaign."""
    params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
    every = sorted({v for values in ids.values() for v in values if isinstance(v, int)})
    choices = [ids.get(p) or ([FIXED[p]] if p in FIXED else every) for p in params]
    fields = _query_fields(getattr(route, "dependant", None))
    query = "&".join(f"{f.alias}={QUERY.get(f.alias, 1)}" for f in fields if _required(f))
    urls = []
    for values in itertools.product(*choices):
        path = route.path
        for name, value in zip(params, values, strict=True):
            path = re.sub(rf"{{{name}(?::\w+)?}}", str(value), path)
        urls.append(f"{path}?{query}" if query else path)
    if any(f.alias == "campaign" for f in fields):
        urls += [f"{url}{'&' if query else '?'}campaign={c}"
                 for url in list(urls) for c in ids.get("campaign_id", [])]  # fmt: skip
    return urls


@dataclass(frozen=True)
class Read:
    url: str
    way: str
    status: int
    text: str
    #: The numbers shown: HTML's visible text and JSON's values (an export's cells are rows,
    #: whose ids are any number: its rows are judged by their units' names).
    numbers: frozenset[int]


_NUMBER = re.compile(r"(?<![\w.:/#%+-])(\d+)(?![\w.:/%-])")


def _numbers_in_json(value: Any, found: set[int]) -> set[int]:
    if isinstance(value, bool):
        return found
    if isinstance(value, int):
        found.add(value)
    elif isinstance(value, str):
        found.update(int(n) for n in _NUMBER.findall(value))
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            _numbers_in_json(item, found)
    return found


def read_body(response) -> tuple[str, frozenset[int]]:
    content = response.content
    if content[:4] == b"PK\x03\x04":  # an export: a ZIP of the data and its codebook
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts = [archive.read(name).decode("utf-8", "replace") for name in archive.namelist()]
        return "\n".join(parts), frozenset()
    text = content.decode("utf-8", "replace")
    kind = response.headers.get("content-type", "")
    if "json" in kind:
        try:
            return text, frozenset(_numbers_in_json(json.loads(text), set()))
        except ValueError:
            return text, frozenset()
    if "html" in kind:
        visible = re.sub(r"<(style|script)\b.*?</\1>", " ", text, flags=re.S | re.I)
        visible = unescape(re.sub(r"<[^>]+>", " ", visible))
        return text, frozenset(int(n) for n in _NUMBER.findall(visible))
    return text, frozenset()


#: Ids of one kind tried per hall: every analysis of a hall, a few of its many call cases.
IDS_PER_HALL = 6


def read_everything(app, world: World, username: str) -> list[Read]:
    """Every route read by ``username`` (both ways), with the ids of other halls' objects
    (an unlimited reader: of every hall's)."""
    ids: dict[str, list] = {}
    mine = theirs(username, world) if username in LIMITED else set()
    for hall in sorted(set(world.halls) - mine):
        for kind, values in world.ids[hall].items():
            known = ids.setdefault(kind, [])
            known += [v for v in values[:IDS_PER_HALL] if v not in known]
    app.state.clock = lambda: NOW
    reads = []
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert log_in(client, username).status_code == 303
        key = {"Authorization": f"Bearer {world.keys[username]}"}
        for route in get_routes(app):
            for url in urls_of(route, ids):
                for way, headers in (("session", {}), ("API key", key)):
                    answer = client.get(url, headers=headers)
                    text, numbers = read_body(answer)
                    reads.append(Read(url, way, answer.status_code, text, numbers))
    return reads


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def leaks(reads: list[Read], forbidden: Forbidden) -> dict[str, list[str]]:
    """What of ``forbidden`` each read shows, by path."""
    found: dict[str, list[str]] = {}
    for read in reads:
        said = sorted(_short(n) for n in forbidden.names | forbidden.texts if n in read.text)
        counted = sorted(forbidden.counts & read.numbers)
        if said or counted:
            found.setdefault(read.url.split("?")[0], []).append(
                f"{read.way} GET {read.url} ({read.status}): {said} {counted}"
            )
    return found


# -- the test ------------------------------------------------------------------------------


@pytest.fixture
def world(engine, sample_questionnaire):
    return build_world(engine, sample_questionnaire)


@pytest.fixture
def app(database_url, world):
    settings = Settings(database_url=database_url, public_base_url=BASE, env="test",
                        secret_key=SECRET)  # fmt: skip
    return create_app(settings)


def test_a_limited_manager_reads_nothing_of_another_unit_on_any_route(app, world):
    assert forbidden_for("boss", world) == Forbidden(frozenset(), frozenset(), frozenset())
    everything = read_everything(app, world, "boss")
    shown = "\n".join(read.text for read in everything)
    numbers = frozenset().union(*(read.numbers for read in everything))
    found = []
    for username in LIMITED:
        forbidden = forbidden_for(username, world)
        # Each name, marker and reason looked for is one the search finds where it is shown.
        unseen = sorted(n for n in forbidden.names | forbidden.texts if n not in shown)
        assert not unseen, f"{username}: shown to nobody, so never looked for: {unseen}"
        assert len(forbidden.texts) > 10 and forbidden.counts & numbers, username

        reads = read_everything(app, world, username)
        for shown_here in leaks(reads, forbidden).values():
            found += [f"{username}: {leak}" for leak in shown_here]
        # Not simply refused everything: their own follow-ups (their interviews' too), their
        # hall, and why their own analyses failed (a hall's, for a region's manager) are there.
        mine = "\n".join(read.text for read in reads if read.status == 200)
        own = theirs(username, world)
        assert all(marker in mine for hall in own for marker in world.markers[hall]), username
        failed = [reason for filters, reason in world.failures if kept_by(filters, world) <= own]
        assert failed and all(reason in mine for reason in failed), username
        assert OWN_HALL in mine and sum(read.status == 200 for read in reads) >= 20, username
    assert not found, "another unit's data reached a limited manager:\n" + "\n".join(found)
