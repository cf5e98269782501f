"""What every service's FastAPI app has: errors, request ids, metrics, liveness and readiness."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi_offline import FastAPIOffline

from optrade.body_limits import BodyLimitMiddleware
from optrade.errors import install_error_handlers, problem_response
from optrade.observability import RequestContextMiddleware, metrics_response, publish_build_info
from optrade.openapi import document_error_contract, operation_id
from optrade.settings import get_request_limit_settings

ReadinessCheck = Callable[[FastAPI], None]


def package_version(distribution: str) -> str:
    """The installed version of a distribution (e.g. `order-service`), or 0+unknown."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_app(
    *,
    service: str,
    title: str,
    description: str,
    lifespan: Any,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    health_details: Mapping[str, str] | None = None,
    min_body_bytes: int = 0,
    read_guard: Any = None,
) -> FastAPI:
    """Create a service app with the common endpoints; routes are added by the caller.

    `health_details` are static facts added to the /healthz body (e.g. which instance this is).
    `min_body_bytes` raises the body cap (`REQUEST_MAX_BODY_BYTES`) for a service whose own
    routes take larger bodies and cap them themselves (market data's batch `POST /v1/greeks`).
    `read_guard` (`optrade.security.read_key_guard`) guards `/metrics` with the service's read key.
    The OpenAPI document carries the version of the service's package (`<service>-service`);
    `/docs` and `/redoc` render it from assets shipped with the installed packages.
    """
    version = package_version(f"{service}-service")
    # /docs (Swagger UI) and /redoc load their scripts from the installed fastapi-offline
    # package, not from a CDN, so they work on a machine without internet.
    app = FastAPIOffline(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    publish_build_info(service, version)
    install_error_handlers(app)
    limits = get_request_limit_settings()
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=max(limits.max_body_bytes, min_body_bytes),
        max_json_depth=limits.max_json_depth,
    )
    # Added last, so outermost: every answer, the body limits' refusals included, carries the id.
    app.add_middleware(RequestContextMiddleware, service=service)
    checks = dict(readiness or {})
    details = dict(health_details or {})

    @app.get(
        "/healthz", tags=["ops"], summary="Liveness: the process answers", operation_id="getHealth"
    )
    def healthz() -> dict[str, str]:
        return {**details, "status": "ok", "service": service}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Readiness: dependencies answer",
        operation_id="getReadiness",
        responses={503: {"description": "a dependency does not answer (`checks` says which)"}},
    )
    def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        ok = True
        for name, check in checks.items():
            try:
                check(app)
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                ok = False
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        if ok:
            return JSONResponse({"status": "ready", "service": service, "checks": results})
        failing = ", ".join(name for name, result in results.items() if result != "ok")
        return problem_response(
            "not_ready",
            503,
            f"not ready: {failing}",
            headers={"Retry-After": "5"},
            service=service,
            checks=results,
        )

    app.add_api_route(
        "/metrics",
        metrics_response,
        methods=["GET"],
        tags=["ops"],
        summary="Prometheus metrics",
        operation_id="getMetrics",
        dependencies=[read_guard] if read_guard is not None else None,
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    )
    document_error_contract(app)
    return app


def database_ready(app: FastAPI) -> None:
    """Readiness check: the database answers and carries every migration this code expects."""
    from optrade.db.migrate import require_head

    with app.state.engine.connect() as connection:
        require_head(connection)
