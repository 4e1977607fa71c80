"""Schema documents (files and plugins) -> checked field specs -> EntityDef.

A document is JSON Schema 2020-12 plus `x-guanxi` keywords; it is checked against the
meta-schema below and every problem is reported with its source and JSON pointer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from guanxi.errors import SchemaProblem
from guanxi.meta.entity import (
    CUSTOM_PREFIX,
    SYSTEM_FIELDS,
    EntityDef,
    FieldDef,
    Option,
    Pipeline,
    Stage,
)
from guanxi.store.identifiers import ENTITY_NAME, FIELD_KEY, RESERVED
from guanxi.store.numbering import check_format

LABEL = {
    "type": "object",
    "properties": {"zh-CN": {"type": "string", "minLength": 1}, "en": {"type": "string"}},
    "required": ["zh-CN"],
    "additionalProperties": {"type": "string"},
}
OPTION = {
    "type": "object",
    "properties": {
        # Codes may be Chinese; they are stored as "|a|b|" for multi-selects, so no separators.
        "code": {"type": "string", "pattern": r"^[^|,;，、；\s]{1,64}$"},
        "label": LABEL,
        "color": {"type": "string"},
    },
    "required": ["code", "label"],
    "additionalProperties": False,
}
STAGE = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,64}$"},
        "label": LABEL,
        "probability": {"type": "integer", "minimum": 0, "maximum": 100},
        "category": {"enum": ["open", "won", "lost"]},
        "required_fields": {"type": "array", "items": {"type": "string"}},
        "reason_required": {"type": "boolean"},
        "transitions": {"type": ["array", "null"], "items": {"type": "string"}},
        "stale_days": {"type": ["integer", "null"], "minimum": 1},
        "color": {"type": "string"},
    },
    "required": ["code", "label"],
    "additionalProperties": False,
}
CONSTRAINTS = {
    "type": "object",
    "properties": {
        "maxLength": {"type": "integer", "minimum": 1, "maximum": 100000},
        "minLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string", "maxLength": 500},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "exclusiveMinimum": {"type": "number"},
        "exclusiveMaximum": {"type": "number"},
        "multipleOf": {"type": "number", "exclusiveMinimum": 0},
        "maxItems": {"type": "integer", "minimum": 0},
        "minItems": {"type": "integer", "minimum": 0},
        "format": {"enum": ["email", "uri", "date", "date-time"]},
    },
    "additionalProperties": False,
}
LAYOUT = {
    "type": "object",
    "properties": {
        "sections": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "label": {"type": ["string", "object"]},
                    "fields": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "related": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"entity": {"type": "string"}, "field": {"type": "string"}},
                "required": ["entity"],
            },
        },
        "columns": {"type": "array", "items": {"type": "string"}},
    },
}
PIPELINE = {
    "type": "object",
    "properties": {
        "reason_required": {"type": "boolean"},
        "stages": {"type": "array", "items": STAGE, "minItems": 1},
    },
    "required": ["stages"],
    "additionalProperties": False,
}


def field_extension_schema(type_names: Iterable[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "type": {"enum": sorted(type_names)},
            "label": LABEL,
            "help": LABEL,
            "index": {"type": "boolean"},
            "unique": {"type": "boolean"},
            "sensitive": {"type": "boolean"},
            "search": {"type": "boolean"},
            "readonly": {"type": "boolean"},
            "section": {"type": "string"},
            "reference": {"type": "string", "pattern": ENTITY_NAME.pattern},
            "on_delete": {"enum": ["restrict", "cascade", "set_null"]},
            "options": {"type": "array", "items": OPTION},
            "reason_required": {"type": "boolean"},
            "number_format": {"type": "string"},
            "settings": {"type": "object"},
            "pipeline": PIPELINE,
        },
        "required": ["type", "label"],
        "additionalProperties": False,
    }


def meta_schema(type_names: Iterable[str]) -> dict[str, Any]:
    """The schema every entity document must satisfy, given the registered field types."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "$schema": {"const": "https://json-schema.org/draft/2020-12/schema"},
            "$id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "type": {"const": "object"},
            "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "properties": {
                "type": "object",
                "propertyNames": {"pattern": FIELD_KEY.pattern},
                "additionalProperties": {
                    "type": "object",
                    "properties": {"x-guanxi": field_extension_schema(type_names)},
                    "required": ["x-guanxi"],
                },
            },
            "x-guanxi": {
                "type": "object",
                "properties": {
                    "entity": {"type": "string", "pattern": ENTITY_NAME.pattern},
                    "label": LABEL,
                    "title_field": {"type": "string"},
                    "number_format": {"type": "string"},
                    "reason_required": {"type": "boolean"},
                    "indexes": {
                        "type": "array",
                        "items": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    },
                    "layouts": {"type": "object"},
                },
                "required": ["entity", "label"],
                "additionalProperties": False,
            },
        },
        "required": ["$schema", "type", "properties", "x-guanxi"],
    }


