"""What the metadata admin screens share: the admin check, the module page's tabs, reading
repeated form rows (options, stages, sections) and turning service errors into per-field text."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.responses import Response

from guanxi.errors import GuanxiError
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web.screen import Screen

# Colours offered for options, stages and tags: the theme's calm palette, never free CSS.
PALETTE = (
    ("#2f6bff", "Blue"),
    ("#14a9c4", "Cyan"),
    ("#2ea121", "Green"),
    ("#de7802", "Orange"),
    ("#d83931", "Red"),
    ("#7f3bf5", "Purple"),
    ("#8f959e", "Grey"),
)
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")
ROW_KEY = re.compile(r"^(?P<prefix>[a-z]+)-(?P<index>\d{1,4})-(?P<name>[a-z_]+)$")
TABS = ("fields", "layout", "stages", "tags", "numbering")

Errors = dict[str, list[str]]


def admin_entity(s: Screen) -> EntityDef:
    """Refuse non-admins first (403), then the module named in the path (404 if unknown)."""
    s.platform.authorizer.check_admin(s.actor)
    return s.platform.registry.get(str(s.path_params["entity"]))


def render_tab(
    s: Screen, entity: EntityDef, tab: str, template: str, *, status: int = 200, **context: Any
) -> Response:
    tab_labels = {
        "fields": s.t("Fields"),
        "layout": s.t("Layout"),
        "stages": s.t("Stages"),
        "tags": s.t("Tags"),
        "numbering": s.t("Numbering"),
    }
    base = f"/admin/modules/{entity.name}"
    tabs = [
        (code, tab_labels[code], base if code == "fields" else f"{base}/{code}") for code in TABS
    ]
    return s.render(
        template, status=status, entity=entity, tab=tab, tabs=tabs, palette=palette(s), **context
    )


def palette(s: Screen) -> list[tuple[str, str]]:
    return [(code, s.t(name)) for code, name in PALETTE]


def error_map(
    error: GuanxiError, locale: str, *, rename: Mapping[str, str] | None = None
) -> Errors:
    """Service errors by the form field they belong to; `rename` maps service names to ours."""
    found: Errors = {}
    for field_error in error.errors:
        key = (rename or {}).get(field_error.field or "", field_error.field or "")
        found.setdefault(key, []).append(field_error.message.render(locale))
    return found


def general(errors: Errors, shown: Iterable[str]) -> list[str]:
    """Messages for which the form has no field of their own: shown above the form."""
    keys = set(shown)
    return [m for key, messages in errors.items() if key not in keys for m in messages]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def label_of(form: FormData, prefix: str) -> dict[str, str]:
    """{"zh-CN": .., "en": ..} from `<prefix>_zh` / `<prefix>_en` (an empty English is left out)."""
    label = {"zh-CN": text(form, f"{prefix}_zh")}
    english = text(form, f"{prefix}_en")
    if english:
        label["en"] = english
    return label


def rows(form: FormData, prefix: str) -> list[dict[str, Any]]:
    """Repeated rows named `<prefix>-<n>-<name>`, in the order of n. Each value is a string, or
    a list for names that occur more than once (checkbox groups). A row the admin emptied (no
    code) is dropped: that is how a row is removed without JavaScript."""
    by_index: dict[int, dict[str, Any]] = {}
    for key in form:
        match = ROW_KEY.match(key)
        if not match or match["prefix"] != prefix:
            continue
        values = [v.strip() for v in form.getlist(key) if isinstance(v, str)]
        row = by_index.setdefault(int(match["index"]), {})
        row[match["name"]] = values if len(values) != 1 else values[0]
    return [row for _i, row in sorted(by_index.items()) if row.get("code")]


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [v for v in value if v] if isinstance(value, list) else [value]


def color_of(value: Any, s: Screen, errors: Errors, where: str) -> str | None:
    """A colour is a hex value or nothing: it ends up in a style attribute, so nothing else."""
    if not value:
        return None
    if isinstance(value, str) and HEX_COLOR.match(value):
        return value
    errors.setdefault(where, []).append(s.t("Choose a colour from the list"))
    return None


def fingerprint(value: Any) -> str:
    """A short digest of what an editor showed, to refuse saving over someone else's change."""
    encoded = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def field_source(field: FieldDef) -> str:
    if field.system:
        return "system"
    return "custom" if field.custom else "file"


def user_fields(entity: EntityDef) -> list[FieldDef]:
    """Every non-system field (hidden ones too), in position order: what admins arrange."""
    return sorted((f for f in entity.fields if not f.system), key=lambda f: (f.position, f.key))
