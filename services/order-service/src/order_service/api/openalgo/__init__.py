"""OpenAlgo's REST surface (`POST /api/v1/<endpoint>`), answered in OpenAlgo's shapes."""

from order_service.api.openalgo.routes import router

__all__ = ["router"]
