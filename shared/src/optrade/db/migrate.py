"""Run the Alembic migrations programmatically (`python -m optrade.db.migrate`)."""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from optrade.db.engine import normalize_url
from optrade.settings import get_database_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = database_url or get_database_settings().database_url
    # ConfigParser interpolation would choke on "%" in passwords.
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


class MigrationMismatch(RuntimeError):
    """The database schema is not the one this code was written for."""


@lru_cache
def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def pending_migrations(connection: Connection) -> list[str]:
    """Revisions this code expects that the database has not applied, oldest first."""
    scripts = _scripts()
    applied = set(MigrationContext.configure(connection).get_current_heads())
    if applied and not applied <= {s.revision for s in scripts.walk_revisions()}:
        # A revision this code does not know: the database is ahead of (newer than) the code.
        raise MigrationMismatch(
            f"database is at revision {', '.join(sorted(applied))}, unknown to this code "
            f"(expects head {scripts.get_current_head()}): deploy the matching version"
        )
    missing = []
    for script in scripts.walk_revisions():  # newest first
        if script.revision in applied:
            break
        missing.append(script.revision)
    return list(reversed(missing))


def require_head(connection: Connection) -> None:
    """Raise MigrationMismatch naming the missing migrations unless the database is at head."""
    missing = pending_migrations(connection)
    if missing:
        raise MigrationMismatch(
            f"database is not at migration head {missing[-1]}: missing {', '.join(missing)} "
            "(run `make migrate` or the migrate job)"
        )


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Bring the database at `database_url` (default: settings) up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def main() -> None:
    parser = argparse.ArgumentParser(description="Migrate the Optrade database")
    parser.add_argument("command", choices=["upgrade", "revision"], nargs="?", default="upgrade")
    parser.add_argument("-m", "--message", default="change")
    args = parser.parse_args()
    if args.command == "upgrade":
        upgrade()
        print("database is at the latest revision")
    else:
        command.revision(alembic_config(), message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
