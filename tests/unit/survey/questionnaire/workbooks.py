"""Workbooks written part by part, for the tests of what the bounded readers refuse.

openpyxl cannot write the files an attacker writes (a sheet padded to millions of rows, a
part that expands a thousand times, XML in UTF-16), and writing millions of rows through it
takes minutes: these helpers stream a sheet's XML straight into the zip.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
    b'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    b'spreadsheetml.worksheet+xml"/></Types>'
)
PACKAGE_RELATIONSHIPS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="' + RELATIONSHIPS + b'/officeDocument" '
    b'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<workbook xmlns="' + MAIN + b'" xmlns:r="' + RELATIONSHIPS + b'"><sheets>'
    b'<sheet name="frame" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELATIONSHIPS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="' + RELATIONSHIPS + b'/worksheet" '
    b'Target="worksheets/sheet1.xml"/></Relationships>'
)
FRAME_HEADER = (b"customer_id", b"phone", b"region", b"service_hall", b"tier",
                b"tenure_months", b"language", b"consent")  # fmt: skip
SHEET_START = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="%s">'


def cell(reference: bytes, text: bytes) -> bytes:
    """An inline-string cell (no shared-strings part to write)."""
    attribute = b' r="%s"' % reference if reference else b""
    return b'<c%s t="inlineStr"><is><t>%s</t></is></c>' % (attribute, text)


def row(number: int, texts: Iterable[bytes]) -> bytes:
    cells = b"".join(cell(b"%s%d" % (bytes([65 + i]), number), t) for i, t in enumerate(texts))
    return b'<row r="%d">%s</row>' % (number, cells)


def frame_header() -> bytes:
    return row(1, FRAME_HEADER)


def customer(number: int) -> bytes:
    """Row ``number`` of a valid frame (one customer, phone +86 138 0000 NNNN)."""
    values = (b"C%d" % number, b"+86138%08d" % number, b"Hangzhou", b"Hangzhou-01", b"3",
              b"26", b"zh", b"true")  # fmt: skip
    return row(number, values)


def write_workbook(
    path: Path,
    rows: Iterable[bytes],
    *,
    dimension: bytes | None = None,
    before_data: bytes = b"",
    sheet_start: bytes | None = None,
    compresslevel: int = 6,
    extra_parts: Iterable[tuple[str, bytes]] = (),
) -> Path:
    """An .xlsx with one sheet whose <sheetData> holds ``rows`` (streamed, never joined)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", PACKAGE_RELATIONSHIPS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELATIONSHIPS)
        for name, content in extra_parts:
            z.writestr(name, content)
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(sheet_start if sheet_start is not None else SHEET_START % MAIN)
            if dimension is not None:
                sheet.write(b'<dimension ref="%s"/>' % dimension)
            sheet.write(before_data + b"<sheetData>")
            for chunk in rows:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return path
