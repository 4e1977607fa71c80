"""Fields a plugin adds to another module's schema (the `extend_schemas` hook): the SFA plugin
puts a `lead` reference on follow-ups and tasks and pool fields on customers, so those modules
stay ordinary schemas that admins keep editing, and switching the plugin off removes the fields
from the screens again (their columns stay: sync never drops)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

KEYS = {"entity", "properties", "optional", "indexes", "related", "sections"}


class ExtensionError(ValueError):
    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        super().__init__(reason)


def apply_extensions(
    documents: list[tuple[str, Any]], extensions: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[tuple[str, Any]]:
    """The documents with each (plugin name, extension) merged into its entity's document (a
    copy). An extension may add properties (never replace one), lift `required` from named fields (the
    plugin then enforces its own rule in validate_record), add indexes, related lists of the
    detail page and detail sections. Problems raise ExtensionError naming the plugin."""
    by_entity: dict[str, int] = {}
    merged = list(documents)
    for position, (_source, document) in enumerate(merged):
        if isinstance(document, Mapping) and isinstance(document.get("x-guanxi"), Mapping):
            by_entity[str(document["x-guanxi"].get("entity"))] = position
    for source, extension in extensions:
        unknown = set(extension) - KEYS
        if unknown:
            raise ExtensionError(source, f"extends with unknown keys {sorted(unknown)}")
        name = str(extension.get("entity"))
        if name not in by_entity:
            raise ExtensionError(source, f"no module '{name}' to extend")
        position = by_entity[name]
        doc_source, document = merged[position]
        document = copy.deepcopy(document)
        properties = document.setdefault("properties", {})
        for key, spec in (extension.get("properties") or {}).items():
            if key in properties:
                raise ExtensionError(source, f"cannot add '{name}.{key}': it exists already")
            properties[key] = copy.deepcopy(spec)
        lifted = set(extension.get("optional") or ())
        if lifted:
            document["required"] = [k for k in document.get("required", []) if k not in lifted]
        meta = document.setdefault("x-guanxi", {})
        if extension.get("indexes"):
            meta["indexes"] = [*meta.get("indexes", []), *extension["indexes"]]
        detail = meta.setdefault("layouts", {}).setdefault("detail", {})
        if extension.get("sections"):
            detail["sections"] = [*detail.get("sections", []), *extension["sections"]]
        if extension.get("related"):
            detail["related"] = [*detail.get("related", []), *extension["related"]]
        merged[position] = (f"{doc_source} + {source}", document)
    return merged
