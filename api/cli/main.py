"""The ``manyi`` command line.

Heavy imports (the web stack, the statistics) happen inside the commands that need them,
so ``manyi questionnaire validate`` starts fast and never loads FastAPI.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

from api.cli.analyses import analyses_app
from api.cli.collection import campaign_app, dispatch, frame_app
from api.cli.contact_report import contacts_report
from api.cli.contact_samples import sample_contacts
from api.cli.exports import export_app
from api.cli.incentives import incentives_app
from api.cli.programmes import contacts_app, programme_app
from api.cli.rates import rates
from api.cli.remedy import remedy_app
from api.cli.staff import staff_app
from api.cli.support import ensure_current_schema, fail, settings_and_engine

app = typer.Typer(
    help="Manyi 满意: customer-satisfaction measurement for a mobile operator.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
questionnaire_app = typer.Typer(help="Questionnaires as data: check and publish.",
                                no_args_is_help=True)  # fmt: skip
sample_app = typer.Typer(help="Synthetic sample data with known true parameters.",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(db_app, name="db")
app.add_typer(questionnaire_app, name="questionnaire")
app.add_typer(sample_app, name="sample")
app.add_typer(frame_app, name="frame")
app.add_typer(campaign_app, name="campaign")
app.add_typer(staff_app, name="staff")
app.add_typer(remedy_app, name="remedy")
app.add_typer(export_app, name="export")
app.add_typer(analyses_app, name="analyses")
app.add_typer(programme_app, name="programme")
app.add_typer(contacts_app, name="contacts")
app.add_typer(incentives_app, name="incentives")
contacts_app.command("report")(contacts_report)
sample_app.command("contacts")(sample_contacts)
app.command("dispatch")(dispatch)
app.command("rates")(rates)

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


# -- db ----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database named by MANYI_DATABASE_URL to the newest schema."""
    from sqlalchemy.exc import OperationalError

    from survey.db.engine import current_revision, upgrade

    settings, engine = settings_and_engine()
    try:
        upgrade(engine)
        typer.echo(f"database {engine.url.render_as_string()} is at {current_revision(engine)}")
    except OperationalError as error:
        raise fail(f"cannot reach the database {engine.url.render_as_string()}: "
                    f"{error.orig}") from None  # fmt: skip


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the newest one."""
    from survey.db.engine import current_revision, head_revision

    _, engine = settings_and_engine()
    typer.echo(f"current: {current_revision(engine) or 'none (empty database)'}")
    typer.echo(f"newest:  {head_revision()}")


# -- serve and demo --------------------------------------------------------------------------


def _serve(host: str, port: int, workers: int = 1) -> None:
    import copy

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    processes = f" in {workers} processes" if workers > 1 else ""
    typer.echo(f"Manyi is serving on http://{host}:{port}/{processes} (API docs at /docs); "
               "Ctrl+C stops")  # fmt: skip
    log_config = copy.deepcopy(LOGGING_CONFIG)
    if workers > 1:
        # Which process wrote a line: each worker is a process of its own, with its own
        # group commit and connection pool, and an operator reading the log needs to know.
        for formatter in log_config["formatters"].values():
            formatter["fmt"] = formatter["fmt"].replace(
                "%(levelprefix)s ", "%(levelprefix)s [%(process)d] ", 1
            )
    # By name: the command line never imports the web layer (see the import contracts).
    uvicorn.run(
        "api.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        # Several workers: uvicorn's supervisor holds the socket and restarts a worker that
        # dies; the kernel hands each new connection to one of them.
        workers=workers,
        log_level="info",
        log_config=log_config,
        # uvicorn's httptools protocol with a deadline and a size limit on a request's head
        # (api.web.limits; uvicorn has neither). Bodies are limited by the app itself.
        http="api.web.limits:GuardedHttpToolsProtocol",
        # Idle between two requests: closed after 5 s. A client that starts the next head
        # has api.web.limits' head timeout, counted from the previous answer, to finish it.
        timeout_keep_alive=5,
        # uvicorn would otherwise believe X-Forwarded-For from any loopback peer: the app
        # reads it from MANYI_TRUSTED_PROXIES only.
        proxy_headers=False,
    )


#: Why several processes are refused on SQLite, for the error message and the help.
SQLITE_ONE_WRITER = (
    "SQLite lets one process write at a time: several workers queue for its one write lock "
    "and store fewer answers per second than one (measured by bench/bench_collection.py: "
    "0.5-0.8x of one process). Serve SQLite with --workers 1 (one process already "
    "groups concurrent answers into one commit), or set MANYI_DATABASE_URL to PostgreSQL "
    "to run several."
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes (PostgreSQL only: SQLite is served by one). Everything "
            "they share (sessions, sign-in throttling, SMS rate slots) is in the database.",
        ),
    ] = 1,
) -> None:
    """Serve the web application and API (a fresh database is migrated first)."""
    _, engine = settings_and_engine()
    if workers > 1 and engine.dialect.name == "sqlite":
        engine.dispose()
        raise fail(f"--workers {workers} refused: {SQLITE_ONE_WRITER}")
    # Once, here, before any worker starts: workers never migrate (two would race).
    ensure_current_schema(engine, announce=True)
    if engine.dialect.name == "postgresql":
        _warn_if_connections_short(engine, workers)
    engine.dispose()
    _serve(host, port, workers)


def _warn_if_connections_short(engine, workers: int) -> None:
    """Say so when the workers' pools at their peak would not fit the server's connections."""
    from survey.db.engine import MAX_OVERFLOW, POOL_SIZE

    with engine.connect() as connection:
        allowed = int(connection.exec_driver_sql("SHOW max_connections").scalar())
        reserved = int(connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar())
    peak = workers * (POOL_SIZE + MAX_OVERFLOW)
    if peak > allowed - reserved:
        typer.echo(
            f"warning: {workers} workers may open up to {peak} connections ({POOL_SIZE} + "
            f"{MAX_OVERFLOW} each) and PostgreSQL takes {allowed - reserved} "
            f"(max_connections {allowed}, {reserved} reserved), dispatchers and analysis "
            "workers included: under a peak some requests would wait for a connection or fail. "
            "Run fewer workers, or raise max_connections.",
            err=True,
        )


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve once the data is loaded.")
    ] = True,
    analyses: Annotated[
        bool,
        typer.Option(
            "--analyses/--no-analyses",
            help="Run the analysis worker beside the server (the dashboard's results).",
        ),
    ] = True,
) -> None:
    """Load the sample questionnaire, frame and responses, then serve.

    Also a phone campaign with cases due at any hour, a hotline programme on a simulated
    week of contacts (the dashboard's agents page), and in development (MANYI_ENV's
    default) one account per role with a known password, listed when the demo starts.
    """
    from api.cli.demo import (
        DEMO_PASSWORD,
        SAMPLE_FRAME_NAME,
        background_dispatcher,
        create_demo_accounts,
        demo_base_url,
        prepare_demo,
        prepare_phone_demo,
        prepare_programme_demo,
    )
    from survey.questionnaire.publish import VersionConflict

    settings, engine = settings_and_engine()
    secret = settings.secret_key.get_secret_value()
    base = demo_base_url(settings, host, port)
    try:
        loaded = prepare_demo(engine, secret=secret, timezone=settings.timezone)
        calls = prepare_phone_demo(engine, timezone=settings.timezone)
        hotline = prepare_programme_demo(
            engine, secret=secret, public_base_url=base, timezone=settings.timezone
        )
        accounts = create_demo_accounts(engine, settings)
    except VersionConflict as error:
        # A database left by an earlier demo, whose sample questionnaire has changed since.
        raise fail(
            f"{error}. This database holds an earlier demo: remove it (make clean, or delete "
            f"the file of MANYI_DATABASE_URL) and run the demo again",
            1,
        ) from None
    finally:
        engine.dispose()
    typer.echo(
        f"sample data ready: questionnaire {loaded.questionnaire}, "
        f"{loaded.customers} customers, {loaded.responses} responses "
        f"(sample frame {SAMPLE_FRAME_NAME!r})"
    )
    for phone in loaded.phones:
        typer.echo(f"demo invitation by simulated SMS: {base}/phone/{phone}")
    typer.echo(
        f"phone interviews: {calls.due} case(s) due in {calls.campaign!r} ({calls.status}; "
        f"calling hours {calls.hours}): sign in as an interviewer and open {base}/calls"
    )
    typer.echo(
        f"hotline programme {hotline.programme!r}: a simulated week of {hotline.contacts} "
        f"contacts of {hotline.agents} agents, {hotline.sent} evaluations sent, "
        f"{hotline.replies} replies{'' if hotline.created else ' (from an earlier demo)'}: "
        f"sign in as a manager (or a team leader, who sees their team) and open "
        f"{base}/dashboard/agents"
    )
    if accounts:
        typer.echo(
            f"\nDemo accounts (MANYI_ENV=development only): sign in at {base}/login with the "
            f"password {DEMO_PASSWORD}"
        )
        typer.echo(f"  {'username':<12} {'role':<12} where to go")
        for account in accounts:
            note = "" if account.demo_password else "  (not the demo password: its own)"
            typer.echo(f"  {account.username:<12} {account.role:<12} {base}{account.page}{note}")
        if settings.require_admin_totp:
            typer.echo("  MANYI_REQUIRE_ADMIN_TOTP is on: admin signs in only after "
                       "`manyi staff totp admin`")  # fmt: skip
        typer.echo("")
    else:
        typer.echo(
            f"\nNo demo accounts with MANYI_ENV={settings.env} (they exist in development "
            "only). To sign in, add staff from a second terminal in this folder, with the "
            "same MANYI_ settings, while the demo serves:\n"
            "  MANYI_STAFF_PASSWORD='choose a long one' .venv/bin/manyi staff add wang "
            "--role manager\n"
        )
    if serve_after:
        from api.analysis.worker import worker_process

        # A SIGTERM (a supervisor stopping the demo) must unwind the blocks below, so that
        # the worker and the dispatcher stop with the server: uvicorn captures the signal
        # while it serves and raises it again once it has shut down, into this handler.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        # The worker computes the scheduled analyses the managers' pages show.
        with (
            background_dispatcher(settings.database_url, secret=secret, public_base_url=base),
            worker_process() if analyses else nullcontext(),
        ):
            _serve(host, port)


def _exit_on_sigterm(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


# -- questionnaires ------------------------------------------------------------------------


@questionnaire_app.command("validate")
def questionnaire_validate(
    file: Annotated[Path, typer.Argument(help="A questionnaire: .yaml, or an XLSForm-like .xlsx.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """Check a questionnaire; print every problem with its place and a fix.

    Exits 0 when valid (warnings may be printed), 1 when there are errors, 2 when the file
    cannot be read.
    """
    from survey.questionnaire import QuestionnaireError, load_questionnaire

    try:
        questionnaire, warnings = load_questionnaire(file)
    except FileNotFoundError as error:
        raise fail(str(error), 2) from None
    except QuestionnaireError as error:
        if as_json:
            typer.echo(json.dumps({"valid": False, "problems": [p.to_dict() for p in
                                                                error.problems]},
                                  ensure_ascii=False, indent=2))  # fmt: skip
        else:
            typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"valid": True, "form_id": questionnaire.form_id,
                               "version": questionnaire.version,
                               "problems": [p.to_dict() for p in warnings]},
                              ensure_ascii=False, indent=2))  # fmt: skip
        return
    for warning in warnings:
        typer.echo(str(warning), err=True)
    constructs = questionnaire.construct_items()
    typer.echo(
        f"{file}: valid: {questionnaire.form_id} version {questionnaire.version}, "
        f"{len(questionnaire.items)} items, {len(constructs)} constructs, "
        f"{len(warnings)} warning(s)"
    )


@questionnaire_app.command("publish")
def questionnaire_publish(
    file: Annotated[Path, typer.Argument(help="A questionnaire: .yaml or .xlsx.")],
) -> None:
    """Publish a questionnaire version; a published version can never change."""
    from sqlmodel import Session

    from survey.questionnaire import QuestionnaireError, load_questionnaire
    from survey.questionnaire.publish import VersionConflict, publish

    try:
        questionnaire, _ = load_questionnaire(file)
    except (FileNotFoundError, QuestionnaireError) as error:
        raise fail(str(error)) from None
    _, engine = settings_and_engine()
    ensure_current_schema(engine, announce=True)
    with Session(engine) as session:
        try:
            row = publish(session, questionnaire)
        except VersionConflict as error:
            raise fail(str(error)) from None
    typer.echo(f"published {row.form_id} version {row.version} ({row.content_hash[:12]})")


# -- sample data ---------------------------------------------------------------------------


@sample_app.command("generate")
def sample_generate(
    out: Annotated[Path, typer.Option(help="Output file, .csv or .xlsx.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of responses.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 1,
    questionnaire: Annotated[Path, typer.Option(help="The questionnaire answered.")] = (
        SAMPLES / "csi_questionnaire.yaml"
    ),
    truth: Annotated[Path, typer.Option(help="True parameters of the simulation.")] = (
        SAMPLES / "csi_truth.yaml"
    ),
    frame: Annotated[Path, typer.Option(help="Sample frame the respondents come from.")] = (
        SAMPLES / "frame.csv"
    ),
) -> None:
    """Simulate responses from the structural model with known true parameters.

    The true parameters are written beside the output as <name>.truth.yaml.
    """
    import yaml

    from survey.frames.sample_frame import read_frame
    from survey.questionnaire import QuestionnaireError, load_questionnaire
    from survey.synthetic.responses import read_truth, simulate_responses, truth_record, write_table

    try:
        form, _ = load_questionnaire(questionnaire)
        parameters = read_truth(truth)
        data = simulate_responses(form, read_frame(frame), parameters, n, seed)
        write_table(data, out)
    except (FileNotFoundError, QuestionnaireError, ValueError) as error:
        raise fail(str(error)) from None
    truth_file = out.with_name(out.stem + ".truth.yaml")
    truth_file.write_text(
        yaml.safe_dump(truth_record(parameters, n, seed), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    typer.echo(f"wrote {n} responses to {out} and the true parameters to {truth_file}")


@sample_app.command("frame")
def sample_frame(
    out: Annotated[Path, typer.Option(help="Output file, .csv or .xlsx.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of customers.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261123,
) -> None:
    """Generate a synthetic sample frame (phone numbers from the range reserved for fiction)."""
    from survey.frames.sample_frame import generate_frame
    from survey.synthetic.responses import write_table

    try:
        write_table(generate_frame(n, seed), out)
    except ValueError as error:
        raise fail(str(error)) from None
    typer.echo(f"wrote {n} customers to {out}")


# -- models -------------------------------------------------------------------------------

ModelFile = Annotated[
    Path, typer.Argument(help="lavaan syntax text file, or a questionnaire (.yaml/.xlsx).")
]
DataFile = Annotated[Path, typer.Argument(help="Responses: .csv, .xlsx or .parquet.")]
MissingCodes = Annotated[str | None, typer.Option(help="Answer codes meaning missing, e.g. 6,9.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Permutations = Annotated[int, typer.Option(min=40, help="Permutations.")]
PermutationSeed = Annotated[int | None, typer.Option(help="Seed of the permutations.")]


@contextmanager
def _unusable_inputs() -> Iterator[None]:
    """A model, data or questionnaire file that cannot be used: its one line, exit 2."""
    from models.syntax import ModelSyntaxError
    from survey.questionnaire import QuestionnaireError

    try:
        yield
    except (FileNotFoundError, QuestionnaireError, ModelSyntaxError, ValueError) as error:
        raise fail(str(error), 2) from None


def _print(result, as_json: bool) -> None:
    """A result as one JSON object or as its text summary."""
    typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) if as_json
               else result.summary())  # fmt: skip


@app.command()
def fit(
    model: Annotated[
        Path,
        typer.Argument(
            help="lavaan syntax text file, or a questionnaire "
            "(.yaml/.xlsx) that generates its model."
        ),
    ],
    data: Annotated[
        Path,
        typer.Argument(
            help="Responses: .csv, .xlsx or .parquet, one row per respondent, one column per item."
        ),
    ],
    engine: Annotated[
        str, typer.Option(help="pls (PLS path modelling) or sem (covariance-based, semopy).")
    ] = "pls",
    scheme: Annotated[
        str, typer.Option(help="PLS inner weighting: path, centroid or factorial.")
    ] = "path",
    bootstrap: Annotated[int, typer.Option(min=0, help="PLS bootstrap resamples (0: none).")] = 0,
    consistent: Annotated[
        bool,
        typer.Option(
            "--consistent",
            help="Consistent PLS (PLSc): disattenuate reflective constructs with rho_A, so "
            "paths estimate the common-factor model's.",
        ),
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Seed of the bootstrap.")] = None,
    missing: Annotated[
        str | None,
        typer.Option(
            help="Answer codes meaning missing, e.g. 6,9 "
            "(a questionnaire's own are always "
            "applied)."
        ),
    ] = None,
    estimator: Annotated[
        str,
        typer.Option(
            help="SEM estimator: ML, MLR (robust standard errors and scaled chi-square, for "
            "skewed rating items), WLSMV (items as ordered categories, with --ordered), GLS, "
            "ULS or FIML."
        ),
    ] = "ML",
    ordered: Annotated[
        str | None,
        typer.Option(
            help="With --estimator WLSMV: the ordered items, comma-separated, or all "
            "(default: all)."
        ),
    ] = None,
    allow_improper: Annotated[
        bool,
        typer.Option(
            "--allow-improper", help="Exit 0 even for a non-converged or improper solution."
        ),
    ] = False,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Items' scale MIN,MAX, e.g. 1,10, for items not from a questionnaire: a "
            "value outside it is an error (declare missing codes with --missing)."
        ),
    ] = None,
    allow_small_sample: Annotated[
        bool,
        typer.Option(
            "--allow-small-sample",
            help="Fit below the model's minimum sample size (the 10 times rule for PLS, "
            "more rows than free parameters for SEM, 30 rows at least).",
        ),
    ] = False,
    quality_data: Annotated[
        str,
        typer.Option(
            help="Data of the reliability and validity checks: estimation (what the model "
            "is estimated on, as seminr and SmartPLS) or pairwise (raw answers, each "
            "correlation over the respondents who answered both items)."
        ),
    ] = "estimation",
    group: Annotated[
        str | None,
        typer.Option(
            help="With --engine sem: a column whose values are groups (region, hall, tier); "
            "one model fitted in every group at once (lavaan's group=)."
        ),
    ] = None,
    equal: Annotated[
        str | None,
        typer.Option(
            help="With --group: what is held equal across groups, lavaan's group.equal, e.g. "
            "loadings,intercepts (also means, residuals, residual.covariances, "
            "lv.variances, lv.covariances, regressions)."
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Fit a structural equation model and check its measurement quality.

    Exits 1 when the solution did not converge or is improper (Heywood case, standardized
    value beyond ±1, non-positive-definite matrix, under-identification), naming the
    problem, unless --allow-improper is given; 2 when the inputs cannot be read.
    """
    if engine not in ("pls", "sem"):
        raise fail(f"--engine {engine!r}: use pls or sem", 2)
    if scheme not in ("path", "centroid", "factorial"):
        raise fail(f"--scheme {scheme!r}: use path, centroid or factorial", 2)
    if quality_data not in ("estimation", "pairwise"):
        raise fail(f"--quality-data {quality_data!r}: use estimation or pairwise", 2)
    if equal is not None and group is None:
        raise fail("--equal needs --group COLUMN: it says what is equal across the groups", 2)
    if ordered is not None and estimator.upper() != "WLSMV":
        raise fail("--ordered items are fitted with --estimator WLSMV (and --engine sem)", 2)
    if estimator.upper() == "WLSMV":
        if engine != "sem" or group is not None:
            raise fail("--estimator WLSMV fits one group with --engine sem", 2)
        result = _fit_ordered(model, data, missing, ordered)
        _report(result, as_json, allow_improper)
        return
    if group is not None:
        if engine != "sem" or estimator.upper() not in ("ML", "MLR"):
            raise fail(
                "--group fits a multi-group model by ML or MLR: use it with --engine sem and "
                "--estimator ML or MLR (for PLS, groups are compared by MICOM)",
                2,
            )
        result = _fit_groups(model, data, missing, group, equal, estimator.upper())
        _report(result, as_json, allow_improper)
        return
    from api.cli.fit_inputs import load_fit_inputs, parse_scale
    from models.fit import SampleTooSmall, fit_model

    with _unusable_inputs():
        try:
            bounds = parse_scale(scale) if scale is not None else None
            inputs = load_fit_inputs(model, data, missing, bounds)
            for warning in inputs.warnings:
                typer.echo(f"warning: {warning}", err=True)
            result = fit_model(
                inputs.model,
                inputs.data,
                engine=engine,
                scheme=scheme,  # type: ignore[arg-type]
                n_boot=bootstrap,
                random_state=seed,
                consistent=consistent,
                estimator=estimator.upper(),
                quality_data=quality_data,  # type: ignore[arg-type]
                allow_small_sample=allow_small_sample,
            )
        except SampleTooSmall as error:
            raise fail(f"{error}; --allow-small-sample fits it anyway", 1) from None
    _report(result, as_json, allow_improper, result.result.warnings)


