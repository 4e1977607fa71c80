"""Entity documents (CORE-01) are checked against the meta-schema; problems name file and pointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guanxi.defaults.field_types import BUILTIN_TYPES
from guanxi.errors import SchemaFileError
from guanxi.meta.loader import check_documents, read_schema_dir

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
TYPE_NAMES = [t.name for t in BUILTIN_TYPES]


def shipped(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def test_shipped_schemas_are_valid_and_cover_the_core_entities():
    documents = read_schema_dir(SCHEMAS)
    assert check_documents(documents, TYPE_NAMES) == []
    names = {doc["x-guanxi"]["entity"] for _source, doc in documents}
    assert {"customer", "contact", "followup", "task", "note"} <= names
    customer = shipped("customer")["properties"]
    for key in (
        "name",
        "company",
        "mobile",
        "email",
        "source",
        "title",
        "industry",
        "size",
        "region",
        "interests",
        "remarks",
    ):
        assert key in customer
    followup = shipped("followup")["properties"]
    for key in ("method", "content", "feedback", "next_step", "next_followup_at"):
        assert key in followup


@pytest.mark.parametrize(
    ("mutate", "pointer", "words"),
    [
        (
            lambda d: d["properties"]["name"]["x-guanxi"].update(type="nosuch"),
            "/properties/name/x-guanxi/type",
            "nosuch",
        ),
        (
            lambda d: d["properties"]["source"]["x-guanxi"].pop("options"),
            "/properties/source/x-guanxi",
            "options",
        ),
        (
            lambda d: d["properties"].update(
                {"Bad Key": {"x-guanxi": {"type": "text", "label": {"zh-CN": "x"}}}}
            ),
            "/properties",
            "Bad Key",
        ),
        (
            lambda d: d["properties"]["name"]["x-guanxi"].pop("label"),
            "/properties/name/x-guanxi",
            "label",
        ),
        (lambda d: d["required"].append("ghost"), "/required", "ghost"),
        (lambda d: d["x-guanxi"]["indexes"].append(["ghost"]), "/x-guanxi/indexes/3", "ghost"),
        (
            lambda d: d["properties"].update(
                {"select": {"x-guanxi": {"type": "text", "label": {"zh-CN": "x"}}}}
            ),
            "/properties/select",
            "reserved",
        ),
        (
            lambda d: d["properties"]["stage"]["x-guanxi"]["pipeline"]["stages"][0].update(
                transitions=["nowhere"]
            ),
            "/properties/stage/x-guanxi/pipeline/stages/0/transitions",
            "nowhere",
        ),
        (
            lambda d: d["properties"]["name"].update(maxLength="long"),
            "/properties/name/maxLength",
            "long",
        ),
    ],
)
def test_problems_name_the_file_and_json_pointer(tmp_path, mutate, pointer, words):
    document = shipped("customer")
    mutate(document)
    path = tmp_path / "customer.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    problems = check_documents(
        read_schema_dir(tmp_path)
        + [(s, d) for s, d in read_schema_dir(SCHEMAS) if not s.endswith("customer.json")],
        TYPE_NAMES,
    )
    mine = [p for p in problems if p.source == str(path)]
    assert mine, problems
    assert any(p.pointer == pointer and words in p.message for p in mine), [str(p) for p in mine]
    assert str(path) in str(mine[0])


def test_unreadable_json_and_unknown_reference_target(tmp_path):
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    contact = shipped("contact")
    (tmp_path / "contact.json").write_text(
        json.dumps(contact, ensure_ascii=False), encoding="utf-8"
    )
    problems = check_documents(read_schema_dir(tmp_path), TYPE_NAMES)
    assert any(p.source.endswith("broken.json") and "JSON" in p.message for p in problems)
    assert any(
        p.pointer == "/properties/customer/x-guanxi/reference" and "customer" in p.message
        for p in problems
    )


def test_platform_refuses_to_start_with_a_bad_schema(make_platform, tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"type": "object"}), encoding="utf-8")
    with pytest.raises(SchemaFileError) as caught:
        make_platform(schema_dir=tmp_path)
    assert "x.json" in str(caught.value)
