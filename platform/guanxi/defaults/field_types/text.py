"""Text-like types: text, long text, phone, email, URL, auto-number."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import sqlalchemy as sa

from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.meta.field_types import (
    EQUALITY_OPS,
    MASK,
    TEXT_OPS,
    FieldType,
    FieldValueError,
    mask_text,
)


def normalize_text(value: Any) -> str:
    """Full-width to half-width (NFKC) and trimmed: what Chinese keyboards and Excel produce."""
    return unicodedata.normalize("NFKC", str(value)).strip()


class TextType(FieldType):
    name = "text"
    operators = TEXT_OPS
    label = {"zh-CN": "单行文本", "en": "Text"}

    def mask(self, value: Any) -> Any:
        """Names and other text keep their first character: "张**" tells whom, not what."""
        return mask_text(value, 1, 0) if isinstance(value, str) and value else value

    def max_length(self, field: FieldDef) -> int:
        return int(field.constraints.get("maxLength", 255))

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(self.max_length(field))

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": self.max_length(field)}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None:
            return None
        if isinstance(value, dict | list):
            raise FieldValueError("type", _("Must be text"))
        text = str(value).strip()
        if "\x00" in text:  # PostgreSQL text cannot hold NUL; SQLite would truncate at it
            raise FieldValueError("type", _("Must be text"))
        return text or None


class LongTextType(TextType):
    name = "longtext"
    widget = "textarea"
    operators = (*EQUALITY_OPS[-2:], "contains", "not_contains")
    sortable = False
    label = {"zh-CN": "多行文本", "en": "Long text"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Text()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": ["string", "null"],
            "maxLength": int(field.constraints.get("maxLength", 20000)),
        }


MOBILE_CN = re.compile(r"^1[3-9]\d{9}$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class PhoneType(TextType):
    """CN mobile (1[3-9] + 9 digits) or E.164; spaces, dashes, +86 and full-width digits accepted."""

    name = "phone"
    widget = "phone"
    label = {"zh-CN": "手机号", "en": "Phone"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(20)

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "pattern": r"^(1[3-9]\d{9}|\+[1-9]\d{6,14})$"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        text = re.sub(r"[\s\-()（）.]", "", normalize_text(value))
        if text.startswith("+86"):
            text = text[3:]
        elif text.startswith("0086"):
            text = text[4:]
        elif text.startswith("86") and len(text) == 13:
            text = text[2:]
        if MOBILE_CN.match(text) or E164.match(text):
            return text
        raise FieldValueError(
            "phone", _("A mobile number has 11 digits starting with 13-19 (or +country code)")
        )

    def mask(self, value: Any) -> Any:
        return mask_text(value, 3, 4) if isinstance(value, str) and value else value

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value and MOBILE_CN.match(value):
            return f"{value[:3]} {value[3:7]} {value[7:]}"
        return value or ""


class EmailType(TextType):
    name = "email"
    widget = "email"
    label = {"zh-CN": "邮箱", "en": "Email"}
    _PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    def max_length(self, field: FieldDef) -> int:
        return 254

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": 254, "format": "email"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        text = normalize_text(value).replace("＠", "@")
        if not self._PATTERN.match(text):
            raise FieldValueError("email", _("Must be an email address such as name@example.com"))
        local, domain = text.rsplit("@", 1)
        return f"{local}@{domain.lower()}"

    def mask(self, value: Any) -> Any:
        if not isinstance(value, str) or "@" not in value:
            return super().mask(value)
        local, domain = value.rsplit("@", 1)
        return f"{local[:1]}{MASK}@{domain}"


class UrlType(TextType):
    name = "url"
    widget = "url"
    label = {"zh-CN": "网址", "en": "URL"}

    def max_length(self, field: FieldDef) -> int:
        return 2048

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": 2048, "format": "uri"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        text = normalize_text(value)
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
            text = "https://" + text
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", text):
            raise FieldValueError("url", _("Must be a web address such as https://example.com"))
        return text


class AutoNumberType(TextType):
    """A human-readable number assigned on create (store/numbering.py); never typed in."""

    name = "autonumber"
    widget = "readonly"
    label = {"zh-CN": "自动编号", "en": "Auto number"}

    def max_length(self, field: FieldDef) -> int:
        return 40