def _report(result, as_json: bool, allow_improper: bool, warnings=None) -> None:
    """Print a fit as text or JSON; exit 1 on an unusable solution unless allowed."""
    _print(result, as_json)
    if not result.proper and not allow_improper:
        problems = [w for w in (warnings or result.warnings) if w.severity == "error"]
        named = "; ".join(f"[{w.code}] {w.message}" for w in problems) or "[not-converged]"
        raise fail(
            f"the solution is not usable: {named}. Fix the model or data, or pass "
            "--allow-improper to keep it anyway."
        )


def _fit_groups(
    model: Path, data: Path, missing: str | None, group: str, equal: str | None, estimator: str
):
    from api.cli.fit_inputs import load_group_inputs
    from models.sem_groups import fit_multigroup

    constraints = [name.strip() for name in (equal or "").split(",") if name.strip()]
    with _unusable_inputs():
        inputs = load_group_inputs(model, data, missing, group)
        return fit_multigroup(
            inputs.model, inputs.data, group, group_equal=constraints, estimator=estimator
        )


def _fit_ordered(model: Path, data: Path, missing: str | None, ordered: str | None):
    from api.cli.fit_inputs import load_fit_inputs
    from models.sem_ordinal import fit_ordinal

    items = "all" if ordered in (None, "all") else [i.strip() for i in ordered.split(",")]
    with _unusable_inputs():
        inputs = load_fit_inputs(model, data, missing)
        return fit_ordinal(inputs.model, inputs.data, items)


