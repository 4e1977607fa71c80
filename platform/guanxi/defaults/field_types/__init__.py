"""Built-in field types, registered through the same hook third-party types use."""

from __future__ import annotations

from guanxi.defaults.field_types.choices import (
    BooleanType,
    MultiSelectType,
    SelectType,
    StageType,
    TagsType,
)
from guanxi.defaults.field_types.dates import DateTimeType, DateType, parse_date_text
from guanxi.defaults.field_types.numbers import (
    DecimalType,
    IntegerType,
    MoneyType,
    PercentType,
    RatingType,
)
from guanxi.defaults.field_types.references import DepartmentType, ReferenceType, UserType
from guanxi.defaults.field_types.text import (
    AutoNumberType,
    EmailType,
    LongTextType,
    PhoneType,
    TextType,
    UrlType,
    normalize_text,
)
from guanxi.hookspecs import hookimpl
from guanxi.meta.field_types import FieldType

BUILTIN_TYPES: tuple[FieldType, ...] = (
    TextType(),
    LongTextType(),
    IntegerType(),
    DecimalType(),
    MoneyType(),
    PercentType(),
    BooleanType(),
    DateType(),
    DateTimeType(),
    SelectType(),
    MultiSelectType(),
    PhoneType(),
    EmailType(),
    UrlType(),
    ReferenceType(),
    UserType(),
    DepartmentType(),
    AutoNumberType(),
    StageType(),
    RatingType(),
    TagsType(),
)


@hookimpl
@hookimpl
def register_field_types() -> list[FieldType]:
    return list(BUILTIN_TYPES)


__all__ = ["BUILTIN_TYPES", "normalize_text", "parse_date_text"]
