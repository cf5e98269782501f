"""What every service's FastAPI app has: errors, request ids, metrics, liveness and readiness."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from optrade.body_limits import BodyLimitMiddleware
from optrade.errors import install_error_handlers
from optrade.observability import RequestContextMiddleware, metrics_response
from optrade.openapi import document_error_contract
from optrade.settings import get_request_limit_settings

ReadinessCheck = Callable[[FastAPI], None]


def build_app(
    *,
    service: str,
    title: str,
    description: str,
    lifespan: Any,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    health_details: Mapping[str, str] | None = None,
) -> FastAPI:
    """Create a service app with the common endpoints; routes are added by the caller.

    `health_details` are static facts added to the /healthz body (e.g. which instance this is).
    """
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    limits = get_request_limit_settings()
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=limits.max_body_bytes,
        max_json_depth=limits.max_json_depth,
    )
    # Added last, so outermost: every answer, the body limits' refusals included, carries the id.
    app.add_middleware(RequestContextMiddleware, service=service)
    checks = dict(readiness or {})
    details = dict(health_details or {})

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {**details, "status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Readiness: dependencies answer")
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
        body = {"status": "ready" if ok else "not_ready", "service": service, "checks": results}
        if ok:
            return JSONResponse(body)
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    app.add_api_route(
        "/metrics", metrics_response, methods=["GET"], tags=["ops"], summary="Prometheus metrics"
    )
    document_error_contract(app)
    return app


def database_ready(app: FastAPI) -> None:
    """Readiness check: the database answers and carries every migration this code expects."""
    from optrade.db.migrate import require_head

    with app.state.engine.connect() as connection:
        require_head(connection)