@app.command()
def invariance(
    model: ModelFile,
    data: DataFile,
    group: Annotated[
        str, typer.Option(help="The column whose groups are compared (region, hall, tier).")
    ],
    estimator: Annotated[
        str,
        typer.Option(
            help="ML, or MLR for rating items: robust fits, the Satorra-Bentler scaled "
            "difference test and the robust CFI.",
            case_sensitive=False,
        ),
    ] = "ML",
    missing: MissingCodes = None,
    as_json: AsJson = False,
) -> None:
    """Test measurement invariance across groups: configural, metric, scalar, strict.

    Each level is a multi-group ML (or MLR) model (lavaan's group.equal) tested against
    the one before by the chi-square difference (with MLR the Satorra-Bentler scaled
    difference) and the change in CFI (robust CFI). The highest level is the last one
    reached before the first step with p < .05 or a CFI drop beyond .01; latent means are
    compared only when scalar invariance holds. Exits 2 when the inputs cannot be used.
    """
    from api.cli.fit_inputs import load_group_inputs
    from models.invariance import invariance as test_invariance

    chosen = estimator.upper()
    if chosen not in ("ML", "MLR"):
        raise fail(f"--estimator {estimator!r}: use ML or MLR", 2)
    with _unusable_inputs():
        inputs = load_group_inputs(model, data, missing, group)
        result = test_invariance(inputs.model, inputs.data, group, estimator=chosen)
    _print(result, as_json)


