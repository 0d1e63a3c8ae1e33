"""Reading questionnaires from YAML files and XLSForm-like workbooks.

Both readers produce the same raw document and a ``locate(path)`` function, so the one
validator reports a problem at ``items[3].name (line 42)`` for YAML and at
``survey sheet, row 5, column name`` for a workbook.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any
from xml.etree.ElementTree import ParseError

import yaml

from survey.questionnaire.bounded import RefusedFile, check_workbook, load_yaml, read_text
from survey.questionnaire.document import Questionnaire
from survey.questionnaire.problems import Problem, QuestionnaireError
from survey.questionnaire.validate import Locate, Path, _yaml_path, build_questionnaire


def _node_at(node: yaml.Node, path: Path) -> tuple[yaml.Node, Path]:
    """The deepest YAML node along ``path``, and what is left of the path below it."""
    for depth, part in enumerate(path):
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        else:
            child = None
        if child is None:
            return node, path[depth:]
        node = child
    return node, ()


def _yaml_locator(root: yaml.Node | None) -> Locate:
    def locate(path: Path) -> str:
        if root is None:
            return _yaml_path(path)
        node, rest = _node_at(root, path)
        line = node.start_mark.line + 1
        # A path into a text block (the model) counts lines inside the block.
        if rest and isinstance(node, yaml.ScalarNode) and isinstance(rest[0], int):
            block_offset = 1 if node.style in ("|", ">") else 0
            return f"{_yaml_path(path[:-1])}, line {rest[0]} of the model (file line " \
                   f"{node.start_mark.line + block_offset + rest[0]})"  # fmt: skip
        return f"{_yaml_path(path)} (line {line})"

    return locate


def _refused(error: RefusedFile, source: str) -> QuestionnaireError:
    """A file refused by the bounded readers, as a problem of the questionnaire."""
    where = f"line {error.line}, column {error.column}" if error.line else error.name
    return QuestionnaireError([Problem(error.code, where, error.problem, error.fix)], source)


def read_yaml(text: str, source: str = "questionnaire.yaml"):
    """Parse YAML text; return ``(raw document, locate)`` or raise QuestionnaireError.

    The text is read within the limits of :mod:`survey.questionnaire.bounded` (size, aliases,
    nesting): an alias bomb is refused, located, before it is expanded.
    """
    try:
        raw, root = load_yaml(text, source)
    except RefusedFile as error:
        raise _refused(error, source) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        problem = Problem(
            "yaml-syntax",
            where,
            f"not valid YAML: {getattr(error, 'problem', None) or error}",
            "check indentation and quotes near this place",
        )
        raise QuestionnaireError([problem], source) from None
    return raw, _yaml_locator(root)


# -- workbooks ----------------------------------------------------------------------

SURVEY_COLUMNS = {"type", "name", "required", "relevant", "construct", "reverse_scored"}
# Labels, hints and interviewers' instructions come as XLSForm's `label::zh`, `label::en`,
# `hint::zh`, `instruction::zh`...


def _rows(sheet) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    rows = sheet.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    out = []
    for number, values in enumerate(rows, start=2):
        record = {h: v for h, v in zip(header, values, strict=False) if h and v not in (None, "")}
        if record:
            out.append((number, record))
    return header, out


def _labels(record: Mapping[str, Any], prefix: str) -> dict[str, str] | None:
    labels = {
        key.split("::", 1)[1]: str(value)
        for key, value in record.items()
        if key.startswith(prefix + "::")
    }
    return labels or None


def _workbook_document(path: FilePath) -> tuple[dict[str, Any], dict[Path, str], list[Problem]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    places: dict[Path, str] = {}
    problems: list[Problem] = []
    document: dict[str, Any] = {}
    for needed in ("survey", "choices", "settings"):
        if needed not in workbook.sheetnames:
            problems.append(
                Problem(
                    "sheet-missing",
                    path.name,
                    f"the workbook has no {needed!r} sheet",
                    "an XLSForm-like workbook has survey, choices and settings sheets",
                )
            )
    if problems:
        return document, places, problems

    _, settings = _rows(workbook["settings"])
    if settings:
        number, record = settings[0]
        for key in ("form_id", "version", "default_language"):
            if key in record:
                value = record[key]
                document[key] = str(value) if key == "version" else value
                places[(key,)] = f"settings sheet, row {number}, column {key}"
        if "languages" in record:
            document["languages"] = [s.strip() for s in str(record["languages"]).split(",")]
        title = _labels(record, "title")
        if title:
            document["title"] = title
            places[("title",)] = f"settings sheet, row {number}"

    lists: dict[str, list[dict[str, Any]]] = {}
    missing: dict[str, Any] = {}
    _, choice_rows = _rows(workbook["choices"])
    for number, record in choice_rows:
        list_name = str(record.get("list_name", ""))
        choice: dict[str, Any] = {"name": str(record.get("name", ""))}
        if (label := _labels(record, "label")) is not None:
            choice["label"] = label
        if "score" in record:
            choice["score"] = record["score"]
        if "missing" in record:
            choice["missing"] = str(record["missing"])
            missing.setdefault(str(record["missing"]), {"label": choice.get("label")})
        index = len(lists.setdefault(list_name, []))
        lists[list_name].append(choice)
        places[("choice_lists", list_name)] = f"choices sheet, row {number}"
        places[("choice_lists", list_name, index)] = f"choices sheet, row {number}"
        for key in choice:
            places[("choice_lists", list_name, index, key)] = (
                f"choices sheet, row {number}, column {key}"
            )
    document["choice_lists"] = lists

    constructs: dict[str, Any] = {}
    if "constructs" in workbook.sheetnames:
        _, construct_rows = _rows(workbook["constructs"])
        for number, record in construct_rows:
            name = str(record.get("name", ""))
            constructs[name] = {"label": _labels(record, "label")}
            if "mode" in record:
                constructs[name]["mode"] = record["mode"]
            places[("constructs", name)] = f"constructs sheet, row {number}"
    if "missing_codes" in workbook.sheetnames:
        _, missing_rows = _rows(workbook["missing_codes"])
        for number, record in missing_rows:
            name = str(record.get("name", ""))
            missing[name] = {"label": _labels(record, "label")}
            places[("missing_codes", name)] = f"missing_codes sheet, row {number}"
    if missing:
        document["missing_codes"] = missing

    items = []
    _, survey_rows = _rows(workbook["survey"])
    for number, record in survey_rows:
        item = {key: record[key] for key in SURVEY_COLUMNS if key in record}
        for prefix in ("label", "hint", "instruction"):
            if (labels := _labels(record, prefix)) is not None:
                item[prefix] = labels
        index = len(items)
        items.append(item)
        places[("items", index)] = f"survey sheet, row {number}"
        for key in item:
            places[("items", index, key)] = f"survey sheet, row {number}, column {key}"
        # XLSForm names the choice list inside the type ("rating q5").
        places[("items", index, "choices")] = f"survey sheet, row {number}, column type"
        if item.get("construct") and item["construct"] not in constructs:
            # A workbook without a constructs sheet declares constructs by using them.
            constructs.setdefault(str(item["construct"]), {"label": _labels(record, "label")})
    document["items"] = items
    if constructs:
        document["constructs"] = constructs

    if "model" in workbook.sheetnames:
        _, model_rows = _rows(workbook["model"])
        lines = []
        for number, record in model_rows:
            lines.append(str(record.get("statement", "")))
            places[("model", len(lines))] = f"model sheet, row {number}"
        document["model"] = "\n".join(lines)
    return document, places, problems


def _workbook_locator(places: dict[Path, str], name: str) -> Locate:
    def locate(path: Path) -> str:
        for depth in range(len(path), 0, -1):
            if path[:depth] in places:
                return places[path[:depth]]
        return f"{name}: {_yaml_path(path)}"

    return locate


def load_questionnaire(path: str | FilePath) -> tuple[Questionnaire, tuple[Problem, ...]]:
    """Read and validate a questionnaire file (``.yaml``, ``.yml``, ``.json`` or ``.xlsx``).

    Returns the questionnaire and its warnings; raises :class:`QuestionnaireError` with
    every located problem when it is not valid.
    """
    path = FilePath(path)
    if not path.exists():
        raise FileNotFoundError(f"no questionnaire file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            check_workbook(path)
            raw, places, problems = _workbook_document(path)
        except RefusedFile as error:
            raise _refused(error, str(path)) from None
        except (KeyError, ValueError, zipfile.BadZipFile, ParseError) as error:
            # openpyxl's complaints about a zip that is not a workbook (a part missing, a
            # part not XML): the checks above have already bounded what it read.
            problem = Problem("xlsx-unreadable", path.name, f"not a readable workbook: {error}",
                              "save it from Excel or LibreOffice as .xlsx")  # fmt: skip
            raise QuestionnaireError([problem], str(path)) from None
        if problems:
            raise QuestionnaireError(problems, str(path))
        return build_questionnaire(raw, _workbook_locator(places, path.name), str(path))
    if suffix in (".yaml", ".yml", ".json"):
        try:
            text = read_text(path)
        except RefusedFile as error:
            raise _refused(error, str(path)) from None
        raw, locate = read_yaml(text, str(path))
        return build_questionnaire(raw, locate, str(path))
    raise QuestionnaireError(
        [
            Problem(
                "file-type-unknown",
                str(path),
                f"cannot read {suffix or 'a file without extension'} questionnaires",
                "use a .yaml file or an XLSForm-like .xlsx workbook",
            )
        ],
        str(path),
    )


def questionnaire_from_document(document: Mapping[str, Any]) -> Questionnaire:
    """Rebuild a stored (already published) questionnaire from its canonical document."""
    questionnaire, _ = build_questionnaire(json.loads(json.dumps(document)))
    return questionnaire
