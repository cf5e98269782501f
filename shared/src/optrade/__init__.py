"""Optrade shared library: settings, database, table models, wire schemas and clients."""
