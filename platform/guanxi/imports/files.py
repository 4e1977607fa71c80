"""Reading an uploaded table without loading it: the file's kind and text encoding, the CSV
delimiter, the header row, and data rows streamed from any row on (an import resumes there).

Pure functions over a path: no database, no platform. Every cell comes out as text, the way
the field types parse input from forms and the API.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from guanxi.errors import GuanxiError
from guanxi.i18n import _

FORMATS = ("csv", "xlsx")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
DELIMITERS = (",", ";", "\t")
READ_CHUNK = 256 * 1024
SAMPLE_LINES = 50
HEADER_ROW = 1  # the first row holds the column names; data starts on the next
csv.field_size_limit(1024 * 1024)  # one cell of a long remark, not the default 128 KB


class FileRefused(GuanxiError):
    """The file is not a table this import can read; nothing was imported."""

    status = 415
    code = "bad_file"


def refuse_suffix(filename: str) -> None:
    """Refuse by name what cannot be read, before storing it: old .xls and anything else."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xls":
        raise FileRefused(
            _("Old Excel files (.xls) cannot be read: save the sheet as .xlsx or CSV"),
            field="file",
        )
    if suffix not in (".xlsx", *CSV_SUFFIXES):
        raise FileRefused(
            _(
                "Only .xlsx and .csv files can be imported (this file is {suffix})",
                suffix=suffix or "?",
            ),
            field="file",
        )


def detect_format(path: Path, filename: str) -> str:
    """xlsx when the file is a zip workbook, csv when it is text; the name must agree."""
    refuse_suffix(filename)
    with path.open("rb") as handle:
        head = handle.read(4)
    is_zip = head == b"PK\x03\x04"
    if Path(filename).suffix.lower() == ".xlsx":
        if not is_zip or not _is_workbook(path):
            raise FileRefused(_("The file is not a valid .xlsx workbook"), field="file")
        return "xlsx"
    if is_zip:
        raise FileRefused(
            _("The file is a workbook but is named as CSV: rename it to .xlsx"), field="file"
        )
    return "csv"


def _is_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def detect_encoding(path: Path) -> str:
    """A BOM decides; otherwise the whole file must decode as UTF-8 or it is GB18030 (what
    Chinese Excel writes; a superset of GBK and GB2312). Never a guess such as latin-1."""
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"  # Excel's "Unicode text": tab-separated UTF-16 with a BOM
        handle.seek(0)
        for encoding in ("utf-8", "gb18030"):
            if _decodes(handle, encoding):
                return encoding
            handle.seek(0)
    raise FileRefused(
        _("The file is not text in UTF-8 or GB18030/GBK; save it as CSV (UTF-8)"), field="file"
    )


def _decodes(handle: Any, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        while chunk := handle.read(READ_CHUNK):
            if b"\x00" in chunk and encoding != "utf-16":
                return False  # a binary file, whatever it decodes as
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff_delimiter(path: Path, encoding: str) -> str:
    """Comma, semicolon or tab: the one that splits the first lines into the most columns,
    the same number on each line (quoted cells may hold any of them)."""
    with path.open(encoding=encoding, newline="") as handle:
        lines = [line for _index, line in zip(range(SAMPLE_LINES), handle, strict=False)]
    sample = "".join(lines)
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(sample.splitlines(), delimiter=delimiter) if row]
        if not widths:
            continue
        steady = sum(1 for width in widths if width == widths[0])
        score = (widths[0] if widths[0] > 1 else 0, steady)
        if score > best_score:
            best, best_score = delimiter, score
    return best


# -- cells ----------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as the text a person typed: Excel dates as ISO dates (or date and time), whole
    numbers without ".0" or an exponent (mobiles stored as numbers), text trimmed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, int | Decimal):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    return str(value).strip()


