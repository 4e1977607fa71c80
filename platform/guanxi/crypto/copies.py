"""Copies of sensitive values kept outside their column (history diffs, stored payloads) are
sealed too: reading any table of the database shows no plain mobile number (DATA-12)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from guanxi.crypto.cipher import Cipher, is_sealed
from guanxi.crypto.columns import is_sealable
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry


def sealed_keys(entity: EntityDef, types: FieldTypeRegistry) -> frozenset[str]:
    return frozenset(f.key for f in entity.fields if f.sensitive and is_sealable(f, types))


def _context(entity: str, key: str) -> str:
    return f"history:{entity}.{key}"


def seal_value(cipher: Cipher, value: Any, context: str) -> Any:
    if value is None:
        return None
    return cipher.seal(json.dumps(value, ensure_ascii=False), context)


def open_value(cipher: Cipher, value: Any, context: str) -> Any:
    if not is_sealed(value):
        return value
    return json.loads(cipher.open(value, context))


def seal_changes(
    cipher: Cipher, entity: str, keys: frozenset[str], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """{field: [old, new]} with the values of `keys` sealed."""
    return {
        key: [seal_value(cipher, v, _context(entity, key)) for v in pair] if key in keys else pair
        for key, pair in changes.items()
    }


def open_changes(cipher: Cipher, entity: str, changes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not changes:
        return dict(changes or {})
    return {
        key: [open_value(cipher, v, _context(entity, key)) for v in pair]
        if isinstance(pair, list)
        else pair
        for key, pair in changes.items()
    }
