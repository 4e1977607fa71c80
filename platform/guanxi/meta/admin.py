"""Admin changes without code (CORE-03/04/06/07/08): custom fields, modules, pipelines, layouts
and tags are stored as overlay rows; the DDL they need runs in the same transaction, and the
metadata version is bumped so every worker reloads."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import MetadataError
from guanxi.i18n import _
from guanxi.meta import tags as tag_store
from guanxi.meta.entity import CUSTOM_PREFIX, SYSTEM_FIELDS, EntityDef, FieldDef, Option
from guanxi.meta.field_types import FieldValueError
from guanxi.meta.loader import (
    CONSTRAINTS,
    LAYOUT,
    PIPELINE,
    build_field,
    check_document,
    field_extension_schema,
)
from guanxi.meta.registry import NUMBERING_KIND, Snapshot, bump_version
from guanxi.store.identifiers import check_entity_name, check_field_key
from guanxi.store.numbering import check_format
from guanxi.store.sync import SyncReport, ensure_columns, ensure_indexes
from guanxi.store.system_tables import (
    meta_entity,
    meta_field,
    meta_layout,
    meta_pipeline,
)
from guanxi.validation import EntityValidator

if TYPE_CHECKING:
    from guanxi.core import Guanxi

CHANGEABLE = frozenset(
    {
        "label",
        "required",
        "default",
        "options",
        "hidden",
        "position",
        "help",
        "section",
        "reason_required",
        "index",
        "search",
        "constraints",
        "settings",
    }
)


def as_label(label: Any) -> dict[str, str]:
    if isinstance(label, str):
        return {"zh-CN": label, "en": label}
    if isinstance(label, Mapping) and label.get("zh-CN"):
        return {str(k): str(v) for k, v in label.items()}
    raise MetadataError(_("A label needs at least a Chinese text"), field="label", code="bad_label")


def as_options(options: Sequence[Any]) -> list[dict[str, Any]]:
    normalized = []
    for option in options:
        if isinstance(option, str):
            normalized.append({"code": option, "label": {"zh-CN": option, "en": option}})
        elif isinstance(option, Mapping):
            normalized.append(
                {**option, "label": as_label(option.get("label", option.get("code", "")))}
            )
        else:
            raise MetadataError(
                _("Each option needs a code and a label"), field="options", code="bad_options"
            )
    codes = [o.get("code") for o in normalized]
    if len(set(codes)) != len(codes):
        raise MetadataError(_("Option codes must be unique"), field="options", code="bad_options")
    return normalized


class MetadataAdmin:
    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self.db = platform.db
        self.registry = platform.registry
        self.types = platform.types

    # -- fields ----------------------------------------------------------------------------

    def add_field(
        self, actor: Actor, entity_name: str, key: str, type: str, label: Any, **spec: Any
    ) -> FieldDef:
        """Add a custom field; it gets the `cf_` prefix and a real column at once."""
        check_field_key(key)
        key = key if key.startswith(CUSTOM_PREFIX) else CUSTOM_PREFIX + key
        check_field_key(key)
        definition = {**spec, "type": type, "label": as_label(label), "custom": True}
        if "options" in definition:
            definition["options"] = as_options(definition["options"])

        def write(connection: Connection, snapshot: Snapshot) -> None:
            entity = snapshot.entity(entity_name)
            if entity.get_field(key):
                raise MetadataError(
                    _("Field '{key}' already exists", key=key), field="key", code="exists"
                )
            if "position" not in definition:
                definition["position"] = (
                    max((f.position for f in entity.fields if not f.system), default=0) + 10
                )
            self._check_spec(snapshot, entity, key, definition)
            connection.execute(
                sa.insert(meta_field).values(
                    entity=entity.name, key=key, definition=definition, updated_at=clock.now_utc()
                )
            )

        return self._apply(actor, entity_name, write).entity(entity_name).field(key)

    def change_field(self, actor: Actor, entity_name: str, key: str, **changes: Any) -> FieldDef:
        """Relabel, make required/optional, set default or options, reorder, hide or show."""
        unknown = set(changes) - CHANGEABLE
        if unknown:
            raise MetadataError(
                _(
                    "These field settings cannot be changed: {names}",
                    names=", ".join(sorted(unknown)),
                ),
                code="not_changeable",
            )
        if "label" in changes:
            changes["label"] = as_label(changes["label"])
        if "options" in changes:
            changes["options"] = as_options(changes["options"])

        def write(connection: Connection, snapshot: Snapshot) -> None:
            self._patch_field(connection, snapshot, snapshot.entity(entity_name), key, changes)

        return self._apply(actor, entity_name, write).entity(entity_name).field(key)

    def hide_field(self, actor: Actor, entity_name: str, key: str) -> FieldDef:
        """Remove a field from use; its column and data stay (CORE-03)."""
        return self.change_field(actor, entity_name, key, hidden=True, required=False)

    def show_field(self, actor: Actor, entity_name: str, key: str) -> FieldDef:
        return self.change_field(actor, entity_name, key, hidden=False)

    def reorder_fields(self, actor: Actor, entity_name: str, keys: Sequence[str]) -> EntityDef:
        """Put fields in this order (one change, one version bump)."""

        def write(connection: Connection, snapshot: Snapshot) -> None:
            entity = snapshot.entity(entity_name)
            for position, key in enumerate(keys):
                self._patch_field(
                    connection, snapshot, entity, key, {"position": (position + 1) * 10}
                )

        return self._apply(actor, entity_name, write).entity(entity_name)

    def _patch_field(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        key: str,
        changes: Mapping[str, Any],
    ) -> None:
        """Merge `changes` into the overlay row of one field (creating the row if needed)."""
        field = entity.get_field(key)
        if field is None or (field.system and key != "number"):
            raise MetadataError(
                _("Unknown field '{key}'", key=key), field="key", code="unknown_field"
            )
        current = dict(snapshot.field_specs[entity.name].get(key, {}))
        self._check_spec(snapshot, entity, key, {**current, **changes})
        row = connection.execute(
            sa.select(meta_field.c.id, meta_field.c.definition).where(
                meta_field.c.entity == entity.name, meta_field.c.key == key
            )
        ).first()
        if row is None:
            connection.execute(
                sa.insert(meta_field).values(
                    entity=entity.name,
                    key=key,
                    definition=dict(changes),
                    updated_at=clock.now_utc(),
                )
            )
        else:
            connection.execute(
                sa.update(meta_field)
                .where(meta_field.c.id == row.id)
                .values(definition={**row.definition, **changes}, updated_at=clock.now_utc())
            )

    def _check_spec(
        self, snapshot: Snapshot, entity: EntityDef, key: str, spec: Mapping[str, Any]
    ) -> None:
        extension_keys = set(field_extension_schema([]).get("properties", {}))
        extension = {k: v for k, v in spec.items() if k in extension_keys}
        validator = Draft202012Validator(field_extension_schema(self.types.names()))
        for error in validator.iter_errors(extension):
            where = "/".join(map(str, error.absolute_path)) or "type"
            raise MetadataError(
                _("Invalid field setting {where}: {problem}", where=where, problem=error.message),
                field=key,
            )
        if spec["type"] in ("select", "multiselect") and not spec.get("options"):
            raise MetadataError(
                _("A select field needs options"), field="options", code="options_required"
            )
        if spec["type"] == "reference" and spec.get("reference") not in snapshot.entities:
            raise MetadataError(
                _("Choose the module this field refers to"), field="reference", code="bad_reference"
            )
        if spec["type"] in ("autonumber", "stage") and spec.get("custom"):
            raise MetadataError(
                _("This field type cannot be added as a custom field"),
                field="type",
                code="bad_type",
            )
        if spec["type"] == "tags" and any(f.type == "tags" and f.key != key for f in entity.fields):
            raise MetadataError(
                _("A module has at most one tags field"), field="type", code="bad_type"
            )
        if "constraints" in spec:
            problem = next(Draft202012Validator(CONSTRAINTS).iter_errors(spec["constraints"]), None)
            if problem is None and "pattern" in spec["constraints"]:
                try:
                    re.compile(spec["constraints"]["pattern"])
                except re.error as error:
                    problem = error
            if problem is not None:
                raise MetadataError(
                    _(
                        "Invalid field setting {where}: {problem}",
                        where="constraints",
                        problem=getattr(problem, "message", str(problem)),
                    ),
                    field="constraints",
                    code="bad_constraints",
                )
        if spec.get("search") and "contains" not in self.types.get(spec["type"]).operators:
            raise MetadataError(
                _("Only text fields can be searched"), field="search", code="bad_search"
            )
        if spec.get("default") is not None:
            field = build_field(key, {**spec, "position": 0})
            if key in entity.pipelines:  # a stage field's options are its pipeline's stages
                field = replace(
                    field,
                    options=tuple(
                        Option(s.code, dict(s.label)) for s in entity.pipelines[key].stages
                    ),
                )
            try:
                self.types.for_field(field).parse(spec["default"], field)
            except FieldValueError as error:
                raise MetadataError(error.message, field="default", code="bad_default") from None

    # -- entities --------------------------------------------------------------------------

    def create_entity(
        self,
        actor: Actor,
        name: str,
        label: Any,
        fields: Sequence[Mapping[str, Any]],
        *,
        title_field: str | None = None,
        number_format: str | None = None,
    ) -> EntityDef:
        """A custom module (CORE-04): a schema document stored in the overlay and a new table."""
        check_entity_name(name)
        properties: dict[str, Any] = {}
        required = []
        for spec in fields:
            spec = dict(spec)
            key = check_field_key(str(spec.pop("key", "")))
            if key in SYSTEM_FIELDS:
                raise MetadataError(
                    _("'{key}' is a system field", key=key), field="key", code="reserved_identifier"
                )
            if spec.pop("required", False):
                required.append(key)
            extension = {
                "type": spec.pop("type", "text"),
                "label": as_label(spec.pop("label", key)),
            }
            if "options" in spec:
                extension["options"] = as_options(spec.pop("options"))
            extension.update(
                {
                    k: spec.pop(k)
                    for k in list(spec)
                    if k
                    in (
                        "reference",
                        "index",
                        "unique",
                        "search",
                        "pipeline",
                        "on_delete",
                        "help",
                        "section",
                        "settings",
                        "reason_required",
                    )
                }
            )
            properties[key] = {**spec, "x-guanxi": extension}
        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": required,
            "properties": properties,
            "x-guanxi": {
                "entity": name,
                "label": as_label(label),
                "title_field": title_field or next(iter(properties), "number"),
                **({"number_format": number_format} if number_format else {}),
            },
        }
        problems = check_document(f"module {name}", document, self.types.names())
        if problems:
            raise MetadataError(
                _("The module definition is invalid: {problem}", problem=str(problems[0])),
                code="bad_module",
            )

        def write(connection: Connection, snapshot: Snapshot) -> None:
            if name in snapshot.entities:
                raise MetadataError(
                    _("Module '{name}' already exists", name=name), field="name", code="exists"
                )
            for key, prop in properties.items():
                target = prop["x-guanxi"].get("reference")
                if target and target not in snapshot.entities and target != name:
                    raise MetadataError(
                        _("Choose the module this field refers to"), field=key, code="bad_reference"
                    )
            connection.execute(
                sa.insert(meta_entity).values(
                    name=name, definition=document, created_at=clock.now_utc()
                )
            )

        return self._apply(actor, name, write).entity(name)

    # -- pipelines, layouts, tags ----------------------------------------------------------

    def set_pipeline(
        self,
        actor: Actor,
        entity_name: str,
        field_key: str,
        stages: Sequence[Mapping[str, Any]],
        *,
        reason_required: bool = False,
    ) -> EntityDef:
        """Replace the stages of a stage field (CORE-06): order, probability, rules."""
        if not isinstance(stages, list | tuple) or not all(isinstance(s, Mapping) for s in stages):
            raise MetadataError(
                _("Invalid stages: {problem}", problem="a list of stages"), field="stages"
            )
        definition = {
            "reason_required": reason_required,
            "stages": [{**s, "label": as_label(s.get("label", s.get("code")))} for s in stages],
        }
        errors = list(Draft202012Validator(PIPELINE).iter_errors(definition))
        if errors:
            raise MetadataError(
                _("Invalid stages: {problem}", problem=errors[0].message), field="stages"
            )

        def write(connection: Connection, snapshot: Snapshot) -> None:
            entity = snapshot.entity(entity_name)
            field = entity.get_field(field_key)
            if field is None or field.type != "stage":
                raise MetadataError(_("'{key}' is not a stage field", key=field_key), field="field")
            codes = [s["code"] for s in definition["stages"]]
            if len(set(codes)) != len(codes):
                raise MetadataError(_("Stage codes must be unique"), field="stages")
            for stage in definition["stages"]:
                for target in stage.get("transitions") or []:
                    if target not in codes:
                        raise MetadataError(
                            _("Unknown stage '{code}'", code=target), field="transitions"
                        )
                for required in stage.get("required_fields", []):
                    if not entity.get_field(required):
                        raise MetadataError(
                            _("Unknown field '{key}'", key=required), field="required_fields"
                        )
            now = clock.now_utc()
            connection.execute(
                sa.delete(meta_pipeline).where(
                    meta_pipeline.c.entity == entity.name, meta_pipeline.c.field == field_key
                )
            )
            connection.execute(
                sa.insert(meta_pipeline).values(
                    entity=entity.name, field=field_key, definition=definition, updated_at=now
                )
            )

        return self._apply(actor, entity_name, write).entity(entity_name)

    def set_layout(
        self, actor: Actor, entity_name: str, kind: str, definition: Mapping[str, Any]
    ) -> EntityDef:
        """Sections and field order for detail/form, related lists for detail (CORE-08)."""
        if kind not in ("detail", "form", "list"):
            raise MetadataError(_("A layout is for detail, form or list"), field="kind")
        problem = next(Draft202012Validator(LAYOUT).iter_errors(definition), None)
        if problem is not None:
            raise MetadataError(
                _(
                    "Invalid field setting {where}: {problem}",
                    where="layout",
                    problem=problem.message,
                ),
                field="layout",
            )

        def write(connection: Connection, snapshot: Snapshot) -> None:
            entity = snapshot.entity(entity_name)
            for section in definition.get("sections", []):
                for key in section.get("fields", []):
                    if not entity.get_field(key):
                        raise MetadataError(_("Unknown field '{key}'", key=key), field="sections")
            for related in definition.get("related", []):
                if related.get("entity") not in snapshot.entities:
                    raise MetadataError(
                        _("Unknown module '{name}'", name=related.get("entity")), field="related"
                    )
            _replace_layout_row(connection, entity.name, kind, definition)

        return self._apply(actor, entity_name, write).entity(entity_name)

    def set_number_format(self, actor: Actor, entity_name: str, number_format: str) -> EntityDef:
        """Change how new records of a module are numbered (CORE-05), e.g. "KH{yyyy}{seq:05d}".
        Existing numbers stay. The counter continues unless the new format shows a period:
        with {yyyy} (or {mm}, {dd}) it counts per period, as store/numbering.py does."""
        problems = check_format(number_format)
        if problems:
            raise MetadataError(
                _("Invalid number format: {problem}", problem="; ".join(problems)),
                field="number_format",
            )

        def write(connection: Connection, snapshot: Snapshot) -> None:
            entity = snapshot.entity(entity_name)
            _replace_layout_row(
                connection, entity.name, NUMBERING_KIND, {"number_format": number_format}
            )

        return self._apply(actor, entity_name, write).entity(entity_name)

    def add_tag_group(
        self,
        actor: Actor,
        entity_name: str,
        code: str,
        label: Any,
        *,
        kind: str = "attribute",
        exclusive: bool = False,
    ) -> int:
        """Tag groups (CORE-07): attribute tags (industry, size) or behaviour tags (purchases)."""
        self.platform.authorizer.check_admin(actor)
        entity = self.registry.get(entity_name)
        return tag_store.add_group(self.db, entity.name, code, as_label(label), kind, exclusive)

    def add_tag(
        self,
        actor: Actor,
        entity_name: str,
        group_code: str,
        code: str,
        label: Any,
        *,
        color: str | None = None,
    ) -> int:
        self.platform.authorizer.check_admin(actor)
        entity = self.registry.get(entity_name)
        return tag_store.add_tag(self.db, entity.name, group_code, code, as_label(label), color)

    def tags(self, entity_name: str) -> list[dict[str, Any]]:
        return tag_store.list_tags(self.db, self.registry.get(entity_name).name)

    def tag_groups(self, entity_name: str) -> list[dict[str, Any]]:
        return tag_store.list_groups(self.db, self.registry.get(entity_name).name)

    def change_tag(
        self, actor: Actor, entity_name: str, code: str, label: Any, *, color: str | None = None
    ) -> None:
        """Relabel or recolour a tag (CORE-07); tagged records keep it."""
        self.platform.authorizer.check_admin(actor)
        entity = self.registry.get(entity_name)
        tag_store.change_tag(self.db, entity.name, code, as_label(label), color)

    def remove_tag(self, actor: Actor, entity_name: str, code: str) -> int:
        """Delete a tag; it comes off every record that had it (returned: how many)."""
        self.platform.authorizer.check_admin(actor)
        entity = self.registry.get(entity_name)
        return tag_store.remove_tag(self.db, entity.name, code)

    # -- the one way overlay changes are applied -------------------------------------------

    def _apply(
        self, actor: Actor, entity_name: str, write: Callable[[Connection, Snapshot], None]
    ) -> Snapshot:
        self.platform.authorizer.check_admin(actor)
        report = SyncReport()
        with self.db.unit_of_work() as connection:
            # Bumping first locks the version row (PostgreSQL): admin edits run one at a time,
            # so two concurrent edits never read the same overlay and overwrite each other.
            version = bump_version(connection)
            write(connection, self.registry.load_uncommitted(connection, version))
            snapshot = self.registry.load_uncommitted(connection, version)
            try:  # the changed module must still compile into a validator
                EntityValidator(snapshot.entity(entity_name), self.types)
            except Exception as error:
                raise MetadataError(
                    _("The module definition is invalid: {problem}", problem=str(error)),
                    code="bad_module",
                ) from None
            table = snapshot.tables[entity_name]
            budget = self.platform.settings.column_budget
            if len(table.columns) > budget:
                raise MetadataError(
                    _(
                        "A module can have at most {budget} columns; hide or reuse fields instead",
                        budget=budget,
                    ),
                    code="column_budget",
                )
            ensure_columns(connection, table, report)
        ensure_indexes(self.db, table, report)
        self.registry.invalidate()
        return self.registry.snapshot()


def _replace_layout_row(
    connection: Connection, entity: str, kind: str, definition: Mapping[str, Any]
) -> None:
    """The one overlay row of this kind for the entity (layouts, numbering), replaced."""
    connection.execute(
        sa.delete(meta_layout).where(meta_layout.c.entity == entity, meta_layout.c.kind == kind)
    )
    connection.execute(
        sa.insert(meta_layout).values(
            entity=entity, kind=kind, definition=dict(definition), updated_at=clock.now_utc()
        )
    )
