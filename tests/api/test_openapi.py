"""/api/openapi.json and /api/docs (API-02): a valid OpenAPI 3.1 document generated live from
the metadata and cut to the caller (modules, fields, operations); real responses match it."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from guanxi.actor import Actor
from tests.org import REMARK, Org


def document(client: Any, **params: str) -> dict[str, Any]:
    answer = client.get("/api/openapi.json", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()  # type: ignore[no-any-return]


def response_validator(doc: dict[str, Any], schema: str) -> Draft202012Validator:
    """A validator for one component schema, its $refs resolved inside the document."""
    resource = Resource(contents=doc, specification=DRAFT202012)
    registry = Registry().with_resource("urn:openapi", resource)
    return Draft202012Validator(
        {"$ref": f"urn:openapi#/components/schemas/{schema}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def test_the_document_is_valid_openapi_3_1_for_every_role(api: Any, org: Org) -> None:  # API-02
    for username in ("admin", "rep_east", "manager", "agent"):
        doc = document(api(username))
        validate(doc)
        assert doc["openapi"] == "3.1.0"


def test_filtered_to_what_the_caller_may_see(api: Any, org: Org) -> None:  # API-02, PERM-03
    admin, rep, agent = document(api("admin")), document(api("rep_east")), document(api("agent"))
    assert "remarks" in admin["components"]["schemas"]["customer"]["properties"]
    for name in ("customer", "customer_create", "customer_update"):
        assert "remarks" not in rep["components"]["schemas"][name]["properties"]
    assert "filter[remarks]" not in str(rep["paths"]["/api/v1/customer"])
    assert REMARK not in str(rep)
    assert "interests" in rep["components"]["schemas"]["customer"]["properties"]
    assert "interests" not in str(agent)
    # modules the role may not view are absent; writes only where the role may write
    assert "/api/v1/visit" in rep["paths"] and "/api/v1/visit" not in agent["paths"]
    assert "post" in rep["paths"]["/api/v1/customer"]
    assert "delete" in admin["paths"]["/api/v1/customer/{id}"]


def test_masked_fields_are_text_and_write_schemas_hold_writable_fields(
    api: Any, org: Org
) -> None:  # API-02, DATA-12
    permissions = org.platform.permissions
    permissions.set_field_access(org.admin, "sales_rep", "customer", "mobile", "masked")
    permissions.set_field_access(org.admin, "sales_rep", "customer", "email", "read")
    schemas = document(api("rep_east"))["components"]["schemas"]
    mobile = schemas["customer"]["properties"]["mobile"]
    assert mobile["type"] == ["string", "null"] and "pattern" not in mobile
    create = schemas["customer_create"]
    assert "mobile" not in create["properties"] and "email" not in create["properties"]
    assert set(create["required"]) == {"name", "company", "source"}
    assert create["additionalProperties"] is False
    assert "version" in schemas["customer_update"]["properties"]
    assert "email" in schemas["customer"]["properties"]


def test_narrowed_tokens_see_only_their_modules_and_reads(api: Any, org: Org) -> None:  # API-02
    contacts = document(api("rep_east", modules=["contact"]))
    assert set(contacts["paths"]) == {"/api/v1/contact", "/api/v1/contact/{id}"}
    reader = document(api("rep_east", read_only=True))
    for item in reader["paths"].values():
        assert set(item) <= {"get", "parameters"}


def test_live_from_metadata_custom_fields_and_modules(api: Any, org: Org) -> None:  # API-02
    admin = api("admin")
    before = document(admin)
    assert "cf_budget" not in before["components"]["schemas"]["customer"]["properties"]
    org.platform.admin.add_field(Actor.system(), "customer", "budget", "money", "预算")
    org.platform.admin.create_entity(
        Actor.system(), "contract", "合同", [{"key": "title", "type": "text", "label": "标题"}]
    )
    after = document(admin)
    budget = after["components"]["schemas"]["customer"]["properties"]["cf_budget"]
    assert budget["type"] == ["string", "null"] and budget["pattern"]
    written = after["components"]["schemas"]["customer_create"]["properties"]["cf_budget"]
    assert written["type"] == ["number", "null", "string"]
    assert "/api/v1/contract" in after["paths"]
    assert after["components"]["schemas"]["contract"]["title"] == "合同"
    english = document(admin, lang="en")
    assert english["components"]["schemas"]["customer"]["properties"]["name"]["title"] == "Name"


def test_errors_share_one_schema(api: Any, org: Org) -> None:  # API-02
    doc = document(api("admin"))
    for item in doc["paths"].values():
        for operation in (v for k, v in item.items() if k != "parameters"):
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response == {"$ref": f"#/components/responses/{status}"}
    for response in doc["components"]["responses"].values():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}


def test_responses_match_the_document(api: Any, org: Org) -> None:  # API-02
    org.platform.permissions.set_field_access(
        org.admin, "sales_rep", "customer", "mobile", "masked"
    )
    rep = api("rep_east")
    org.platform.records.create(
        org.actor("rep_east"),
        "visit",
        {"subject": "回访", "cost": "99.90", "visited_on": "2024-5-6"},
    )
    doc = document(rep)
    checks = [
        ("customer", rep.get(f"/api/v1/customer/{org.customers['east']}")),
        ("customer_page", rep.get("/api/v1/customer", params={"count": "true"})),
        ("visit_page", rep.get("/api/v1/visit")),
        ("followup_page", rep.get("/api/v1/followup")),
        ("Error", rep.get("/api/v1/customer/424242")),
    ]
    for schema, answer in checks:
        errors = list(response_validator(doc, schema).iter_errors(answer.json()))
        assert not errors, (schema, [e.message for e in errors])


def test_docs_page_works_offline_for_signed_in_people(session: Any, api: Any) -> None:  # API-02
    anonymous = api(None).get("/api/docs")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    client, csrf = session("rep_east")
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert f'data-csrf-token="{csrf}"' in page.text  # "Try it out" sends it on changes
    assert "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js" in page.text
    assert 'data-spec-url="/api/openapi.json?lang=zh-CN"' in page.text
    assert "API 文档" in page.text or "API documentation" in page.text
    for asset in (
        "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui-5.35.0/swagger-ui.css",
        "/static/js/api-docs.js",
    ):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/api/openapi.json").status_code == 200  # the session works for the spec
