"""Database engine factory, table models and migrations."""
