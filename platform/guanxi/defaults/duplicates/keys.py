"""Match keys of duplicate rules (DATA-07): normalized values, hashed with the blind-index key.

"北京 华为技术（中国）有限公司" and "北京华为技术" normalize alike; the key table holds only
keyed hashes, so it reveals no mobile number either (DATA-12).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from guanxi.crypto.cipher import Cipher
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry

METHODS = ("exact", "normalized")
# Longest first, so "股份有限公司" is not cut down to "股份" by "有限公司".
LEGAL_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "总公司",
    "分公司",
    "公司",
    "co.,ltd.",
    "co.,ltd",
    "co.ltd.",
    "co.ltd",
    "company limited",
    "limited",
    "ltd.",
    "ltd",
    "inc.",
    "inc",
    "corp.",
    "corp",
)
REGION_MARKS = re.compile(r"\((中国|china|中国大陆|大陆)\)")
SPACES = re.compile(r"\s+")
PUNCTUATION = re.compile(r"[·•,，.。、'\"“”‘’\-_/]+$")


def normalize_company(text: str) -> str:
    """Full-width to half-width, no spaces, case-folded, "(中国)" and legal suffixes removed."""
    value = unicodedata.normalize("NFKC", text).casefold()
    value = SPACES.sub("", value)
    value = REGION_MARKS.sub("", value)
    changed = True
    while changed and value:
        changed = False
        for suffix in LEGAL_SUFFIXES:
            compact = suffix.replace(" ", "")
            if value.endswith(compact) and len(value) > len(compact):
                value = PUNCTUATION.sub("", value[: -len(compact)])
                changed = True
                break
    return value


def normalized_part(
    types: FieldTypeRegistry, entity: EntityDef, key: str, method: str, value: Any
) -> str | None:
    if value is None or value == "" or value == []:
        return None
    field = entity.get_field(key)
    if field is None:
        return None
    if method == "normalized" and field.type in ("text", "longtext"):
        text = normalize_company(str(value))
    else:
        text = types.for_field(field).match_text(value)
    return text or None


def match_text(
    types: FieldTypeRegistry,
    entity: EntityDef,
    fields: Sequence[str],
    methods: Sequence[str],
    record: Mapping[str, Any],
) -> str | None:
    """The rule's fields of `record` joined in order; None when any of them is empty."""
    parts = []
    for key, method in zip(fields, methods, strict=True):
        part = normalized_part(types, entity, key, method, record.get(key))
        if part is None:
            return None
        parts.append(part)
    return "\x1f".join(parts)


def context(rule_id: int) -> str:
    return f"duplicate rule {rule_id}"


def key_of(cipher: Cipher, rule_id: int, text: str) -> str:
    return cipher.blind(text, context(rule_id))


def keys_of(cipher: Cipher, rule_id: int, text: str) -> list[str]:
    """Under every key of the ring: a lookup during a key rotation still matches."""
    return cipher.blinds(text, context(rule_id))
