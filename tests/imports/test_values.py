"""Cell values as imports meet them (DATA-09): the field types' parsing (the same for forms
and the API) accepts what Chinese spreadsheets hold, and the mapping matches headers."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from guanxi.defaults.field_types import DateTimeType, DateType, PhoneType, SelectType
from guanxi.errors import ValidationFailed
from guanxi.imports.mapping import auto_map, check_mapping, normalize_header
from guanxi.meta.entity import FieldDef, Option

SOURCE = FieldDef(
    "source",
    "select",
    {"zh-CN": "线索来源", "en": "Source"},
    required=True,
    options=(
        Option("website", {"zh-CN": "官网", "en": "Website"}),
        Option("cold_call", {"zh-CN": "电话开发", "en": "Cold call"}),
    ),
)
NAME = FieldDef("name", "text", {"zh-CN": "客户名称", "en": "Name"}, required=True)
MOBILE = FieldDef("mobile", "phone", {"zh-CN": "手机号", "en": "Mobile"})


@pytest.mark.parametrize(
    "text",
    [
        "2024/3/5",
        "2024-03-05",
        "2024年3月5日",
        "2024年3月5号",
        "２０２４－０３－０５",
        "2024.3.5",
        "20240305",
        "2024-03-05 00:00:00",
    ],
)
def test_date_forms(text: str) -> None:  # DATA-09
    assert DateType().parse(text, FieldDef("d", "date", {})) == date(2024, 3, 5)


@pytest.mark.parametrize(
    "text",
    [
        "2024/3/5 14:30",
        "2024/3/5 14:30:00",
        "2024年3月5日 14:30",
        "2024年3月5日14时30分",
        "2024-3-5 14:30:00",
        "２０２４年３月５日 １４:３０",
    ],
)
def test_datetime_forms(text: str) -> None:  # DATA-09
    moment = DateTimeType().parse(text, FieldDef("t", "datetime", {}))
    assert moment == DateTimeType().parse("2024-03-05T14:30", FieldDef("t", "datetime", {}))
    assert isinstance(moment, datetime)


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "１３８１２３４５６７８",
        "(+86) 138-1234-5678",
    ],
)
def test_mobile_forms(text: str) -> None:  # DATA-09
    assert PhoneType().parse(text, MOBILE) == "13812345678"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("官网", "website"),
        ("Website", "website"),
        ("WEBSITE", "website"),
        ("website", "website"),
        ("Cold call", "cold_call"),
        ("cold  CALL", "cold_call"),
        ("电话开发", "cold_call"),
        ("ｗｅｂｓｉｔｅ", "website"),
    ],
)
def test_option_labels_in_either_language(text: str, code: str) -> None:  # DATA-09
    assert SelectType().parse(text, SOURCE) == code


def test_headers_map_by_label_key_or_both_labels() -> None:  # DATA-09
    assert normalize_header(" 客户名称 * ") == "客户名称"
    assert normalize_header("ＮＡＭＥ") == "name"
    headers = ["Name", "线索来源 / Source*", "mobile", "手机号", "其他"]
    assert auto_map(headers, [NAME, SOURCE, MOBILE]) == ["name", "source", "mobile", None, None]
    saved = {"手机号": "mobile", "mobile": ""}  # the user's choices win
    assert auto_map(headers, [NAME, SOURCE, MOBILE], saved) == [
        "name",
        "source",
        None,
        "mobile",
        None,
    ]


def test_a_mapping_fills_each_field_once() -> None:  # DATA-09
    with pytest.raises(ValidationFailed):
        check_mapping(["a", "b"], ["name", "name"], [NAME])
    with pytest.raises(ValidationFailed):
        check_mapping(["a", "b"], [None, None], [NAME])
    assert check_mapping(["a", "b"], ["name", ""], [NAME]) == ["name", None]
