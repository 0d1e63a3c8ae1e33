"""The console's questionnaires: upload a file, see every problem located, preview, publish.

- ``GET /console/questionnaires``: the published versions, the recent drafts and their
  state, and the upload form.
- ``POST /console/questionnaires/drafts``: upload a ``.yaml``/``.yml`` or ``.xlsx`` file
  (multipart, at most :data:`FILE_MAX_BYTES`). It is checked by the same reader as
  ``manyi questionnaire validate`` (:func:`survey.questionnaire.load_questionnaire`, on the
  file as uploaded), and stored as a :class:`QuestionnaireDraft` with every problem, and
  the canonical document when there is no error. A file that cannot be read as a
  questionnaire at all (empty, another type, too large, not UTF-8, not a workbook, a YAML
  or zip bomb) is refused with a page that says why, and nothing is stored.
- ``GET /console/questionnaires/drafts/{id}``: the problems (place, problem, fix), or the
  questionnaire ready to publish, with its previews and the Publish button.
- ``GET /console/questionnaires/drafts/{id}/preview`` and
  ``GET /console/questionnaires/versions/{form_id}/{version}/preview``, ``?lang=&view=``: every page
  of the questionnaire as the customer's web form (``view=customer``) or the interviewer's
  phone desk (``view=interviewer``) will draw it, in one document, without a campaign, a
  token or storing anything.
- ``POST /console/questionnaires/drafts/{id}/publish``: publish the draft's document
  (:func:`survey.questionnaire.publish.publish`: the same content again is the same
  version; other content under a published version is refused, with what to do).

Every route needs ``operate`` (:data:`api.web.console_pages.Operator`); every POST is behind
the CSRF check, is audited, and answers 303 to a page.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from api.web.answering_pages import HTML_LANG, page_context, page_main
from api.web.auth import CsrfChecked, client_ip
from api.web.console_pages import Operator, console_page
from api.web.deps import RowId, SessionDep
from survey.answering.pages import INTERVIEWER, RESPONDENT, build_pages
from survey.db.tables import QuestionnaireDraft, QuestionnaireVersion, Staff
from survey.questionnaire import Questionnaire, QuestionnaireError, load_questionnaire
from survey.questionnaire.bounded import MAX_YAML_BYTES
from survey.questionnaire.problems import Problem
from survey.questionnaire.publish import VersionConflict, find_version, publish
from survey.questionnaire.relevant import BoolOp, Call, Compare, Literal, Not, Ref
from survey.questionnaire.sources import questionnaire_from_document
from survey.staff.audit import audit

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

HERE = "/console/questionnaires"

#: The audit log's actions of this section (short snake_case names, at most 32 characters).
UPLOADED = "questionnaire_uploaded"
PUBLISHED = "questionnaire_published"

#: The largest file taken: the YAML reader's own limit (200 times the sample questionnaire);
#: a workbook of that size would hold thousands of questions.
FILE_MAX_BYTES = MAX_YAML_BYTES
SUFFIXES = (".yaml", ".yml", ".xlsx")
#: What the page's file field accepts; the same list as SUFFIXES.
ACCEPT = ",".join(SUFFIXES)
#: How many drafts the list shows, newest first.
RECENT_DRAFTS = 30

#: Problems that mean the file is no questionnaire to keep a draft of: it could not be read
#: at all (another type, not UTF-8, not a workbook) or it is over a reader's limit (a YAML
#: alias bomb, a zip bomb). A file that reads but does not validate (a YAML syntax error
#: included) becomes a draft, with its problems located, for its author to fix.
_YAML_LIMITS = {"yaml-aliases", "yaml-recursive-alias", "yaml-too-deep", "yaml-too-large"}

#: The columns' widths of questionnaire_version and questionnaire_draft: the validator has no
#: limit on these, and a longer value would fail the INSERT on PostgreSQL.

#: What a redirect's ``?m=`` says on the draft's page.
MESSAGES = {
    "uploaded": ("文件已上传并校验。", "The file was uploaded and checked."),
    "published": ("已发布。", "Published."),
    "already": ("这一草稿已经发布过。", "This draft was already published."),
}

Text = Annotated[str, Query(max_length=32)]


def _unreadable(problem: Problem) -> bool:
    return problem.code.startswith(("file-", "xlsx-")) or problem.code in _YAML_LIMITS


class Refused(Exception):
    """An upload refused before anything is stored: the status and the words to show."""

    def __init__(
        self, status: int, words: tuple[str, str], problems: tuple[Problem, ...] = ()
    ) -> None:
        super().__init__(words[1])
        self.status, self.words, self.problems = status, words, problems


@dataclass(frozen=True, slots=True)
class Upload:
    """The posted file: its name as the browser sent it (None: no file) and its bytes, of
    which at most FILE_MAX_BYTES + 1 are read."""

    filename: str | None
    content: bytes


async def uploaded_file(request: Request) -> Upload:
    """The ``file`` field of the posted form (already parsed, and cached, by the CSRF check)."""
    form = await request.form()
    sent = form.get("file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        # A browser sends an empty part named "" when no file was chosen.
        return Upload(None, b"")
    return Upload(sent.filename, await sent.read(FILE_MAX_BYTES + 1))


Uploaded = Annotated[Upload, Depends(uploaded_file)]


# -- checking a file ---------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text as the database can keep it: PostgreSQL's text types refuse NUL."""
    return text.replace("\x00", "\\0")