def _two_groups(groups: str | None) -> list[str] | None:
    if groups is None:
        return None
    chosen = [g.strip() for g in groups.split(",") if g.strip()]
    if len(chosen) != 2:
        raise fail(f"--groups {groups!r}: name two groups, e.g. --groups Hangzhou,Ningbo", 2)
    return chosen


@app.command()
def micom(
    model: ModelFile,
    data: DataFile,
    group: Annotated[str, typer.Option(help="The column whose groups are compared.")],
    groups: Annotated[
        str | None,
        typer.Option(
            help="Two of its values, e.g. Hangzhou,Ningbo; without it, each value is tested "
            "against all the others (one against the rest)."
        ),
    ] = None,
    permutations: Permutations = 1000,
    seed: PermutationSeed = None,
    missing: MissingCodes = None,
    as_json: AsJson = False,
) -> None:
    """PLS measurement invariance of composites (MICOM, Henseler, Ringle & Sarstedt 2016).

    Step 1 (configural) holds by design; step 2 tests that each composite is formed alike
    in both groups; step 3 that its mean and variance are equal. The verdict per construct
    is full, partial (step 2 only: paths may be compared) or none. Exits 2 when the inputs
    cannot be used.
    """
    from api.cli.fit_inputs import load_group_inputs
    from models.pls_groups import micom as run_micom
    from models.pls_groups import micom_one_vs_rest

    chosen = _two_groups(groups)
    with _unusable_inputs():
        inputs = load_group_inputs(model, data, missing, group)
        if chosen is None:
            result = micom_one_vs_rest(inputs.model, inputs.data, group,
                                       n_permutations=permutations, random_state=seed)  # fmt: skip
        else:
            result = run_micom(inputs.model, inputs.data, group, groups=chosen,
                               n_permutations=permutations, random_state=seed)  # fmt: skip
    _print(result, as_json)


