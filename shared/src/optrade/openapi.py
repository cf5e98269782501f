"""Every service's OpenAPI document states the platform's error contract, not FastAPI's default.

Errors on the wire are `{"type", "detail", "errors"?}` (`optrade.errors`), but FastAPI documents
its own `HTTPValidationError` for 422 and whatever a route declared (often nothing) for other
error codes. Here every 4xx/5xx response of every operation gets the `ErrorBody` schema, and every
operation that takes input documents the 422 it answers invalid input with, so a client (or a
contract-testing tool) can rely on the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

ERROR_REF = "#/components/schemas/ErrorBody"


class FieldError(BaseModel):
    field: str = Field(description="the request field, e.g. `quantity` or `items.3.iv`")
    reason: str


class ErrorBody(BaseModel):
    """What every error response carries."""

    type: str = Field(description="machine-readable kind, e.g. validation_error, not_found")
    detail: str = Field(description="what went wrong, naming the field and the reason")
    errors: list[FieldError] | None = Field(None, description="one entry per invalid field")


def _error_schemas() -> dict[str, Any]:
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"ErrorBody": schema, **definitions}


def document_error_contract(app: FastAPI) -> None:
    """Make `app.openapi()` describe every error response with `ErrorBody`."""

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
                responses = operation.setdefault("responses", {})
                if operation.get("parameters") or operation.get("requestBody"):
                    responses.setdefault("422", {"description": "invalid input: field and reason"})
                for code, response in responses.items():
                    if code[:1] in ("4", "5"):
                        response.setdefault("description", "error")
                        response["content"] = {"application/json": {"schema": {"$ref": ERROR_REF}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
