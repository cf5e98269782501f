"""The client's operations and models, checked against the services' OpenAPI documents.

A route renamed, a parameter dropped or a response field renamed or retyped on a service makes
this fail until the client follows.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from optrade_client import models
from optrade_client.calls import OPERATIONS

SERVICES = ("order", "market-data", "quality")
# What the client sends as query parameters, per operation.
QUERY_PARAMETERS = {
    "listOrders": {"client_order_id", "status", "limit", "offset"},
    "listPositions": {"from", "to", "underlying", "model_version", "status", "limit", "offset"},
    "listTrades": {"from", "to", "underlying", "model_version", "limit", "offset"},
    "exportTrades": {"from", "to", "underlying", "model_version", "format"},
    "backfillSnapshots": {"limit", "after_id"},
    "getQuote": {"strike", "option_type", "expiry", "as_of"},
    "getChain": {"expiry", "as_of"},
    "runQualityCheck": {"lookback_days", "from", "to", "mode"},
    "exportQualityRunTrades": {"format"},
    "listInstants": {"underlying", "from", "to"},
    "getQualityRun": {"format"},
    "runSettlement": {"expiry"},
    "getStrategy": {"as_of"},
}
JSON_TYPES = {int: {"integer"}, float: {"number", "integer"}, str: {"string"},
              Decimal: {"string", "number"}, datetime: {"string"}, date: {"string"},
              bool: {"boolean"}}  # fmt: skip


@pytest.fixture(scope="module")
def documents(database_url: str) -> Iterator[dict[str, dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        from market_data_service.main import create_app as market_data_app
        from order_service.main import create_app as order_app
        from quality_service.main import create_app as quality_app

        yield {
            "order": order_app().openapi(),
            "market-data": market_data_app().openapi(),
            "quality": quality_app().openapi(),
        }


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_each_operation_the_client_calls_is_documented_as_it_calls_it(
    documents: dict[str, dict[str, Any]], operation_id: str
) -> None:
    service, method, path = OPERATIONS[operation_id]
    documented = _operations(documents[service])
    assert operation_id in documented, f"{service} documents no {operation_id}"
    assert documented[operation_id][:2] == (method, path)
    parameters = {p["name"] for p in documented[operation_id][2].get("parameters", [])}
    assert QUERY_PARAMETERS.get(operation_id, set()) <= parameters


def _model_classes() -> list[type[models.Model]]:
    return [
        cls for cls in vars(models).values()
        if isinstance(cls, type) and issubclass(cls, models.Model) and cls.SCHEMA
    ]  # fmt: skip


def _schema(documents: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    for document in documents.values():
        schemas = document["components"]["schemas"]
        for candidate in (name, f"{name}-Output"):
            if candidate in schemas:
                return dict(schemas[candidate])
    raise AssertionError(f"no service documents a schema {name}")


def _json_types(schema: dict[str, Any]) -> set[str]:
    if "anyOf" in schema:
        return set().union(*(_json_types(s) for s in schema["anyOf"]))
    if "$ref" in schema or "allOf" in schema or "enum" in schema and "type" not in schema:
        return {"object", "string"}  # a referenced model or enum
    return {schema.get("type", "object")}


@pytest.mark.parametrize("model", _model_classes(), ids=lambda m: m.__name__)
def test_each_model_field_is_in_its_schema_with_a_compatible_type(
    documents: dict[str, dict[str, Any]], model: type[models.Model]
) -> None:
    schema = _schema(documents, model.SCHEMA)
    properties = schema["properties"]
    hints = typing.get_type_hints(model)
    for field in dataclasses.fields(model):
        if field.name == "raw":
            continue
        assert field.name in properties, f"{model.SCHEMA} has no field {field.name}"
        hint = hints[field.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        expected = set().union(*(JSON_TYPES.get(o, {"object", "array"}) for o in options))
        documented = _json_types(properties[field.name]) - {"null"}
        assert documented & expected, (model.SCHEMA, field.name, documented, expected)
        nullable = type(None) in options
        if not nullable and field.name not in schema.get("required", []):
            pytest.fail(f"{model.SCHEMA}.{field.name} may be absent but the client requires it")


def test_an_operation_the_service_does_not_serve_fails_rather_than_skipping(
    documents: dict[str, dict[str, Any]],
) -> None:
    """Every operation the client calls (by its operationId) fails when it is gone."""
    for operation_id, (service, _, path) in OPERATIONS.items():
        without = {**documents[service], "paths": {
            p: item for p, item in documents[service]["paths"].items() if p != path
        }}  # fmt: skip
        with pytest.raises(AssertionError):
            test_each_operation_the_client_calls_is_documented_as_it_calls_it(
                {**documents, service: without}, operation_id
            )


def test_every_call_the_client_builds_names_a_listed_operation() -> None:
    """A call naming an operation the table lacks would fail only when a user makes it."""
    import ast
    import inspect

    from optrade_client import calls

    named = {
        node.args[0].value
        for node in ast.walk(ast.parse(inspect.getsource(calls)))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Call", "Pages")
        and node.args and isinstance(node.args[0], ast.Constant)
    }  # fmt: skip
    assert named and named <= set(OPERATIONS), named - set(OPERATIONS)