@app.command()
def mga(
    model: ModelFile,
    data: DataFile,
    group: Annotated[str, typer.Option(help="The column whose two groups are compared.")],
    groups: Annotated[
        str | None, typer.Option(help="Two of its values, e.g. Hangzhou,Ningbo.")
    ] = None,
    permutations: Permutations = 1000,
    seed: PermutationSeed = None,
    missing: MissingCodes = None,
    as_json: AsJson = False,
) -> None:
    """PLS multi-group analysis: is each path different between two groups?

    The permutation test of Chin & Dibbern (2010): each path's difference between the
    groups against its distribution when group labels are shuffled. Check MICOM first:
    paths are comparable when compositional invariance (step 2) holds. Exits 2 when the
    inputs cannot be used.
    """
    from api.cli.fit_inputs import load_group_inputs
    from models.pls_groups import pls_mga

    chosen = _two_groups(groups)
    with _unusable_inputs():
        inputs = load_group_inputs(model, data, missing, group)
        present = list(dict.fromkeys(inputs.data[group].dropna()))
        if chosen is None and len(present) > 2:
            raise fail(
                f"--group {group} has {len(present)} groups ({', '.join(present[:8])}"
                f"{', ...' if len(present) > 8 else ''}): name two with --groups A,B", 2
            )  # fmt: skip
        result = pls_mga(inputs.model, inputs.data, group, groups=chosen,
                         n_permutations=permutations, random_state=seed)  # fmt: skip
    _print(result, as_json)