def display_name(filename: str) -> str:
    """The file's own name (a browser may send a path), without control characters."""
    name = re.split(r"[\\/]", filename)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:255] or "questionnaire"


def _file_name(name: str, suffix: str) -> str:
    """A name to write the upload under: the problems of a workbook name the file, so it
    keeps the uploaded stem; at most 100 characters, nothing a file system refuses."""
    stem = re.sub(r'[<>:"|?*\s]+', "_", name[: -len(suffix)]).strip("._") or "questionnaire"
    return stem[:100] + suffix


def check_file(filename: str | None, content: bytes) -> tuple[Questionnaire | None, list[Problem]]:
    """Check an uploaded file as ``manyi questionnaire validate`` checks it.

    Returns the questionnaire (None when it has errors) and every problem, warnings
    included; raises :class:`Refused` for a file that is no questionnaire at all.
    """
    if filename is None:
        raise Refused(400, ("没有选择文件。请选择一个 .yaml 或 .xlsx 问卷文件再上传。",
                            "No file was chosen. Choose a .yaml or .xlsx questionnaire file "
                            "and upload it."))  # fmt: skip
    name = display_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise Refused(415, (f"“{name}”不是问卷文件：只接受 .yaml、.yml 或 .xlsx 文件。",
                            f"“{name}” is not a questionnaire file: upload a .yaml, .yml "
                            "or .xlsx file (an XLSForm-like workbook)."))  # fmt: skip
    if not content:
        raise Refused(400, (f"“{name}”是空文件。请检查是否选对了文件，保存后再上传。",
                            f"“{name}” is empty. Check that it is the right file, save it "
                            "and upload it again."))  # fmt: skip
    if len(content) > FILE_MAX_BYTES:
        mib = FILE_MAX_BYTES // (1024 * 1024)
        raise Refused(413, (f"“{name}”超过 {mib} MB，不像一份问卷。请检查文件。",
                            f"“{name}” is larger than {mib} MB, far more than any "
                            "questionnaire: check that it is the right file."))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="manyi-questionnaire-") as folder:
        path = Path(folder) / _file_name(name, suffix)
        path.write_bytes(content)
        try:
            questionnaire, warnings = load_questionnaire(path)
        except QuestionnaireError as error:
            problems = list(error.problems)
            if any(_unreadable(p) for p in problems):
                raise Refused(422, (f"无法读取“{name}”：", f"“{name}” cannot be read:"),
                              tuple(problems)) from None  # fmt: skip
            return None, problems
    problems = list(warnings)
    errors = [p for p in problems if p.severity == "error"]
    return (None if errors else questionnaire), problems


