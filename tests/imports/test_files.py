"""Reading uploaded tables (DATA-09): encodings as Chinese Excel writes them, CSV dialects,
workbooks streamed from any row, and cells turned into the text a person typed."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from guanxi.imports.files import (
    FileRefused,
    TableFile,
    cell_text,
    detect_encoding,
    sniff_delimiter,
)
from tests.imports.conftest import write_csv, write_xlsx

HEADER = ["客户名称", "公司名称", "手机号"]
ROW = ["张三", "上海星辰科技有限公司", "138 1234 5678"]


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("gbk", "gb18030")],
)
def test_encoding_is_detected_and_chinese_headers_read(
    tmp_path: Path, encoding: str, expected: str
) -> None:  # DATA-09
    path = write_csv(tmp_path / "customers.csv", [HEADER, ROW], encoding=encoding)
    assert detect_encoding(path) == expected
    table = TableFile.open(path, "customers.csv")
    assert table.header() == HEADER
    assert [row.cells for row in table.rows()] == [ROW]


def test_utf8_is_decided_by_the_whole_file_not_its_start(tmp_path: Path) -> None:  # DATA-09
    """A GBK file whose first 300 KB are ASCII is still GBK: the whole stream is checked."""
    rows = [["name", "company"]] + [[f"n{i}", "x" * 60] for i in range(5000)] + [["李四", "公司"]]
    path = write_csv(tmp_path / "late.csv", rows, encoding="gbk")
    assert path.stat().st_size > 300_000
    assert detect_encoding(path) == "gb18030"
    assert list(TableFile.open(path, "late.csv").rows())[-1].cells == ["李四", "公司"]


def test_latin1_is_never_guessed(tmp_path: Path) -> None:  # DATA-09
    path = tmp_path / "binary.csv"
    path.write_bytes(b"name,city\ncaf\xe9,\x00\x01\x02\xff\xfe")
    with pytest.raises(FileRefused):
        detect_encoding(path)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:  # DATA-09
    rows = [HEADER, ["王五", "北京, 海淀 有限公司", "13900000001"], ["赵六", "深圳;公司", ""]]
    path = write_csv(tmp_path / "d.csv", rows, delimiter=delimiter)
    assert sniff_delimiter(path, "utf-8") == delimiter
    assert [r.cells for r in TableFile.open(path, "d.csv").rows()] == rows[1:]


def test_rows_start_at_a_given_row_and_skip_empty_ones(tmp_path: Path) -> None:  # DATA-09
    rows = [HEADER, ["a", "A", "1"], ["", "", ""], ["b", "B", "2"], ["c", "C", "3"], [], []]
    for path in (write_csv(tmp_path / "r.csv", rows), write_xlsx(tmp_path / "r.xlsx", rows)):
        table = TableFile.open(path, path.name)
        assert [(r.row_no, r.cells[0]) for r in table.rows()] == [(2, "a"), (4, "b"), (5, "c")]
        assert [r.row_no for r in table.rows(start=4)] == [4, 5]
        assert [r.cells for r in table.rows(start=5, width=2)] == [["c", "C"]]


def test_workbook_cells_become_typed_text(tmp_path: Path) -> None:  # DATA-09
    rows = [
        ["手机号", "日期", "时间", "金额", "整数", "全角"],
        [13812345678, datetime(2024, 3, 5), datetime(2024, 3, 5, 14, 30), 12000.5, 3.0, "１３８"],
        [1.3812345678e10, date(2024, 12, 31), None, 0.1, 10, "  留空格  "],
    ]
    table = TableFile.open(write_xlsx(tmp_path / "c.xlsx", rows), "c.xlsx")
    assert [r.cells for r in table.rows()] == [
        ["13812345678", "2024-03-05", "2024-03-05 14:30", "12000.5", "3", "１３８"],
        ["13812345678", "2024-12-31", "", "0.1", "10", "留空格"],
    ]


def test_cell_text_of_python_values() -> None:
    assert cell_text(13812345678.0) == "13812345678"
    assert cell_text(True) == "TRUE"
    assert cell_text(None) == ""
    assert cell_text(1e-5) == "0.00001"


def test_a_chosen_sheet_is_read_and_rows_are_estimated(tmp_path: Path) -> None:  # DATA-09
    import openpyxl

    path = tmp_path / "two.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "说明"
    workbook.active.append(["这是说明页"])
    second = workbook.create_sheet("客户")
    for row in [HEADER, ROW, ROW]:
        second.append(row)
    workbook.save(path)
    table = TableFile(path, "xlsx", sheet="客户")
    assert table.header() == HEADER
    assert table.estimate_rows() == 2
    assert TableFile.open(path, "two.xlsx").sheet_names() == ["说明", "客户"]
    streamed = write_xlsx(tmp_path / "s.xlsx", [HEADER] + [ROW] * 1234)  # no stated size
    assert TableFile.open(streamed, "s.xlsx").estimate_rows() == 1234
    csv_path = write_csv(tmp_path / "n.csv", [HEADER] + [ROW] * 7)
    assert TableFile.open(csv_path, "n.csv").estimate_rows() == 7


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0", ".xls"),
        ("notes.docx", b"PK\x03\x04", "only"),
        ("fake.xlsx", b"name,company\n", "xlsx"),
        ("book.csv", b"PK\x03\x04rest", "rename"),
    ],
)
def test_wrong_files_are_refused_clearly(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:  # DATA-09
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileRefused) as refused:
        TableFile.open(path, name)
    assert reason in str(refused.value).lower()
