"""Run the Alembic migrations programmatically (`python -m optrade.db.migrate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

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
