"""Reading files a stranger may have written: YAML and XLSX, refused before they blow up.

A questionnaire or a sample frame comes from outside, and the readers underneath (PyYAML,
zipfile, openpyxl, pandas) trust their input: a YAML alias bomb expands a few hundred bytes
into gigabytes, a zip bomb does the same to a workbook, and a sheet may declare, or pad
itself to, millions of rows that were never written. Every file is checked here against
the limits below before a reader sees it, and refused with one line that names the file,
the limit and what to do.

The limits sit far above any real questionnaire (kilobytes, a few hundred rows) or sample
frame (a province's customers: a few hundred thousand rows of about ten columns):

========================  ==================  ==============================================
what                      limit               why this number
========================  ==================  ==============================================
YAML file                 2 MiB               200 times the largest sample questionnaire
YAML values               50,000              50 times the sample; an alias counts in full
YAML text                 2 Mi characters     aliases may not expand past the file limit
YAML nesting              64 levels           a questionnaire nests 5; PyYAML recurses
workbook parts            10,000              a workbook has a few dozen
workbook, decompressed    512 MiB             1.2 million rows of a frame's 9 columns
expansion of a part       100 times           real sheets compress 5-20 times; bombs 1,000+
rows of a sheet           1,048,576           Excel's own maximum
columns of a sheet        16,384              Excel's own maximum (XFD)
cells of a sheet          16,777,216          rows x widest row: 1,048,576 rows of 16
========================  ==================  ==============================================

A sheet's rows and width are counted the way openpyxl will fill them in: a row numbered
3,000,000 stands for the 2,999,999 empty rows before it, a cell in column XFD widens its row
to 16,384 cells. A file too large for these limits goes in as CSV (frames) or in parts.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import yaml

from survey.errors import InvalidRequest

MiB = 1024 * 1024

MAX_YAML_BYTES = 2 * MiB
MAX_YAML_VALUES = 50_000
MAX_YAML_CHARACTERS = MAX_YAML_BYTES
MAX_YAML_DEPTH = 64

MAX_WORKBOOK_PARTS = 10_000
MAX_WORKBOOK_BYTES = 512 * MiB
MAX_EXPANSION = 100
#: Parts smaller than this may expand more: a small part cannot make a bomb, and a tiny
#: repetitive one (styles, an empty sheet) compresses far better than 100:1.
EXPANSION_FLOOR = 1 * MiB
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_CELLS = 16 * MAX_ROWS

#: What to do about a workbook over a limit, whatever it holds.
SPLIT = "split it into smaller workbooks, or save the data as CSV"
RESAVE = "save the data again from Excel or LibreOffice, or as CSV"


class RefusedFile(InvalidRequest):
    """A file refused before it is read: over a limit, or shaped to make a reader blow up.

    ``code`` names the limit (``yaml-aliases``, ``xlsx-rows``...), ``problem`` and ``fix``
    say what is wrong and what to do; ``line`` and ``column`` (1-based) locate it in a
    YAML file.
    """

    def __init__(
        self, name: str, code: str, problem: str, fix: str, mark: yaml.Mark | None = None
    ) -> None:
        self.name, self.code, self.problem, self.fix = name, code, problem, fix
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None
        where = f"{name}, line {self.line}, column {self.column}" if mark is not None else name
        super().__init__(f"{where}: {problem}; {fix}")


def _count(n: int) -> str:
    return f"{n:,}"


def _size(n: int) -> str:
    return f"{n / MiB:,.0f} MiB" if n >= MiB else f"{n:,} bytes"


def read_text(path: str | Path, limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of a file of at most ``limit`` bytes; RefusedFile for a larger one."""
    path = Path(path)
    with open(path, "rb") as handle:
        # One byte more than the limit tells a file at the limit from a larger one, without
        # trusting a size that a pipe or a growing file does not have.
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise RefusedFile(
            path.name, "file-too-large", f"the file is larger than {_size(limit)}",
            "a questionnaire is a few kilobytes: check that this is the right file",
        )  # fmt: skip
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RefusedFile(path.name, "file-not-utf8", f"byte {error.start:,} is not UTF-8 text",
                          "save the file as UTF-8") from None  # fmt: skip


