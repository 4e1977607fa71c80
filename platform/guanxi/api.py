"""The stable facade plugins import: hook markers, the actor, errors, events and messages.

Plugins should import from here, not from internal modules, so the core can change freely.
"""

from guanxi.actor import Actor
from guanxi.errors import (
    ConflictError,
    FieldError,
    GuanxiError,
    LockedError,
    NotFound,
    PermissionDenied,
    QueryError,
    ValidationFailed,
)
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl
from guanxi.i18n import Message, _, add_catalog, add_translations
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldType, FieldValueError

__all__ = [
    "Actor",
    "ConflictError",
    "EntityDef",
    "FieldDef",
    "FieldError",
    "FieldType",
    "FieldValueError",
    "GuanxiError",
    "LockedError",
    "Message",
    "NotFound",
    "PermissionDenied",
    "QueryError",
    "RecordEvent",
    "ValidationFailed",
    "_",
    "add_catalog",
    "add_translations",
    "hookimpl",
]
