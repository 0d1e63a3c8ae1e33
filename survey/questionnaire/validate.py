"""Turn a questionnaire document (from YAML or a workbook) into a :class:`Questionnaire`.

Validation collects every problem before giving up, so an author fixes a file in one pass.
Each problem has a stable code, the place (YAML path and line, or sheet, row and column),
what is wrong and how to fix it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from models.syntax import find_cycle, read_statements
from survey.questionnaire.document import (
    IMPLIED_TYPES,
    ITEM_TYPES,
    SCORED_TYPES,
    Choice,
    ChoiceList,
    Construct,
    Item,
    MissingCode,
    Questionnaire,
)
from survey.questionnaire.problems import Problem, QuestionnaireError
from survey.questionnaire.relevant import Relevance, RelevantSyntaxError, parse_relevant

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
KNOWN_LANGUAGES = ("zh", "en")
TYPE_ALIASES = {"select_one": "single", "select_multiple": "multiple", "integer_nps": "nps"}
TOP_LEVEL_KEYS = {
    "form_id", "version", "title", "languages", "default_language", "missing_codes",
    "choice_lists", "constructs", "items", "model",
}  # fmt: skip
ITEM_KEYS = {
    "name", "type", "label", "hint", "instruction", "choices", "required", "relevant",
    "construct", "reverse_scored",
}  # fmt: skip
YES_NO = ChoiceList(
    "yes_no",
    (
        Choice("yes", {"zh": "是", "en": "Yes"}, 1.0),
        Choice("no", {"zh": "否", "en": "No"}, 0.0),
    ),
)


def implied_list(item_type: str, languages: tuple[str, ...]) -> ChoiceList:
    """The choices a yes/no or NPS item's type implies: yes (1) and no (0), or 0 to 10."""
    if item_type == "yes_no":
        return YES_NO
    return ChoiceList(
        "nps",
        tuple(Choice(str(n), {lang: str(n) for lang in languages}, float(n)) for n in range(11)),
    )


Path = tuple[Any, ...]
Locate = Callable[[Path], str]


def _yaml_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _shortened(text: str, width: int = 60) -> str:
    # An expression thousands of characters long would bury the message; the error's column
    # says where the problem is.
    return text if len(text) <= width else text[: width - 3] + "..."


