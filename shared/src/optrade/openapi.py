"""Every service's OpenAPI document states the platform's error contract, not FastAPI's default.

Errors on the wire are RFC 9457 problem details (`optrade.errors`), but FastAPI documents its own
`HTTPValidationError` for 422 and whatever a route declared (often nothing) for other error codes.
Here every 4xx/5xx response of every operation gets the `ProblemDetails` schema under
`application/problem+json` (a 503 also documents `Retry-After`), every operation that takes input
documents the 422 it answers invalid input with, and every operation has a stable camelCase
`operationId` (a route's explicit `operation_id`, else its function name), so a client (or a
contract-testing tool, or a generated SDK) can rely on the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from optrade.errors import PROBLEM_MEDIA_TYPE

ERROR_REF = "#/components/schemas/ProblemDetails"
RETRY_AFTER_HEADER = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 0},
}


class FieldError(BaseModel):
    field: str = Field(description="the request field, e.g. `lots` or `items.3.iv`")
    reason: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: what every error response carries."""

    type: str = Field(
        description="URI reference naming the kind of problem, e.g. /problems/invalid-input "
        "(each documented in docs/problems.md)"
    )
    title: str = Field(description="the kind of problem in words")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong, naming the field and the reason")
    errors: list[FieldError] | None = Field(None, description="one entry per invalid field")


def operation_id(route: APIRoute) -> str:
    """camelCase of the route's function name: `place_order` -> `placeOrder`."""
    head, *rest = route.name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _error_schemas() -> dict[str, Any]:
    schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"ProblemDetails": schema, **definitions}


def _document_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("422", {"description": "invalid input: field and reason"})
    for code, response in responses.items():
        if code[:1] in ("4", "5"):
            response.setdefault("description", "error")
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": ERROR_REF}}}
            if code == "503":
                response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER


def document_error_contract(app: FastAPI) -> None:
    """Make `app.openapi()` describe every error response with `ProblemDetails`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components.update(_error_schemas())
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                _document_errors(operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