def _conflict(session: Session, questionnaire: Questionnaire) -> Problem | None:
    """A problem when the version is already published with other content."""
    published = find_version(session, questionnaire.form_id, questionnaire.version)
    if published is None or published.content_hash == questionnaire.content_hash:
        return None
    return Problem(
        "version-published",
        "version",
        f"{questionnaire.form_id} version {questionnaire.version} is already published with "
        "different content, and a published version never changes (answers point at it)",
        f'give the changed questionnaire a new version (e.g. version: "{_next(questionnaire)}") '
        "and upload it again",
    )


def _next(questionnaire: Questionnaire) -> str:
    """A suggestion of the next version: the last number of this one raised."""
    version = questionnaire.version
    match = re.search(r"(\d+)(\D*)$", version)
    if match is None:
        return version + ".1"
    return version[: match.start(1)] + str(int(match.group(1)) + 1) + match.group(2)


def store_draft(
    session: Session, filename: str, content: bytes, staff_id: int | None
) -> QuestionnaireDraft:
    """Check a file and keep it as a draft; raises :class:`Refused` without storing."""
    questionnaire, problems = check_file(filename, content)
    form_id = version = None
    document = None
    if questionnaire is not None:
        conflict = _conflict(session, questionnaire)
        if conflict is not None:
            problems.append(conflict)
        else:
            document = dict(questionnaire.document)
        form_id, version = questionnaire.form_id, questionnaire.version
    draft = QuestionnaireDraft(
        filename=display_name(filename),
        form_id=form_id,
        version=version,
        document=document,
        problems=[{k: _clean(v) for k, v in p.to_dict().items()} for p in problems],
        uploaded_by=staff_id,
    )
    session.add(draft)
    session.commit()
    session.refresh(draft)
    return draft


# -- states and links ----------------------------------------------------------------------


def errors_of(draft: QuestionnaireDraft) -> list[dict[str, Any]]:
    return [p for p in draft.problems if p.get("severity", "error") == "error"]


def state_of(draft: QuestionnaireDraft) -> tuple[str, str, str]:
    """(key, zh, en) of a draft's state."""
    if draft.published_version_id is not None:
        return "published", "已发布", "published"
    if draft.document is None:
        return (
            "problems",
            f"有 {len(errors_of(draft))} 个问题",
            f"{len(errors_of(draft))} problem(s)",
        )
    return "ready", "可以发布", "ready to publish"


def version_preview_url(form_id: str, version: str) -> str:
    # Under "versions/", apart from "drafts/": a form may be named "drafts".
    return f"{HERE}/versions/{quote(form_id, safe='')}/{quote(version, safe='')}/preview"


def _draft_or_404(session: Session, draft_id: int) -> QuestionnaireDraft:
    draft = session.get(QuestionnaireDraft, draft_id)
    if draft is None:
        raise HTTPException(404)
    return draft


# -- the list and the upload ---------------------------------------------------------------


def _list_page(
    request: Request,
    staff: Staff,
    session: Session,
    *,
    status_code: int = 200,
    refused: Refused | None = None,
) -> HTMLResponse:
    versions = session.exec(
        select(QuestionnaireVersion).order_by(
            col(QuestionnaireVersion.published_at).desc(), col(QuestionnaireVersion.id).desc()
        )
    ).all()
    drafts = session.exec(
        select(QuestionnaireDraft)
        .order_by(col(QuestionnaireDraft.uploaded_at).desc(), col(QuestionnaireDraft.id).desc())
        .limit(RECENT_DRAFTS)
    ).all()
    uploaders = {d.uploaded_by for d in drafts if d.uploaded_by is not None}
    names = {
        s.id: s.display_name
        for s in session.exec(select(Staff).where(col(Staff.id).in_(uploaders))).all()
    }
    return console_page(
        request, staff, "console/questionnaires.html", status_code, current=HERE,
        versions=versions, drafts=drafts, names=names, state_of=state_of,
        preview_url=version_preview_url, accept=ACCEPT,
        max_mib=FILE_MAX_BYTES // (1024 * 1024), refused=refused,
    )  # fmt: skip


@router.get("/questionnaires", response_class=HTMLResponse)
def questionnaires(request: Request, staff: Operator, session: SessionDep) -> HTMLResponse:
    """The published versions, the recent drafts, and the upload form."""
    return _list_page(request, staff, session)