@app.command()
def priorities(
    model: ModelFile,
    data: DataFile,
    target: Annotated[
        str, typer.Option(help="The construct whose drivers are ranked, e.g. satisfaction.")
    ],
    level: Annotated[
        str, typer.Option(help="construct (the drivers) or item (their items).")
    ] = "construct",
    method: Annotated[
        str, typer.Option(help="Importance: ipma, relative-weights, shapley or correlation.")
    ] = "ipma",
    scale: Annotated[
        str | None,
        typer.Option(help="Items' scale MIN,MAX, e.g. 1,5 (default: the questionnaire's)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="Segment column: one matrix per value (region, ...).")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="With --by DATE_COLUMN: month or quarter.")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Respondent weight column.")] = None,
    dimension: Annotated[
        str | None, typer.Option(help="With --level item: only this driver's items.")
    ] = None,
    crosshair: Annotated[
        str, typer.Option(help="mean (of the drivers) or midpoint (performance 50).")
    ] = "mean",
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int | None, typer.Option(help="Seed of the bootstrap.")] = None,
    min_n: Annotated[
        int, typer.Option(min=2, help="With --by: fewest responses for a segment's matrix.")
    ] = 100,
    allow_small_sample: Annotated[
        bool,
        typer.Option(
            "--allow-small-sample",
            help="Fit below the model's minimum sample size (see manyi fit).",
        ),
    ] = False,
    permutations: Annotated[
        int,
        typer.Option(
            min=0,
            help="With --by: permutations of the check that the segments' indexes are "
            "comparable (MICOM compositional invariance, each segment against the rest; "
            "0 skips it).",
        ),
    ] = 1000,
    missing: MissingCodes = None,
    plot: Annotated[
        Path | None, typer.Option(help="Draw the matrix to FILE.svg or FILE.png.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Rank the drivers of a target: importance-performance matrix with its uncertainty.

    Each driver gets bootstrap intervals on both axes, its quadrant, the probability of
    lying in "concentrate here", a rank with its interval and a priority tier. The model's
    measurement warnings are printed with the matrix. Exits 2 when the inputs cannot be used.
    """
    from api.cli.priorities import PrioritiesRequest, compute, plot_paths
    from models.fit import SampleTooSmall

    if plot is not None and plot.suffix.lower() not in (".svg", ".png"):
        raise fail(f"--plot {plot}: the file must end in .svg or .png", 2)
    request = PrioritiesRequest(
        model, data, target, level=level, method=method, scale=scale, by=by, period=period,
        weights=weights, dimension=dimension, crosshair=crosshair, bootstrap=bootstrap,
        seed=seed, min_n=min_n, missing=missing, permutations=permutations,
        allow_small_sample=allow_small_sample,
    )  # fmt: skip
    with _unusable_inputs():
        try:
            result = compute(request)
        except SampleTooSmall as error:
            raise fail(f"{error}; --allow-small-sample fits it anyway", 1) from None
    if plot is not None:
        from scoring.plots import save_matrix

        for path, matrix in plot_paths(plot, result):
            save_matrix(matrix, path)
            typer.echo(f"drew {path}", err=True)
    _print(result, as_json)


def main() -> None:
    app(prog_name="manyi")


if __name__ == "__main__":
    sys.exit(main())
