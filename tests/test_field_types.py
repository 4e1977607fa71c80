"""Field types (CORE-02) parse what people type, Excel exports and APIs send."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from guanxi.defaults.field_types import BUILTIN_TYPES
from guanxi.meta.entity import FieldDef, Option
from guanxi.meta.field_types import FieldValueError

TYPES = {t.name: t for t in BUILTIN_TYPES}


def field(type_: str, **kwargs) -> FieldDef:
    return FieldDef(key="f", type=type_, label={"zh-CN": "字段", "en": "Field"}, **kwargs)


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("phone", "138 1234 5678", "13812345678"),
        ("phone", "+86-138-1234-5678", "13812345678"),
        ("phone", "１３８１２３４５６７８", "13812345678"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("date", "2024/3/5", date(2024, 3, 5)),
        ("date", "2024年3月5日", date(2024, 3, 5)),
        ("date", "2024-03-05", date(2024, 3, 5)),
        ("date", "20240305", date(2024, 3, 5)),
        ("datetime", "2024-03-05T06:30:00Z", datetime(2024, 3, 5, 6, 30)),
        ("datetime", "2024-03-05 14:30", datetime(2024, 3, 5, 6, 30)),  # Beijing time -> UTC
        ("money", "¥1,234.5", Decimal("1234.50")),
        ("money", "１２００元", Decimal("1200.00")),
        ("percent", "35.5%", Decimal("35.50")),
        ("integer", "1,000", 1000),
        ("boolean", "是", True),
        ("boolean", "否", False),
        ("boolean", "yes", True),
        ("email", "Zhang@Example.COM", "Zhang@example.com"),
        ("url", "example.cn/path", "https://example.cn/path"),
        ("rating", "4", 4),
        ("reference", "12", 12),
        ("tags", "vip，erp、vip", ["erp", "vip"]),
    ],
)
def test_parse_accepts_common_input(type_, raw, expected):
    assert TYPES[type_].parse(raw, field(type_)) == expected


@pytest.mark.parametrize(
    ("type_", "raw"),
    [
        ("phone", "12345678901"),
        ("phone", "1381234567"),
        ("date", "2024-02-30"),
        ("date", "next week"),
        ("integer", "1.5"),
        ("money", "abc"),
        ("boolean", "maybe"),
        ("email", "no-at-sign"),
        ("reference", "0"),
        ("url", "not a url"),
        ("datetime", "yesterday"),
    ],
)
def test_parse_refuses_bad_input_with_a_message(type_, raw):
    with pytest.raises(FieldValueError) as caught:
        TYPES[type_].parse(raw, field(type_))
    assert caught.value.message.render("zh-CN") != caught.value.message.render("en")


def test_select_accepts_codes_and_labels_in_both_languages():
    select = field("select", options=(Option("vip", {"zh-CN": "重要", "en": "Important"}),))
    assert TYPES["select"].parse("重要", select) == "vip"
    assert TYPES["select"].parse("Important", select) == "vip"
    assert TYPES["select"].format("vip", select, "en") == "Important"
    with pytest.raises(FieldValueError):
        TYPES["select"].parse("其他", select)


def test_formatting_in_chinese_and_english():
    assert TYPES["money"].format(Decimal("1234.5"), field("money"), "zh-CN") == "¥1,234.50"
    assert TYPES["date"].format(date(2024, 3, 5), field("date"), "zh-CN") == "2024年3月5日"
    assert TYPES["date"].format(date(2024, 3, 5), field("date"), "en") == "2024-03-05"
    assert TYPES["phone"].format("13812345678", field("phone")) == "138 1234 5678"
    assert TYPES["rating"].format(3, field("rating")) == "★★★☆☆"


def test_every_type_declares_its_parts():
    required = {
        "text",
        "longtext",
        "integer",
        "decimal",
        "money",
        "percent",
        "boolean",
        "date",
        "datetime",
        "select",
        "multiselect",
        "phone",
        "email",
        "url",
        "reference",
        "user",
        "autonumber",
        "stage",
        "tags",
        "rating",
    }
    assert required <= set(TYPES)
    for field_type in BUILTIN_TYPES:
        assert field_type.widget and field_type.operators and field_type.label["zh-CN"]
        if field_type.stored_in_column:
            assert field_type.column_type(field(field_type.name)) is not None
