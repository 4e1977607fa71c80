"""The permission vocabulary: module and field actions, scope kinds, entity rules, and what
plugins contribute through the `register_actions` hook (actions, roles, default grants)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi.i18n import _

MODULE_ACTIONS = (
    "view",
    "create",
    "edit",
    "delete",
    "import",
    "export",
    "assign",
    "approve_delete",
)
FIELD_ACTIONS = ("read", "write", "mask")
EFFECTS = ("allow", "deny")
# Actions whose record scope is checked, and the scope each of them uses.
SCOPED_ACTION = {
    "view": "view",
    "export": "view",
    "edit": "edit",
    "delete": "delete",
    "binned": "view",  # reading the recycle bin: the records one could see before
    "restore": "delete",  # taking them out again: the records one could delete
    "purge": "delete",
}
SCOPE_KINDS = ("all", "own", "team", "department", "department_tree", "none")
SCOPE_PREFIXES = ("via:", "filter:")
DELETE_RULES = ("allowed", "approval", "admin_only")
ADMIN_ROLE = "admin"
USER_PREFIX = "user:"


@dataclass
class Contribution:
    """What one plugin adds: extra actions per entity ("*" for all), roles with labels,
    default grants (p rows), scopes (p2 rows), role inheritance and entity rules."""

    plugin: str
    actions: dict[str, list[str]] = field(default_factory=dict)
    roles: dict[str, dict[str, str]] = field(default_factory=dict)
    grants: list[tuple[str, ...]] = field(default_factory=list)
    scopes: list[tuple[str, ...]] = field(default_factory=list)
    inherits: list[tuple[str, str]] = field(default_factory=list)
    rules: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, plugin: str, raw: Mapping[str, Any]) -> Contribution:
        """Accept the plain dict a plugin returns; rows are padded with the allow effect."""
        if not isinstance(raw, Mapping):
            raise ValueError("register_actions must return a dict")
        unknown = set(raw) - {"actions", "roles", "grants", "scopes", "inherits", "rules"}
        if unknown:
            raise ValueError(f"register_actions: unknown key(s) {sorted(unknown)}")

        def rows(key: str, size: int, default_tail: tuple[str, ...]) -> list[tuple[str, ...]]:
            out = []
            for row in raw.get(key, []):
                values = tuple(str(v) for v in row)
                if len(values) < size - len(default_tail) or len(values) > size:
                    raise ValueError(f"register_actions: {key} row {list(row)} has wrong length")
                out.append(values + default_tail[len(default_tail) - (size - len(values)) :])
            return out

        return cls(
            plugin=plugin,
            actions={str(k): [str(a) for a in v] for k, v in raw.get("actions", {}).items()},
            roles={str(k): dict(v) for k, v in raw.get("roles", {}).items()},
            grants=rows("grants", 4, ("allow",)),
            scopes=rows("scopes", 5, ("allow",)),
            inherits=[(str(a), str(b)) for a, b in raw.get("inherits", [])],
            rules=[(str(a), str(b), str(c)) for a, b, c in raw.get("rules", [])],
        )


def scope_text(scope: str) -> str:
    """Canonical stored form of a scope: filter JSON without spaces so equal scopes match."""
    if scope.startswith("filter:"):
        try:
            return "filter:" + json.dumps(
                json.loads(scope[len("filter:") :]), ensure_ascii=False, separators=(",", ":")
            )
        except ValueError:
            return scope
    return scope


# How the permission words read on screens (admin matrix, explain); plugin actions without a
# label show their code.
TERMS = {
    "view": _("View"),
    "create": _("Create"),
    "edit": _("Edit"),
    "delete": _("Delete"),
    "import": _("Import"),
    "export": _("Export"),
    "assign": _("Assign"),
    "approve_delete": _("Approve deletion"),
    "read": _("Read"),
    "write": _("Write"),
    "mask": _("Masked"),
    "allow": _("allow"),
    "deny": _("deny"),
    "all": _("All records"),
    "none": _("No records"),
    "own": _("Own records"),
    "team": _("Team's records"),
    "department": _("Own department"),
    "department_tree": _("Own department and sub-departments"),
    "*": _("every action"),
}


def term(code: str, locale: str) -> str:
    """The label of a permission word, e.g. "department_tree" -> 本部门及下级部门."""
    found = TERMS.get(code)
    if found is not None:
        return found.render(locale)
    if code.startswith("via:"):
        return _("Records of my {field}", field=code[4:]).render(locale)
    if code.startswith("filter:"):
        return _("Records matching {condition}", condition=code[7:]).render(locale)
    return code