def read_schema_dir(directory: Path) -> list[tuple[str, Any]]:
    """(source, parsed document) for every *.json file; unparsable files become problems later."""
    documents = []
    for path in sorted(directory.glob("*.json")):
        try:
            documents.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, json.JSONDecodeError) as error:
            documents.append((str(path), _Unreadable(str(error))))
    return documents


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def pointer(path: Iterable[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def check_document(source: str, document: Any, type_names: Iterable[str]) -> list[SchemaProblem]:
    """Every problem in one document: JSON syntax, JSON Schema validity, meta-schema, references
    between its own parts. Cross-document checks (reference targets) happen in check_documents."""
    if isinstance(document, _Unreadable):
        return [SchemaProblem(source, "", f"not valid JSON: {document.reason}")]
    problems: list[SchemaProblem] = []
    try:
        Draft202012Validator.check_schema(document)
    except SchemaError as error:
        problems.append(SchemaProblem(source, pointer(error.absolute_path), error.message))
    validator = Draft202012Validator(meta_schema(type_names))
    for error in sorted(
        validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    ):
        problems.append(SchemaProblem(source, pointer(error.absolute_path), error.message))
    if problems:
        return problems
    properties = document["properties"]
    extension = document["x-guanxi"]
    for key in document.get("required", []):
        if key not in properties:
            problems.append(SchemaProblem(source, "/required", f"'{key}' is not a property"))
    for key, prop in properties.items():
        where = f"/properties/{key}"
        spec = prop["x-guanxi"]
        if key in RESERVED:
            problems.append(SchemaProblem(source, where, f"'{key}' is a reserved SQL word"))
        if key in SYSTEM_FIELDS and key != "number":
            problems.append(SchemaProblem(source, where, f"'{key}' is a system field"))
        if key.startswith(CUSTOM_PREFIX):
            problems.append(
                SchemaProblem(source, where, f"'{CUSTOM_PREFIX}' is kept for custom fields")
            )
        if spec["type"] in ("select", "multiselect") and not spec.get("options"):
            problems.append(SchemaProblem(source, where + "/x-guanxi", "a select needs options"))
        if spec["type"] == "reference" and not spec.get("reference"):
            problems.append(
                SchemaProblem(source, where + "/x-guanxi", "a reference needs 'reference'")
            )
        if spec["type"] == "stage":
            problems.extend(
                _check_pipeline(
                    source, where + "/x-guanxi/pipeline", spec.get("pipeline"), properties
                )
            )
        constraints = {k: prop[k] for k in (*CONSTRAINT_KEYWORDS, "format") if k in prop}
        for error in Draft202012Validator(CONSTRAINTS).iter_errors(constraints):
            problems.append(
                SchemaProblem(
                    source, f"{where}/{'/'.join(map(str, error.absolute_path))}", error.message
                )
            )
        if spec["type"] == "autonumber":
            for problem in check_format(spec.get("number_format", "")):
                problems.append(SchemaProblem(source, where + "/x-guanxi/number_format", problem))
    for position, columns in enumerate(extension.get("indexes", [])):
        for column in columns:
            if column not in properties and column not in SYSTEM_FIELDS:
                problems.append(
                    SchemaProblem(
                        source, f"/x-guanxi/indexes/{position}", f"unknown field '{column}'"
                    )
                )
    title = extension.get("title_field")
    if title and title not in properties and title not in SYSTEM_FIELDS:
        problems.append(SchemaProblem(source, "/x-guanxi/title_field", f"unknown field '{title}'"))
    for problem in check_format(extension.get("number_format", "{seq:06d}")):
        problems.append(SchemaProblem(source, "/x-guanxi/number_format", problem))
    return problems


def _check_pipeline(
    source: str, where: str, pipeline: Any, properties: Mapping[str, Any]
) -> list[SchemaProblem]:
    if not pipeline:
        return [SchemaProblem(source, where, "a stage field needs a pipeline")]
    problems = []
    codes = [stage["code"] for stage in pipeline["stages"]]
    if len(set(codes)) != len(codes):
        problems.append(SchemaProblem(source, where + "/stages", "stage codes must be unique"))
    for position, stage in enumerate(pipeline["stages"]):
        for target in stage.get("transitions") or []:
            if target not in codes:
                problems.append(
                    SchemaProblem(
                        source,
                        f"{where}/stages/{position}/transitions",
                        f"unknown stage '{target}'",
                    )
                )
        for required in stage.get("required_fields", []):
            if required not in properties and required not in SYSTEM_FIELDS:
                problems.append(
                    SchemaProblem(
                        source,
                        f"{where}/stages/{position}/required_fields",
                        f"unknown field '{required}'",
                    )
                )
    return problems


def check_documents(
    documents: list[tuple[str, Any]], type_names: Iterable[str]
) -> list[SchemaProblem]:
    """Problems of each document plus cross-document ones (duplicate names, reference targets)."""
    type_names = list(type_names)
    problems: list[SchemaProblem] = []
    names: dict[str, str] = {}
    valid = []
    for source, document in documents:
        found = check_document(source, document, type_names)
        problems.extend(found)
        if not found:
            valid.append((source, document))
            name = document["x-guanxi"]["entity"]
            if name in names:
                problems.append(
                    SchemaProblem(
                        source,
                        "/x-guanxi/entity",
                        f"entity '{name}' is also defined in {names[name]}",
                    )
                )
            names[name] = source
    for source, document in valid:
        for key, prop in document["properties"].items():
            target = prop["x-guanxi"].get("reference")
            if prop["x-guanxi"]["type"] == "reference" and target not in names:
                problems.append(
                    SchemaProblem(
                        source,
                        f"/properties/{key}/x-guanxi/reference",
                        f"unknown entity '{target}'",
                    )
                )
    return problems


# -- document -> field specs -> EntityDef ----------------------------------------------------

CONSTRAINT_KEYWORDS = (
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "maxItems",
    "minItems",
)


def field_specs(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Flat, JSON-storable field specs in file order: the form overlay rows patch."""
    required = set(document.get("required", []))
    specs: dict[str, dict[str, Any]] = {}
    for position, (key, prop) in enumerate(document["properties"].items()):
        spec = dict(prop["x-guanxi"])
        spec["required"] = key in required
        spec["position"] = (position + 1) * 10
        if "default" in prop:
            spec["default"] = prop["default"]
        constraints = {k: prop[k] for k in CONSTRAINT_KEYWORDS if k in prop}
        if "format" in prop:
            constraints["format"] = prop["format"]
        if constraints:
            spec["constraints"] = constraints
        specs[key] = spec
    return specs


def build_field(key: str, spec: Mapping[str, Any]) -> FieldDef:
    return FieldDef(
        key=key,
        type=spec["type"],
        label=dict(spec["label"]),
        required=bool(spec.get("required")),
        custom=bool(spec.get("custom")),
        hidden=bool(spec.get("hidden")),
        readonly=bool(spec.get("readonly")) or spec["type"] == "autonumber",
        index=bool(spec.get("index")),
        unique=bool(spec.get("unique")),
        sensitive=bool(spec.get("sensitive")),
        search=bool(spec.get("search")),
        section=spec.get("section"),
        position=int(spec.get("position", 0)),
        default=spec.get("default"),
        options=tuple(
            Option(o["code"], dict(o["label"]), o.get("color")) for o in spec.get("options", [])
        ),
        reference=spec.get("reference"),
        on_delete=spec.get("on_delete", "restrict"),
        constraints=dict(spec.get("constraints", {})),
        help=spec.get("help"),
        reason_required=bool(spec.get("reason_required")),
        number_format=spec.get("number_format"),
        settings=dict(spec.get("settings", {})),
    )


def build_pipeline(field_key: str, spec: Mapping[str, Any]) -> Pipeline:
    return Pipeline(
        field=field_key,
        reason_required=bool(spec.get("reason_required")),
        stages=tuple(
            Stage(
                code=s["code"],
                label=dict(s["label"]),
                probability=int(s.get("probability", 0)),
                category=s.get("category", "open"),
                required_fields=tuple(s.get("required_fields", [])),
                reason_required=bool(s.get("reason_required")),
                transitions=tuple(s["transitions"]) if s.get("transitions") is not None else None,
                stale_days=s.get("stale_days"),
                color=s.get("color"),
            )
            for s in spec["stages"]
        ),
    )


SYSTEM_FIELD_SPECS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "label": {"zh-CN": "ID", "en": "ID"}},
    "number": {"type": "autonumber", "label": {"zh-CN": "编号", "en": "Number"}},
    "owner_id": {"type": "user", "label": {"zh-CN": "负责人", "en": "Owner"}},
    "department_id": {"type": "department", "label": {"zh-CN": "所属部门", "en": "Department"}},
    "created_by": {"type": "user", "label": {"zh-CN": "创建人", "en": "Created by"}},
    "created_at": {"type": "datetime", "label": {"zh-CN": "创建时间", "en": "Created at"}},
    "updated_by": {"type": "user", "label": {"zh-CN": "修改人", "en": "Updated by"}},
    "updated_at": {"type": "datetime", "label": {"zh-CN": "修改时间", "en": "Updated at"}},
    "version": {"type": "integer", "label": {"zh-CN": "版本", "en": "Version"}},
    "locked": {"type": "boolean", "label": {"zh-CN": "已锁定", "en": "Locked"}},
    # Set while a record sits in the recycle bin (BIN-01); every ordinary read hides it.
    "deleted_at": {"type": "datetime", "label": {"zh-CN": "删除时间", "en": "Deleted at"}},
    "deleted_by": {"type": "user", "label": {"zh-CN": "删除人", "en": "Deleted by"}},
}


def build_entity(
    document: Mapping[str, Any],
    specs: Mapping[str, Mapping[str, Any]],
    pipelines: Mapping[str, Mapping[str, Any]],
    *,
    version: int,
    source: str,
    layouts: Mapping[str, Any] | None = None,
) -> EntityDef:
    """The effective entity from its document, the (overlay-patched) field specs and pipelines."""
    extension = document["x-guanxi"]
    fields: list[FieldDef] = []
    number_format = extension.get("number_format")
    for key, spec in SYSTEM_FIELD_SPECS.items():
        position = 100000 + len(fields)
        if key == "number" and "number" in specs:
            continue
        fields.append(
            FieldDef(
                key=key,
                type=spec["type"],
                label=spec["label"],
                system=True,
                readonly=key not in ("owner_id", "department_id"),
                position=position if key != "number" else 0,
                number_format=number_format if key == "number" else None,
            )
        )
    stage_pipelines: dict[str, Pipeline] = {}
    for key, spec in specs.items():
        field = build_field(key, spec)
        if field.type == "stage":
            pipeline_spec = pipelines.get(key) or spec.get("pipeline")
            if pipeline_spec:
                pipeline = build_pipeline(key, pipeline_spec)
                stage_pipelines[key] = pipeline
                field = _with_stage_options(field, pipeline)
        if key == "number":
            field = replace(field, system=True, readonly=True)
        fields.append(field)
    return EntityDef(
        name=extension["entity"],
        label=dict(extension["label"]),
        fields=tuple(fields),
        version=version,
        source=source,
        title_field=extension.get("title_field", "number"),
        indexes=tuple(tuple(columns) for columns in extension.get("indexes", [])),
        pipelines=stage_pipelines,
        layouts={**extension.get("layouts", {}), **(layouts or {})},
        number_format=number_format or default_number_format(extension["entity"]),
        reason_required=bool(extension.get("reason_required")),
    )


def default_number_format(entity: str) -> str:
    return entity[:3].upper() + "{seq:06d}"


def _with_stage_options(field: FieldDef, pipeline: Pipeline) -> FieldDef:
    options = tuple(Option(s.code, dict(s.label), s.color) for s in pipeline.stages)
    return replace(field, options=options)
