"""The JSON API (API-01, API-02): /api/v1/{entity} and /api/openapi.json, generated from the
effective metadata and calling the same record service as the screens."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from guanxi.rest.docs import DOCS_PATH, api_docs
from guanxi.rest.endpoint import ApiEndpoint
from guanxi.rest.openapi import openapi_document
from guanxi.rest.records_api import (
    create_record,
    delete_record,
    get_record,
    list_modules,
    list_records,
    update_record,
)


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/openapi.json", ApiEndpoint({"GET": openapi_document})),
        Route(DOCS_PATH, api_docs, methods=["GET"]),
        Route("/api/v1", ApiEndpoint({"GET": list_modules})),
        Route(
            "/api/v1/{entity}",
            ApiEndpoint(
                {"GET": list_records, "POST": create_record},
                actions={"GET": "view", "POST": "create"},
            ),
        ),
        Route(
            "/api/v1/{entity}/{id}",
            ApiEndpoint(
                {"GET": get_record, "PATCH": update_record, "DELETE": delete_record},
                actions={"GET": "view", "PATCH": "edit", "DELETE": "delete"},
            ),
        ),
    ]