# -- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFile:
    """A stored upload and how to read it (kept on the import row, so a resumed run reads the
    file exactly as the first did)."""

    path: Path
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    @classmethod
    def open(cls, path: Path, filename: str) -> TableFile:
        kind = detect_format(path, filename)
        if kind == "xlsx":
            return cls(path, "xlsx", sheet=None)
        encoding = detect_encoding(path)
        return cls(path, "csv", encoding, sniff_delimiter(path, encoding))

    def sheet_names(self) -> list[str]:
        if self.format != "xlsx":
            return []
        workbook = _load_workbook(self.path)
        try:
            return list(workbook.sheetnames)
        finally:
            workbook.close()

    def header(self) -> list[str]:
        """The column names of the header row; trailing empty ones dropped."""
        for _row_no, cells in self._raw_rows(HEADER_ROW, stop=HEADER_ROW):
            names = [cell_text(cell) for cell in cells]
            while names and not names[-1]:
                names.pop()
            return names
        return []

    def rows(self, start: int = HEADER_ROW + 1, width: int | None = None) -> Iterator[Row]:
        """Data rows from row number `start` on (1 = the header), each padded or cut to
        `width` cells of text; rows with no value at all are left out."""
        for row_no, cells in self._raw_rows(start):
            texts = [cell_text(cell) for cell in cells]
            if width is not None:
                texts = (texts + [""] * width)[:width]
            if any(texts):
                yield Row(row_no, texts)

    def estimate_rows(self) -> int:
        """Data rows (for the progress bar), counted without converting a cell: CSV records;
        for a workbook its stated size, else the row elements of the sheet."""
        if self.format == "csv":
            with self.path.open(encoding=self.encoding, newline="") as handle:
                return max(
                    sum(1 for _row in csv.reader(handle, delimiter=self.delimiter or ","))
                    - HEADER_ROW,
                    0,
                )
        return max(_sheet_row_count(self.path, self.sheet) - HEADER_ROW, 0)

    def _raw_rows(self, start: int, stop: int | None = None) -> Iterator[tuple[int, list[Any]]]:
        if self.format == "csv":
            yield from self._csv_rows(start, stop)
        else:
            yield from self._xlsx_rows(start, stop)

    def _csv_rows(self, start: int, stop: int | None) -> Iterator[tuple[int, list[Any]]]:
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter or ",")
            for row_no, cells in enumerate(reader, start=1):
                if stop is not None and row_no > stop:
                    return
                if row_no >= start:
                    yield row_no, cells

    def _xlsx_rows(self, start: int, stop: int | None) -> Iterator[tuple[int, list[Any]]]:
        workbook = _load_workbook(self.path)
        try:
            sheet = workbook[self.sheet] if self.sheet else workbook.worksheets[0]
            rows = sheet.iter_rows(min_row=start, max_row=stop, values_only=True)
            for row_no, cells in enumerate(rows, start=start):
                yield row_no, list(cells)
        finally:
            workbook.close()


@dataclass(frozen=True)
class Row:
    row_no: int  # as the spreadsheet numbers it: the header is row 1
    cells: list[str]


def _load_workbook(path: Path) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # zip and XML errors of a damaged or foreign file
        raise FileRefused(_("The file is not a valid .xlsx workbook"), field="file") from error


_ROW_TAG = re.compile(rb"<row[ >/]")
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _sheet_row_count(path: Path, sheet: str | None) -> int:
    """The last row number the sheet states in its <dimension>, or its <row> elements counted
    while streaming the decompressed XML (workbooks written by libraries often state no
    size). Read straight from the zip: openpyxl's load would parse the shared strings and,
    without a <dimension>, the whole sheet once more."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_member(archive, sheet)
            with archive.open(member) as xml:
                head = xml.read(READ_CHUNK).split(b"<sheetData", 1)[0]
            stated = _DIMENSION.search(head)
            if stated and stated.group(1) and int(stated.group(1)) > 1:
                return int(stated.group(1))
            count, tail = 0, b""
            with archive.open(member) as xml:
                while chunk := xml.read(READ_CHUNK):
                    block = tail + chunk
                    count += len(_ROW_TAG.findall(block))
                    tail = block[-5:]
                    count -= len(_ROW_TAG.findall(tail))  # counted again with the next chunk
    except (zipfile.BadZipFile, KeyError, IndexError, StopIteration, OSError,
            ElementTree.ParseError) as error:  # fmt: skip
        raise FileRefused(_("The file is not a valid .xlsx workbook"), field="file") from error
    return count


def _sheet_member(archive: zipfile.ZipFile, sheet: str | None) -> str:
    """The worksheet's part name inside the zip (e.g. xl/worksheets/sheet1.xml): the named
    sheet, or the first, as xl/workbook.xml and its relationships say."""
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    sheets = list(book.iter(f"{_MAIN_NS}sheet"))
    chosen = next((e for e in sheets if e.get("name") == sheet), None) if sheet else None
    chosen = chosen if chosen is not None else sheets[0]
    rel_id = chosen.get(f"{_REL_NS}id")
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    target = next(
        str(r.get("Target"))
        for r in rels.iter(f"{_PKG_REL_NS}Relationship")
        if r.get("Id") == rel_id
    )
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
