"""The order service's use cases: one async function each (place, close, settle, ...).

Routes and the order engine both call these; each runs its writes in one unit of work of the
repository (`order_service.repository`) and raises domain errors, never HTTP ones.
"""

from order_service.repository import PageRequest, Repository

# What a route holds and hands to the use cases; it never calls the repository itself.
__all__ = ["PageRequest", "Repository"]