def _suggest(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Checker:
    """Walks a raw document, collecting problems and building the frozen questionnaire."""

    def __init__(self, raw: Any, locate: Locate) -> None:
        self.raw = raw
        self.locate = locate
        self.problems: list[Problem] = []

    def report(self, path: Path, code: str, message: str, fix: str, severity: str = "error"):
        self.problems.append(Problem(code, self.locate(path), message, fix, severity))  # type: ignore[arg-type]

    # -- small readers ---------------------------------------------------------------

    def name(self, value: Any, path: Path, what: str) -> str | None:
        if not isinstance(value, str) or not NAME_PATTERN.match(value):
            self.report(
                path,
                f"{what}-name-invalid",
                f"{value!r} is not a valid {what} name",
                "use lowercase letters, digits and _, starting with a letter (it must be "
                "usable in lavaan syntax), e.g. net_coverage",
            )
            return None
        return value

    def labels(self, value: Any, path: Path, languages: tuple[str, ...], required=True):
        if value is None and not required:
            return {}
        if isinstance(value, str) and len(languages) == 1:
            return {languages[0]: value}
        if not isinstance(value, Mapping):
            self.report(
                path,
                "label-invalid",
                f"expected one label per language ({', '.join(languages)}), got {value!r}",
                "write it as a mapping, e.g. {zh: 网络覆盖, en: Network coverage}",
            )
            return {}
        labels = {str(k): str(v) for k, v in value.items() if v not in (None, "")}
        for language in languages:
            if language not in labels:
                self.report(
                    path,
                    "label-missing",
                    f"no {language!r} label",
                    f"add the {language!r} label: every text is shown in {', '.join(languages)}",
                )
        return labels

    def boolean(self, value: Any, path: Path, default: bool = False) -> bool:
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("yes", "true", "1"):
            return True
        if text in ("no", "false", "0"):
            return False
        self.report(path, "boolean-invalid", f"{value!r} is not yes or no", "write yes or no")
        return default

    # -- sections ------------------------------------------------------------------

    def header(self) -> tuple[str, str, tuple[str, ...], str, dict[str, str]]:
        raw = self.raw
        for key in raw:
            if key not in TOP_LEVEL_KEYS:
                self.report(
                    (key,),
                    "unknown-key",
                    f"unknown section {key!r}{_suggest(key, TOP_LEVEL_KEYS)}",
                    f"use only: {', '.join(sorted(TOP_LEVEL_KEYS))}",
                )
        form_id = raw.get("form_id")
        if form_id is None:
            self.report((), "form-id-missing", "no form_id", "add form_id: csi_mobile")
        else:
            self.name(form_id, ("form_id",), "form-id")
        version = raw.get("version")
        if version is None or version == "":
            self.report((), "version-missing", "no version", 'add version: "2026.1"')
            version = ""
        elif not isinstance(version, str):
            # An unquoted 2026.10 is the float 2026.1 in YAML: a silent version change.
            self.report(
                ("version",),
                "version-not-text",
                f"version was read as the number {version!r}, not as text",
                'quote it exactly as meant, e.g. version: "2026.10" (unquoted, 2026.10 '
                "is the number 2026.1)",
            )
            version = str(version)
        languages = raw.get("languages", list(KNOWN_LANGUAGES))
        if not isinstance(languages, list) or not languages:
            self.report(("languages",), "languages-invalid", "languages must be a list", "[zh, en]")
            languages = list(KNOWN_LANGUAGES)
        for i, language in enumerate(languages):
            if language not in KNOWN_LANGUAGES:
                self.report(
                    ("languages", i),
                    "language-unknown",
                    f"unknown language {language!r}",
                    f"use {' or '.join(KNOWN_LANGUAGES)}",
                )
        languages_t = tuple(str(x) for x in languages)
        default = raw.get("default_language", languages_t[0])
        if default not in languages_t:
            self.report(
                ("default_language",),
                "default-language-unknown",
                f"default_language {default!r} is not one of the languages",
                f"use one of {', '.join(languages_t)}",
            )
        title = self.labels(raw.get("title"), ("title",), languages_t)
        # What is valid must also be publishable: longer values would not fit the columns of
        # questionnaire_version (PostgreSQL refuses them; SQLite would keep them whole).
        stored = {"form_id": form_id, "version": version, "title": title.get(str(default), "")}
        for key, width in STORED_WIDTHS.items():
            value = stored[key]
            if isinstance(value, str) and len(value) > width:
                self.report(
                    (key,),
                    f"{key.replace('_', '-')}-too-long",
                    f"{key} has {len(value)} characters, more than the {width} stored",
                    f"shorten {key} to {width} characters or fewer",
                )
        return str(form_id or ""), str(version), languages_t, str(default), title

    def missing_codes(self, languages) -> dict[str, MissingCode]:
        raw = self.raw.get("missing_codes") or {}
        if not isinstance(raw, Mapping):
            self.report(
                ("missing_codes",),
                "section-not-mapping",
                "missing_codes must map a name to its label",
                "e.g. missing_codes: {cannot_answer: {label: {zh: 无法回答, en: Cannot answer}}}",
            )
            return {}
        codes = {}
        for key, spec in raw.items():
            path = ("missing_codes", key)
            if self.name(key, path, "missing-code") is None:
                continue
            spec = spec if isinstance(spec, Mapping) else {}
            modes = tuple(spec.get("modes") or ("respondent", "interviewer"))
            for mode in modes:
                if mode not in ("respondent", "interviewer"):
                    self.report(
                        (*path, "modes"),
                        "missing-code-mode-unknown",
                        f"unknown mode {mode!r}",
                        "use respondent and/or interviewer",
                    )
            label = self.labels(spec.get("label"), (*path, "label"), languages)
            codes[key] = MissingCode(key, label, modes)
        return codes

    def choice_lists(self, languages, missing: Mapping[str, MissingCode]):
        raw = self.raw.get("choice_lists") or {}
        if not isinstance(raw, Mapping):
            self.report(
                ("choice_lists",),
                "section-not-mapping",
                "choice_lists must map a list name to its choices",
                "e.g. choice_lists: {quality5: [{name: '1', label: {...}, score: 1}, ...]}",
            )
            return {}
        lists = {}
        for list_name, choices in raw.items():
            path = ("choice_lists", list_name)
            self.name(list_name, path, "choice-list")
            if not isinstance(choices, list) or not choices:
                self.report(
                    path,
                    "choice-list-empty",
                    f"choice list {list_name!r} has no choices",
                    "list its choices, each with name, label and score",
                )
                continue
            seen: set[str] = set()
            built = []
            for j, choice in enumerate(choices):
                cpath = (*path, j)
                if not isinstance(choice, Mapping) or choice.get("name") in (None, ""):
                    self.report(
                        cpath,
                        "choice-name-missing",
                        "a choice without a name",
                        "give each choice a name: the code stored with the answer, e.g. '1'",
                    )
                    continue
                code = str(choice["name"])
                if code in seen:
                    self.report(
                        (*cpath, "name"),
                        "choice-name-duplicate",
                        f"choice {code!r} appears twice in {list_name!r}",
                        "give each choice of a list its own name",
                    )
                seen.add(code)
                label = self.labels(choice.get("label"), (*cpath, "label"), languages)
                score = choice.get("score")
                missing_kind = choice.get("missing")
                if missing_kind is not None:
                    if missing_kind not in missing:
                        self.report(
                            (*cpath, "missing"),
                            "missing-code-unknown",
                            f"missing code {missing_kind!r} is not declared"
                            f"{_suggest(missing_kind, missing)}",
                            "declare it under missing_codes, e.g. cannot_answer",
                        )
                    if score not in (None, ""):
                        self.report(
                            (*cpath, "score"),
                            "missing-with-score",
                            f"choice {code!r} is a missing value ({missing_kind}) but has a score",
                            "remove its score: 'cannot answer' is never a score",
                        )
                    score = None
                elif score not in (None, ""):
                    try:
                        score = float(score)
                    except (TypeError, ValueError):
                        self.report(
                            (*cpath, "score"),
                            "choice-score-invalid",
                            f"score {score!r} is not a number",
                            "write a number, e.g. 80",
                        )
                        score = None
                else:
                    score = None
                built.append(Choice(code, label, score, missing_kind))
            lists[list_name] = ChoiceList(str(list_name), tuple(built))
        return lists

    def constructs(self, languages) -> dict[str, Construct]:
        raw = self.raw.get("constructs") or {}
        if not isinstance(raw, Mapping):
            self.report(
                ("constructs",),
                "section-not-mapping",
                "constructs must map a construct name to its label",
                "e.g. constructs: {network: {label: {zh: 网络质量, en: Network quality}}}",
            )
            return {}
        constructs = {}
        for key, spec in raw.items():
            path = ("constructs", key)
            if self.name(key, path, "construct") is None:
                continue
            spec = spec if isinstance(spec, Mapping) else {}
            mode = spec.get("mode", "reflective")
            if mode not in ("reflective", "formative"):
                self.report(
                    (*path, "mode"),
                    "construct-mode-unknown",
                    f"unknown mode {mode!r}",
                    "use reflective (=~) or formative (<~)",
                )
            label = self.labels(spec.get("label"), (*path, "label"), languages)
            constructs[key] = Construct(key, label, mode)
        return constructs

    def items(self, languages, lists, constructs) -> list[Item]:
        raw = self.raw.get("items")
        if not isinstance(raw, list) or not raw:
            self.report(("items",), "items-missing", "the questionnaire has no items", "add items")
            return []
        items: list[Item] = []
        names_so_far: list[str] = []
        all_names = [i.get("name") for i in raw if isinstance(i, Mapping)]
        for k, spec in enumerate(raw):
            path = ("items", k)
            if not isinstance(spec, Mapping):
                self.report(path, "item-not-mapping", "an item must be a mapping", "name: ...")
                continue
            for key in spec:
                if key not in ITEM_KEYS:
                    self.report(
                        (*path, key),
                        "unknown-key",
                        f"unknown item field {key!r}{_suggest(key, ITEM_KEYS)}",
                        f"use only: {', '.join(sorted(ITEM_KEYS))}",
                    )
            name = self.name(spec.get("name"), (*path, "name"), "item")
            if name is not None and name in names_so_far:
                self.report(
                    (*path, "name"),
                    "item-name-duplicate",
                    f"item {name!r} appears twice",
                    "give each item its own name",
                )
            item = self.item(spec, path, name, languages, lists, constructs, names_so_far,
                             all_names)  # fmt: skip
            if name is not None:
                names_so_far.append(name)
            if item is not None:
                items.append(item)
        return items

    def item_type(self, spec, path) -> tuple[str | None, str | None]:
        """The item's type and, for 'rating quality5'-style types, its choice list."""
        raw_type = spec.get("type")
        list_name = spec.get("choices")
        if isinstance(raw_type, str) and " " in raw_type.strip():
            raw_type, inline = raw_type.split(None, 1)
            list_name = list_name or inline.strip()
        item_type = TYPE_ALIASES.get(raw_type, raw_type)
        if item_type not in ITEM_TYPES:
            self.report(
                (*path, "type"),
                "item-type-unknown",
                f"unknown item type {raw_type!r}{_suggest(raw_type, ITEM_TYPES)}",
                f"use one of: {', '.join(ITEM_TYPES)}",
            )
            return None, list_name
        return item_type, list_name

    def item(self, spec, path, name, languages, lists, constructs, earlier, all_names):
        item_type, list_name = self.item_type(spec, path)
        label = self.labels(spec.get("label"), (*path, "label"), languages)
        hint = self.labels(spec.get("hint"), (*path, "hint"), languages, required=False)
        instruction = self.labels(
            spec.get("instruction"), (*path, "instruction"), languages, required=False
        )
        choices = None
        if item_type in ("rating", "single", "multiple"):
            if list_name in (None, ""):
                self.report(
                    (*path, "choices"),
                    "choices-missing",
                    f"a {item_type} item needs a choice list",
                    "add choices: <list name> (declared under choice_lists)",
                )
            elif list_name not in lists:
                self.report(
                    (*path, "choices"),
                    "choice-list-unknown",
                    f"choice list {list_name!r} is not declared{_suggest(list_name, lists)}",
                    "declare it under choice_lists, or fix the name",
                )
            else:
                choices = lists[list_name]
                if item_type == "rating" and choices.bounds is None:
                    self.report(
                        (*path, "choices"),
                        "choice-list-unscored",
                        f"rating item uses {list_name!r}, which has no scores",
                        "give the list's choices a score (missing codes excepted)",
                    )
        elif item_type in IMPLIED_TYPES:
            choices = self.implied_choices(item_type, list_name, lists, path, languages)
        elif list_name not in (None, "") and item_type is not None:
            self.report(
                (*path, "choices"),
                "choices-not-allowed",
                f"a {item_type} item takes no choice list",
                "remove choices, or use type rating/single/multiple",
            )
        construct = spec.get("construct") or None
        if construct is not None:
            if construct not in constructs:
                self.report(
                    (*path, "construct"),
                    "construct-unknown",
                    f"construct {construct!r} is not declared{_suggest(construct, constructs)}",
                    "declare it under constructs, or fix the name",
                )
            elif item_type is not None and item_type not in SCORED_TYPES:
                self.report(
                    (*path, "construct"),
                    "construct-item-not-scored",
                    f"a {item_type} item cannot measure a construct",
                    f"only {' and '.join(SCORED_TYPES)} items measure constructs",
                )
        reverse = self.boolean(spec.get("reverse_scored"), (*path, "reverse_scored"))
        if reverse and item_type not in SCORED_TYPES:
            self.report(
                (*path, "reverse_scored"),
                "reverse-not-scored",
                f"a {item_type} item has no score to reverse",
                "remove reverse_scored",
            )
        relevance = self.relevance(spec.get("relevant"), (*path, "relevant"), name, earlier,
                                   all_names)  # fmt: skip
        if name is None or item_type is None:
            return None
        return Item(
            name=name,
            type=item_type,
            label=label,
            choices=choices,
            hint=hint,
            instruction=instruction,
            required=self.boolean(spec.get("required"), (*path, "required")),
            relevant=relevance,
            construct=construct if construct in constructs else None,
            reverse_scored=reverse,
        )

    def implied_choices(self, item_type, list_name, lists, path, languages) -> ChoiceList:
        """A yes/no or 0-10 item's choices: the answers its type implies, then the missing
        codes of the choice list it names, if any (a list of missing choices only)."""
        implied = implied_list(item_type, languages)
        if list_name in (None, ""):
            return implied
        if list_name not in lists:
            self.report(
                (*path, "choices"),
                "choice-list-unknown",
                f"choice list {list_name!r} is not declared{_suggest(list_name, lists)}",
                "declare it under choice_lists, or fix the name",
            )
            return implied
        extra = lists[list_name].choices
        answers = "yes and no" if item_type == "yes_no" else "0 to 10"
        not_missing = [c.name for c in extra if c.missing is None]
        taken = [c.name for c in extra if implied.choice(c.name) is not None]
        if not_missing or taken:
            self.report(
                (*path, "choices"),
                "choices-not-missing",
                f"a {item_type} item's answers are {answers}: its list {list_name!r} may only "
                f"add missing codes, but {', '.join(sorted(set(not_missing + taken)))} "
                f"{'is' if len(set(not_missing + taken)) == 1 else 'are'} not",
                "give the list only choices with `missing:` and codes of their own, e.g. "
                "{name: '77', missing: refused, label: {...}}",
            )
        return ChoiceList(str(list_name), (*implied.choices, *extra))

    def relevance(self, text, path, name, earlier, all_names) -> Relevance | None:
        if text in (None, ""):
            return None
        try:
            relevance = parse_relevant(str(text))
        except RelevantSyntaxError as error:
            unsafe = "is not allowed" in str(error) or "unexpected character" in str(error)
            of_item = f" of {name!r}" if name else ""
            self.report(
                path,
                "relevant-unsafe" if unsafe else "relevant-syntax",
                f"relevant{of_item} {_shortened(str(text))!r}: {error}",
                error.fix,
            )
            return None
        for ref in sorted(relevance.references):
            if ref == name:
                self.report(
                    path, "relevant-self", "an item's relevant refers to itself",
                    "refer to earlier items only",
                )  # fmt: skip
            elif ref not in all_names:
                self.report(
                    path,
                    "relevant-unknown-item",
                    f"relevant refers to unknown item {ref!r}{_suggest(ref, all_names)}",
                    "refer to an item of this questionnaire as ${name}",
                )
            elif ref not in earlier:
                self.report(
                    path,
                    "relevant-forward-reference",
                    f"relevant refers to {ref!r}, which is asked later",
                    "skip logic may only depend on items asked before this one",
                )
        return relevance

    def model(self, constructs: Mapping[str, Construct], items: list[Item]) -> str:
        text = self.raw.get("model") or ""
        if not isinstance(text, str):
            self.report(
                ("model",),
                "model-not-text",
                "model must be lavaan syntax text",
                "write it as a block: model: |\n  satisfaction ~ quality",
            )
            return ""
        statements, errors = read_statements(text)
        for error in errors:
            self.report(("model", error.line), "model-syntax", error.problem, error.fix)
        item_names = {i.name for i in items}
        paths = []
        for st in statements:
            where = ("model", st.line)
            if st.op in ("=~", "<~"):
                self.report(
                    where,
                    "model-measurement-operator",
                    f"{st.op!r} in the model: measurement comes from the items",
                    "set `construct:` on the items and keep only ~ and ~~ lines here",
                )
                continue
            for var in (st.lhs, *(term.name for term in st.terms)):
                if var in constructs:
                    continue
                hint = " (it is an item)" if var in item_names else ""
                self.report(
                    where,
                    "model-unknown-construct",
                    f"{var!r} is not a construct{hint}{_suggest(var, constructs)}",
                    "declare it under constructs with its items, or fix the name",
                )
            if st.op == "~":
                paths += st.relations
        cycle = find_cycle(paths)
        if cycle is not None:
            self.report(
                ("model", cycle.line),
                "model-cycle",
                f"the paths loop: {' -> '.join(cycle.names)}",
                "the structural model must be recursive: remove one path of the loop",
            )
        return text


#: The widths of questionnaire_version's columns (survey.db.tables.QuestionnaireVersion).
STORED_WIDTHS = {"form_id": 64, "version": 32, "title": 200}


def build_questionnaire(raw: Any, locate: Locate | None = None, source: str = "questionnaire"):
    """Validate a raw document and build the frozen :class:`Questionnaire`.

    Returns ``(questionnaire, warnings)``; raises :class:`QuestionnaireError` listing every
    error when the document is not valid.
    """
    locate = locate or _yaml_path
    checker = _Checker(raw, locate)
    if not isinstance(raw, Mapping):
        checker.report(
            (),
            "document-not-mapping",
            "a questionnaire must be a mapping of sections",
            "start with form_id:, version:, items:",
        )
        raise QuestionnaireError(checker.problems, source)
    form_id, version, languages, default, title = checker.header()
    missing = checker.missing_codes(languages)
    lists = checker.choice_lists(languages, missing)
    constructs = checker.constructs(languages)
    items = checker.items(languages, lists, constructs)
    members = {c: [i for i in items if i.construct == c] for c in constructs}
    for construct, measured in members.items():
        if not measured:
            checker.report(
                ("constructs", construct),
                "construct-without-items",
                f"construct {construct!r} has no items",
                "set `construct: " + construct + "` on the items that measure it, or remove it",
            )
    used = {i.choices.name for i in items if i.choices is not None}
    for list_name in lists:
        if list_name not in used:
            checker.report(
                ("choice_lists", list_name),
                "choice-list-unused",
                f"choice list {list_name!r} is not used by any item",
                "remove it or use it",
                "warning",
            )
    model = checker.model(constructs, items)
    if "\\u0000" in json.dumps(raw, default=str):
        # PostgreSQL's JSON and text types cannot hold a NUL: the version could not be stored.
        checker.report(
            (),
            "nul-character",
            "a text holds a NUL character (\\0), which cannot be stored",
            "remove the \\0 escapes from the file",
        )
    errors = [p for p in checker.problems if p.severity == "error"]
    if errors:
        raise QuestionnaireError(checker.problems, source)
    document = _canonical(raw, version, lists)
    questionnaire = Questionnaire(
        form_id=form_id,
        version=version,
        title=title,
        languages=languages,
        default_language=default,
        items=tuple(items),
        choice_lists=lists,
        constructs=constructs,
        missing_codes=missing,
        structural_model=model,
        document=document,
    )
    return questionnaire, tuple(checker.problems)


def _canonical(raw: Mapping[str, Any], version: str, lists) -> dict[str, Any]:
    """The document as stored: plain JSON types, choice codes as text, version as text."""
    document = {key: raw[key] for key in raw if key in TOP_LEVEL_KEYS}
    document["version"] = version
    document["choice_lists"] = {
        name: [
            {key: (str(value) if key == "name" else value) for key, value in choice.items()}
            for choice in raw.get("choice_lists", {}).get(name, [])
        ]
        for name in lists
    }
    return document