@router.post("/questionnaires/drafts", response_class=HTMLResponse)
def upload(request: Request, staff: Operator, session: SessionDep, _: CsrfChecked, file: Uploaded):
    """Check an uploaded file and keep it as a draft; refuse a file that is no questionnaire."""
    try:
        draft = store_draft(session, file.filename, file.content, staff.id)
    except Refused as refused:
        return _list_page(request, staff, session, status_code=refused.status, refused=refused)
    audit(session, staff, UPLOADED, target=f"questionnaire_draft:{draft.id}",
          detail={"filename": draft.filename, "form_id": draft.form_id,
                  "version": draft.version, "errors": len(errors_of(draft))},
          ip=client_ip(request))  # fmt: skip
    return RedirectResponse(f"{HERE}/drafts/{draft.id}?m=uploaded", status_code=303)


# -- a draft -------------------------------------------------------------------------------


@router.get("/questionnaires/drafts/{draft_id}", response_class=HTMLResponse)
def draft_page(
    request: Request, draft_id: RowId, staff: Operator, session: SessionDep, m: Text = ""
) -> HTMLResponse:
    """The draft's problems located, or what it holds, its previews and the Publish button."""
    return _draft_page(request, staff, session, _draft_or_404(session, draft_id), m=m)


def _draft_page(
    request: Request,
    staff: Staff,
    session: Session,
    draft: QuestionnaireDraft,
    *,
    m: str = "",
    error: tuple[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    summary = None
    if draft.document is not None:
        questionnaire = questionnaire_from_document(draft.document)
        summary = {
            "title": questionnaire.title,
            "items": len(questionnaire.items),
            "constructs": len(questionnaire.constructs),
            "pages": len(build_pages(questionnaire, "grouped")),
            "languages": questionnaire.languages,
        }
    published = (
        session.get(QuestionnaireVersion, draft.published_version_id)
        if draft.published_version_id is not None
        else None
    )
    uploader = session.get(Staff, draft.uploaded_by) if draft.uploaded_by is not None else None
    return console_page(
        request, staff, "console/questionnaire_draft.html", status_code, current=HERE,
        draft=draft, state=state_of(draft), summary=summary, published=published,
        uploader=uploader.display_name if uploader else "–", message=MESSAGES.get(m),
        error=error, preview=f"{HERE}/drafts/{draft.id}/preview",
        version_preview=version_preview_url,
    )  # fmt: skip


@router.post("/questionnaires/drafts/{draft_id}/publish", response_class=HTMLResponse)
def publish_draft(
    request: Request, draft_id: RowId, staff: Operator, session: SessionDep, _: CsrfChecked
):
    """Publish the draft's document; the same content again is the version already there."""
    draft = _draft_or_404(session, draft_id)
    here = f"{HERE}/drafts/{draft.id}"
    if draft.published_version_id is not None:
        return RedirectResponse(f"{here}?m=already", status_code=303)
    if draft.document is None:
        return _draft_page(
            request, staff, session, draft, status_code=409,
            error=("这一草稿有问题，不能发布：请按下表修改文件后重新上传。",
                   "This draft has problems and cannot be published: fix the file as the "
                   "table says and upload it again."),
        )  # fmt: skip
    questionnaire = questionnaire_from_document(draft.document)
    try:
        row = publish(session, questionnaire)
    except VersionConflict:
        return _draft_page(
            request, staff, session, draft, status_code=409,
            error=(f"{questionnaire.form_id} 的版本 {questionnaire.version} 已经以不同的内容"
                   f"发布，已发布的版本不能更改。请把文件中的 version 改为新版本号（例如 "
                   f"{_next(questionnaire)}）后重新上传。",
                   f"{questionnaire.form_id} version {questionnaire.version} is already "
                   "published with different content, and a published version never "
                   "changes. Give the file a new version (e.g. "
                   f"{_next(questionnaire)}) and upload it again."),
        )  # fmt: skip
    draft.published_version_id = row.id
    session.add(draft)
    session.commit()
    audit(session, staff, PUBLISHED, target=f"questionnaire_version:{row.id}",
          detail={"form_id": row.form_id, "version": row.version, "draft": draft.id,
                  "content_hash": row.content_hash},
          ip=client_ip(request))  # fmt: skip
    return RedirectResponse(f"{here}?m=published", status_code=303)


# -- previews ------------------------------------------------------------------------------

VIEWS = ("customer", "interviewer")
VIEW_WORDS = {"customer": ("客户看到的问卷", "Customer's form"),
              "interviewer": ("访员看到的电话访问台", "Interviewer's desk")}  # fmt: skip
LANGUAGE_WORDS = {"zh": "中文", "en": "English"}

#: How a condition reads, per language: the words between the questions it names.
_CONDITION_WORDS = {
    "zh": {"and": "并且", "or": "或者", "not": "并非", "answered": "已作答",
           "includes": "选了", "count": "所选项数"},
    "en": {"and": "and", "or": "or", "not": "not", "answered": "is answered",
           "includes": "includes", "count": "number of answers chosen in"},
}  # fmt: skip
_OPERATORS = {"=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def _text(labels, questionnaire: Questionnaire, language: str) -> str:
    return (
        labels.get(language)
        or labels.get(questionnaire.default_language)
        or next(iter(labels.values()), "")
    )


def condition_words(node: Any, questionnaire: Questionnaire, language: str) -> str:
    """A ``relevant`` expression in words: the questions it names by their labels, the
    answers it compares them with by their labels, where the questionnaire has them."""
    words = _CONDITION_WORDS.get(language, _CONDITION_WORDS["en"])

    def question(ref: Ref) -> str:
        try:
            return f"“{_text(questionnaire.item(ref.name).label, questionnaire, language)}”"
        except KeyError:
            return ref.name

    def answer(ref: Any, value: Any, ordered: bool = False) -> str:
        # An order (<=) compares scores: the number first, then what it stands for.
        if isinstance(ref, Ref) and isinstance(value, Literal):
            try:
                choices = questionnaire.item(ref.name).choices
            except KeyError:
                choices = None
            code = value.value
            code = str(int(code)) if isinstance(code, float) and code.is_integer() else str(code)
            choice = choices.choice(code) if choices is not None else None
            if choice is not None:
                label = f"“{_text(choice.label, questionnaire, language)}”"
                return f"{code} {label}" if ordered else label
        return walk(value)

    def walk(part: Any, nested: bool = False) -> str:
        if isinstance(part, BoolOp):
            joined = f" {words[part.op]} ".join(walk(o, True) for o in part.operands)
            return f"({joined})" if nested else joined
        if isinstance(part, Not):
            return f"{words['not']} ({walk(part.operand)})"
        if isinstance(part, Compare):
            op = _OPERATORS.get(part.op, part.op)
            ordered = part.op not in ("=", "!=")
            return f"{walk(part.left)} {op} {answer(part.left, part.right, ordered)}"
        if isinstance(part, Call):
            if part.function == "selected":
                return f"{question(part.ref)} {words['includes']} " \
                       f"{answer(part.ref, Literal(part.argument or ''))}"  # fmt: skip
            return f"{words['count']} {question(part.ref)}"
        if isinstance(part, Ref):
            return question(part)
        if isinstance(part, Literal):
            value = part.value
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return repr(value) if isinstance(value, str) else str(value)
        return str(part)

    return walk(node)


@dataclass(frozen=True, slots=True)
class PreviewPage:
    number: int
    markup: Markup
    #: (question label, condition in words, the expression) of its conditional items.
    conditions: tuple[tuple[str, str, str], ...]


def _numbered(markup: Markup, number: int, view: str) -> Markup:
    """One page's markup made to sit beside the others in one document: the few ids the
    page template gives once per page (its progress bar, the desk's key help) numbered,
    and its language links kept on the view being previewed."""
    html = str(markup)
    for name in ("progress", "keys-help"):
        html = html.replace(f'id="{name}"', f'id="{name}-{number}"')
        html = html.replace(f'aria-labelledby="{name}"', f'aria-labelledby="{name}-{number}"')
    html = html.replace('href="?lang=', f'href="?view={view}&amp;lang=')
    return Markup(html)  # noqa: S704 (our template's output, escaped when it was rendered)


def _preview(
    request: Request,
    staff: Staff,
    questionnaire: Questionnaire,
    *,
    lang: str,
    view: str,
    back: tuple[str, str, str],
    status: tuple[str, str],
) -> HTMLResponse:
    language = lang if lang in questionnaire.languages else questionnaire.default_language
    view = view if view in VIEWS else "customer"
    interviewer = view == "interviewer"
    pages = build_pages(questionnaire, "grouped")
    # A preview shows everything: every question is treated as asked, and each
    # conditional one says when it will be.
    everything = frozenset(questionnaire.item_names)
    shown = []
    for page in pages:
        context = page_context(
            questionnaire, pages, page, everything, mode=INTERVIEWER if interviewer else RESPONDENT,
            language=language, desk=interviewer, values={},
        )  # fmt: skip
        context |= {
            # The form is drawn inside a disabled fieldset: it posts nowhere. Back goes to
            # the page above in this document.
            "action": request.url.path,
            "back": f"#preview-page-{page.number - 1}" if page.number > 1 else "",
            "csrf": "",
            "tag": "",
            "return_to": None,
        }
        conditions = tuple(
            (
                _text(item.label, questionnaire, language),
                condition_words(item.relevant.tree, questionnaire, language),
                item.relevant.source,
            )
            for item in page.items
            if item.relevant is not None
        )
        shown.append(PreviewPage(page.number, _numbered(page_main(context), page.number, view),
                                 conditions))  # fmt: skip
    return console_page(
        request, staff, "console/questionnaire_preview.html", current=HERE,
        questionnaire=questionnaire, html_lang=HTML_LANG.get(language, language),
        language=language, view=view, desk=interviewer, pages=shown,
        title=_text(questionnaire.title, questionnaire, language),
        languages=[(code, LANGUAGE_WORDS.get(code, code)) for code in questionnaire.languages],
        views=[(v, VIEW_WORDS[v]) for v in VIEWS], back=back, status=status,
    )  # fmt: skip


Lang = Annotated[str, Query(max_length=8)]
View = Annotated[str, Query(max_length=16)]


@router.get("/questionnaires/drafts/{draft_id}/preview", response_class=HTMLResponse)
def preview_draft(
    request: Request,
    draft_id: RowId,
    staff: Operator,
    session: SessionDep,
    lang: Lang = "",
    view: View = "customer",
) -> HTMLResponse:
    """A draft ready to publish, every page as the customer or the interviewer sees it."""
    draft = _draft_or_404(session, draft_id)
    if draft.document is None:
        return _draft_page(
            request, staff, session, draft, status_code=409,
            error=("这一草稿有问题，无法预览：请按下表修改文件后重新上传。",
                   "This draft has problems, so there is nothing to preview: fix the file as "
                   "the table says and upload it again."),
        )  # fmt: skip
    questionnaire = questionnaire_from_document(draft.document)
    return _preview(
        request, staff, questionnaire, lang=lang, view=view,
        back=(f"{HERE}/drafts/{draft.id}", "返回草稿", "Back to the draft"),
        status=("草稿，尚未发布", "a draft, not published yet")
        if draft.published_version_id is None else ("已发布", "published"),
    )  # fmt: skip


@router.get(
    "/questionnaires/versions/{form_id}/{version:path}/preview", response_class=HTMLResponse
)
def preview_version(
    request: Request,
    form_id: Annotated[str, PathParam(max_length=64)],
    version: Annotated[str, PathParam(max_length=32)],
    staff: Operator,
    session: SessionDep,
    lang: Lang = "",
    view: View = "customer",
) -> HTMLResponse:
    """A published version, every page as the customer or the interviewer sees it."""
    row = find_version(session, form_id, version)
    if row is None:
        raise HTTPException(404)
    return _preview(
        request, staff, questionnaire_from_document(row.document), lang=lang, view=view,
        back=(HERE, "返回问卷列表", "Back to the questionnaires"), status=("已发布", "published"),
    )  # fmt: skip