# -- YAML --------------------------------------------------------------------------------


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting what the document will be once aliases are expanded.

    PyYAML's composer resolves an alias to the node its anchor names, so the node graph
    stays small while anything walking the constructed document (validation, ``str``,
    ``json.dumps``) sees every repetition: that walk is where the alias bomb explodes. Each
    composed node is charged its expanded size, and an alias the size of its anchor's node.
    """

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self.name = name
        self.values = 0
        self.characters = 0
        self.depth = 0
        self.expanded: dict[int, tuple[int, int]] = {}

    def refuse(self, code: str, problem: str, fix: str, mark: yaml.Mark) -> RefusedFile:
        return RefusedFile(self.name, code, problem, fix, mark)

    def charge(self, values: int, characters: int, mark: yaml.Mark, alias: str = "") -> None:
        self.values += values
        self.characters += characters
        if self.values <= MAX_YAML_VALUES and self.characters <= MAX_YAML_CHARACTERS:
            return
        budget = f"{_count(MAX_YAML_VALUES)} values or {_count(MAX_YAML_CHARACTERS)} characters"
        if alias:
            raise self.refuse(
                "yaml-aliases",
                f"the alias *{alias} expands the document past {budget}",
                "write repeated parts out once instead of through aliases: a questionnaire "
                "needs a few thousand values",
                mark,
            )
        raise self.refuse(
            "yaml-too-large", f"the document holds more than {budget}",
            "a questionnaire needs a few thousand values: check that this is the right file",
            mark,
        )  # fmt: skip

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) not in self.expanded:
                    raise self.refuse(
                        "yaml-recursive-alias",
                        f"the alias *{event.anchor} refers to a value that contains it",
                        "remove the alias: a questionnaire is a tree",
                        event.start_mark,
                    )
                self.charge(*self.expanded[id(target)], event.start_mark, event.anchor)
            return super().compose_node(parent, index)
        if self.depth >= MAX_YAML_DEPTH:
            raise self.refuse(
                "yaml-too-deep",
                f"values nested more than {MAX_YAML_DEPTH} levels deep",
                "a questionnaire nests a few levels (items, an item, its label): check the "
                "brackets and indentation here",
                event.start_mark,
            )
        values, characters = self.values, self.characters
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        self.charge(1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0,
                    node.start_mark)  # fmt: skip
        self.expanded[id(node)] = (self.values - values, self.characters - characters)
        return node


def load_yaml(text: str, name: str = "questionnaire.yaml") -> tuple[Any, yaml.Node | None]:
    """The document in ``text`` and its node tree (for locating values), within the limits.

    Raises :class:`RefusedFile` (located at a line and column where it can be) over a limit
    and ``yaml.YAMLError`` for YAML that is not valid.
    """
    if len(text) > MAX_YAML_BYTES:
        raise RefusedFile(
            name, "file-too-large", f"the text is longer than {_count(MAX_YAML_BYTES)} "
            "characters", "a questionnaire is a few kilobytes: check that this is the right file",
        )  # fmt: skip
    loader = _BoundedLoader(text, name)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return document, root


# -- XLSX --------------------------------------------------------------------------------

_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_CHUNK = MiB
#: A tag longer than this is no spreadsheet's: real tags are a few dozen bytes.
_MAX_TAG = 64 * 1024

# Tags are matched on bytes, which is exact for the XML this module lets through (UTF-8 or
# another ASCII-compatible encoding, no DTD, so no entity can produce markup): an element's
# name is written out in full, an attribute value cannot hold "<" but may hold ">". Real
# sheets write their tags without a namespace prefix; patterns that start with a literal
# are many times faster, so the patterns allowing a prefix run only where one appears.
_ATTRIBUTES = rb"""((?:[^>"']|"[^"]*"|'[^']*')*)"""
_TAG = re.compile(rb"<" + _ATTRIBUTES + rb">")
_PREFIXED = re.compile(rb":(?:row|c|dimension)[\s/>]")


class _Patterns:
    def __init__(self, prefix: bytes) -> None:
        # r as the first attribute (as Excel and openpyxl write it) is read by the pattern.
        self.row = re.compile(
            prefix + rb"""row(?:\s+r\s*=\s*["'](\d+)["'])?(?=[\s/>])""" + _ATTRIBUTES
        )
        # Every cell, with the column letters of its r ("" for a cell without one).
        self.cell = re.compile(
            prefix + rb"""c(?=[\s/>])(?:(?:[^>"']|"[^"]*"|'[^']*')*?\sr\s*=\s*["']\$?"""
            rb"([A-Za-z]{0,3}))?"
        )
        self.dimension = re.compile(prefix + rb"dimension(?=[\s/>])" + _ATTRIBUTES)


_PLAIN = _Patterns(rb"<")
_ANY_PREFIX = _Patterns(rb"<(?:[A-Za-z_][\w.-]*:)?")
_ATTRIBUTE = re.compile(rb"""([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_CORNER = re.compile(rb"\$?([A-Za-z]*)\$?(\d*)")
# Only a numeric character reference can write a digit or a letter.
_REFERENCE_WITH_ENTITY = re.compile(rb"""\sr\s*=\s*["'][^"']*&#""")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_ASCII_COMPATIBLE = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"}


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _attribute(attributes: bytes, name: bytes) -> bytes | None:
    # Attribute by attribute, so that ` r="1"` inside another attribute's value is not taken
    # for the real r that openpyxl reads.
    for found in _ATTRIBUTE.finditer(attributes):
        if found.group(1) == name:
            return found.group(2) if found.group(2) is not None else found.group(3)
    return None


def _row_number(value: bytes | None) -> int | None:
    # openpyxl reads r="5.0" as row 5 too; anything else it refuses on its own.
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


class _SheetScan:
    """Counts the rows and the width openpyxl (and pandas over it) will make of one part."""

    def __init__(self, refuse) -> None:
        self.refuse = refuse
        self.parsed_row = 0  # openpyxl's row counter: r, or one more than the last row
        self.rows = 0  # the rows openpyxl yields
        self.widest_column = 0  # by the cells' r attributes
        self.cells_without_r = 0  # in the current row
        self.most_cells_without_r = 0
        self.dimension_seen = False

    @property
    def width(self) -> int:
        # A cell without r takes the column after the previous cell's.
        return self.widest_column + self.most_cells_without_r

    def feed(self, work: bytes) -> None:
        """Count the rows and cells of ``work``, a run of whole tags and the text between."""
        if b"<!DOCTYPE" in work:
            raise self.refuse(
                "xlsx-doctype", "a part declares a DTD, which no workbook does", RESAVE
            )
        if b"&#" in work and _REFERENCE_WITH_ENTITY.search(work):
            raise self.refuse(
                "xlsx-reference", "a cell or row reference is written with character "
                "references, which no spreadsheet writes", RESAVE,
            )  # fmt: skip
        patterns = _ANY_PREFIX if _PREFIXED.search(work) else _PLAIN
        if not self.dimension_seen and b"dimension" in work:
            if found := patterns.dimension.search(work):
                self.dimension_seen = True
                self.check_dimension(found.group(1))
        columns = patterns.cell.findall(work)
        letters = set(columns)
        letters.discard(b"")
        if letters:
            self.widest_column = max(self.widest_column, *map(_column_number, letters))
        # Cells without r (rare: Excel and openpyxl write r) are counted row by row.
        if b"" in columns or self.cells_without_r > 0:
            position = 0
            for row in patterns.row.finditer(work):
                self.cells_without_r += self.count_without_r(patterns, work, position, row.start())
                self.end_row()
                position = row.end()
            self.cells_without_r += self.count_without_r(patterns, work, position, len(work))
        # openpyxl numbers a row by its r, or one after the row before, and yields the empty
        # rows before it: a sheet is as long as its highest row number.
        rows = patterns.row.findall(work)
        numbers = [first_r for first_r, _ in rows]
        if all(numbers):  # as Excel and openpyxl write them: one pass in C
            if numbers:
                self.parsed_row = int(numbers[-1])
                self.rows = max(self.rows, *map(int, numbers))
        else:
            for first_r, attributes in rows:
                number = int(first_r) if first_r else _row_number(_attribute(attributes, b"r"))
                self.parsed_row = number if number is not None else self.parsed_row + 1
                self.rows = max(self.rows, self.parsed_row)
        if self.rows > MAX_ROWS:
            raise self.refuse(
                "xlsx-rows", f"a sheet has more than {_count(MAX_ROWS)} rows (Excel's own "
                "maximum), counting the empty rows before a numbered one", SPLIT,
            )  # fmt: skip
        self.check_width()

    @staticmethod
    def count_without_r(patterns: _Patterns, work: bytes, start: int, end: int) -> int:
        return patterns.cell.findall(work, start, end).count(b"")

    def end_row(self) -> None:
        self.most_cells_without_r = max(self.most_cells_without_r, self.cells_without_r)
        self.cells_without_r = 0

    def finish(self) -> None:
        self.end_row()
        self.check_width()

    def check_width(self) -> None:
        width = max(self.width, self.cells_without_r + self.widest_column)
        if width > MAX_COLUMNS:
            raise self.refuse(
                "xlsx-columns", f"a sheet has more than {_count(MAX_COLUMNS)} columns (Excel's "
                "own maximum)", SPLIT,
            )  # fmt: skip
        self.check_cells(self.rows, width)

    def check_cells(self, rows: int, width: int) -> None:
        if rows * width > MAX_CELLS:
            raise self.refuse(
                "xlsx-cells", f"a sheet spans {_count(rows)} rows of {_count(width)} columns, "
                f"more than {_count(MAX_CELLS)} cells", SPLIT + " (keep only the columns needed)",
            )  # fmt: skip

    def check_dimension(self, attributes: bytes) -> None:
        # openpyxl's read-only sheets are as large as they say here (pandas re-measures them):
        # "A1:XFD1048576" makes every row 16,384 cells wide.
        ref = _attribute(attributes, b"ref") or b""
        corners = _CORNER.findall(ref)
        columns = [_column_number(letters) for letters, _ in corners if letters]
        rows = [int(digits) for _, digits in corners if digits]
        if not columns or not rows:
            return  # a whole row or column ("A:A"): openpyxl then measures the rows it reads
        if max(rows) > MAX_ROWS or max(columns) > MAX_COLUMNS:
            raise self.refuse(
                "xlsx-rows", f"a sheet declares its extent as {ref.decode('ascii', 'replace')!r}, "
                f"beyond {_count(MAX_ROWS)} rows or {_count(MAX_COLUMNS)} columns (Excel's own "
                "maximum)", SPLIT,
            )  # fmt: skip
        self.check_cells(max(rows) - min(rows) + 1, max(columns) - min(columns) + 1)


def _check_archive(path: Path, refuse) -> None:
    """The zip's own directory, read before zipfile reads it (it holds every entry at once)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - (22 + 65_535)))
        tail = handle.read()
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < 22:
        raise refuse("xlsx-not-a-workbook", "this is not an .xlsx workbook (not a zip archive)",
                     "save it from Excel or LibreOffice as .xlsx, or as CSV")  # fmt: skip
    entries, directory_size = struct.unpack("<10xH L 6x", tail[at : at + 22])
    if tail[max(0, at - 20) : at].startswith(_ZIP64_LOCATOR) or entries > MAX_WORKBOOK_PARTS \
            or directory_size > MAX_WORKBOOK_PARTS * 512:  # fmt: skip
        raise refuse(
            "xlsx-parts", f"the archive lists more than {_count(MAX_WORKBOOK_PARTS)} parts or "
            "is a ZIP64 archive; a workbook has a few dozen parts", RESAVE,
        )  # fmt: skip


def _check_parts(archive: zipfile.ZipFile, size: int, refuse) -> list[zipfile.ZipInfo]:
    parts = archive.infolist()
    if len(parts) > MAX_WORKBOOK_PARTS:
        raise refuse("xlsx-parts", f"the archive holds more than {_count(MAX_WORKBOOK_PARTS)} "
                     "parts; a workbook has a few dozen", RESAVE)  # fmt: skip
    total = sum(part.file_size for part in parts)
    if total > MAX_WORKBOOK_BYTES:
        raise refuse(
            "xlsx-too-large", f"the workbook holds {_size(total)} once decompressed, over the "
            f"limit of {_size(MAX_WORKBOOK_BYTES)}", SPLIT,
        )  # fmt: skip
    # The ratio below trusts each part's compressed size: parts claiming more compressed
    # bytes than the file has (or the same bytes twice) would cheat it.
    if sum(part.compress_size for part in parts) > size:
        raise refuse("xlsx-overlapping", "the archive's parts claim more bytes than the file "
                     "holds", RESAVE)  # fmt: skip
    for part in parts:
        if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise refuse(
                "xlsx-compression", f"the part {part.filename} is compressed with method "
                f"{part.compress_type}, which no spreadsheet uses", RESAVE,
            )  # fmt: skip
        if part.flag_bits & 0x1:
            raise refuse("xlsx-encrypted", f"the part {part.filename} is encrypted",
                         "save the workbook without a password")  # fmt: skip
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > EXPANSION_FLOOR and ratio > MAX_EXPANSION:
            raise refuse(
                "xlsx-expansion", f"the part {part.filename} expands {ratio:,.0f} times (to "
                f"{_size(part.file_size)}), more than the {MAX_EXPANSION} times of a real "
                "workbook", RESAVE,
            )  # fmt: skip
    return parts


def _scan_part(archive: zipfile.ZipFile, part: zipfile.ZipInfo, refuse) -> None:
    """Stream one part: if it is XML, check its encoding and count its rows and columns."""

    def refuse_here(code: str, problem: str, fix: str) -> RefusedFile:
        return refuse(code, f"{problem} (in {part.filename})", fix)

    with archive.open(part) as stream:
        data = stream.read(_CHUNK)
        head = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        # XML in UTF-16 would hide its tags from the byte patterns above (expat reads it, and
        # no spreadsheet writes it); other binary parts are not XML and are skipped.
        if head.startswith((b"\xff\xfe<", b"\xfe\xff\x00<", b"<\x00", b"\x00<")):
            raise refuse_here("xlsx-encoding", "a part is written in UTF-16, not UTF-8", RESAVE)
        if not head.lstrip().startswith(b"<"):
            return  # not XML (an image, a printer's settings): openpyxl does not parse it
        declared = _DECLARED_ENCODING.match(head)
        encoding = declared.group(1).decode("ascii", "replace") if declared else "utf-8"
        if encoding.lower() not in _ASCII_COMPATIBLE:
            raise refuse_here(
                "xlsx-encoding", f"a part is written in {encoding!r}, not UTF-8", RESAVE
            )
        scan = _SheetScan(refuse_here)
        carry = b""
        while data:
            data = carry + data
            # Up to the last "<", every tag is whole: an attribute value cannot hold "<".
            cut = data.rfind(b"<")
            if cut < 0:
                cut = len(data)
            carry = data[cut:]
            if len(carry) > _MAX_TAG:
                # Past its tag, the rest is text (no "<"): only the tag needs to be whole.
                tag = _TAG.match(carry)
                if tag is None:
                    raise refuse_here("xlsx-tag", "a tag is longer than 64 KiB", RESAVE)
                cut, carry = cut + tag.end(), b""
            scan.feed(data[:cut])
            data = stream.read(_CHUNK)
        if carry:
            scan.feed(carry)
        scan.finish()


def check_workbook(path: str | Path) -> None:
    """Refuse an .xlsx file (:class:`RefusedFile`) before openpyxl or pandas reads it.

    Checks the zip's directory, the declared and compressed sizes of its parts, then streams
    every XML part once (memory stays at a few MiB) to count each sheet's rows and width.
    """
    path = Path(path)

    def refuse(code: str, problem: str, fix: str) -> RefusedFile:
        return RefusedFile(path.name, code, problem, fix)

    _check_archive(path, refuse)
    try:
        with zipfile.ZipFile(path) as archive:
            for part in _check_parts(archive, path.stat().st_size, refuse):
                _scan_part(archive, part, refuse)
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise refuse("xlsx-not-a-workbook", f"the archive cannot be read ({error})",
                     "save it from Excel or LibreOffice as .xlsx, or as CSV") from None  # fmt: skip


def read_excel(path: str | Path, **options: Any):
    """``pandas.read_excel(path, **options)`` after :func:`check_workbook`."""
    import pandas as pd

    check_workbook(path)
    return pd.read_excel(path, **options)
