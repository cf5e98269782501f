"""The import contracts of docs/architecture.md hold, and they can fail.

`make lint` runs `lint-imports` on the repository; here the same contracts (the root
pyproject.toml) run on a copy of the source tree, first untouched (every contract kept), then with
a wire schema that imports the tables, which must break the wire-schema contract.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pyproject.toml"
SOURCE_ROOTS = [
    REPO / "shared" / "src",
    *sorted((REPO / "services").glob("*/src")),
    REPO / "clients" / "python" / "src",
]
WIRE_SCHEMA = Path("optrade") / "schemas" / "market.py"

pytestmark = pytest.mark.slow


def _copy_sources(destination: Path) -> Path:
    """Every package of the repository (Python files only) under one `src` directory."""
    src = destination / "src"
    for root in SOURCE_ROOTS:
        for package in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
            shutil.copytree(
                package,
                src / package.name,
                ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.csv", "*.ini", "*.mako"),
            )
    return src


def _lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    """Run the repository's contracts on the packages in `src` (they shadow the installed ones)."""
    command = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())",
        "--config",
        str(CONFIG),
        "--no-cache",
    ]
    return subprocess.run(
        command, check=False, cwd=src, capture_output=True, text=True, timeout=300
    )


def test_the_contracts_hold_on_an_untouched_copy(tmp_path: Path) -> None:
    result = _lint_imports(_copy_sources(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_wire_schema_importing_the_tables_breaks_the_contract(tmp_path: Path) -> None:
    src = _copy_sources(tmp_path)
    schema = src / WIRE_SCHEMA
    schema.write_text(schema.read_text() + "\nfrom optrade.db.models import Trade  # noqa\n")
    result = _lint_imports(src)
    assert result.returncode != 0, result.stdout
    assert "Wire schemas never import the tables or the client BROKEN" in result.stdout
    assert "optrade.schemas.market -> optrade.db.models" in result.stdout


def test_a_route_importing_the_repository_breaks_the_contract(tmp_path: Path) -> None:
    """Routes call application functions (route -> use case -> repository/unit of work)."""
    src = _copy_sources(tmp_path)
    route = src / "order_service" / "api" / "trades.py"
    route.write_text(
        route.read_text() + "\nfrom order_service.repository import Repository  # noqa\n"
    )
    result = _lint_imports(src)
    assert result.returncode != 0, result.stdout
    assert "touch the" in result.stdout and "repository BROKEN" in result.stdout
    assert "order_service.api.trades -> order_service.repository" in result.stdout
