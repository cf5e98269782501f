"""The reference the order path is measured against: a minimal FastAPI app on an async
PostgreSQL driver doing the order service's work, and a minimal quote server it asks."""
