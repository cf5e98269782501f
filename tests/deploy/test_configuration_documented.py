"""Every setting the code reads is documented, and every variable the deployment sets is read.

The settings classes are found by importing every module under `shared/src` and
`services/*/src` and collecting the pydantic-settings `BaseSettings` subclasses defined there;
a new field without a row in docs/configuration.md fails here, and so does a documented default
that no longer matches the code.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"
SOURCE_ROOTS = [REPO / "shared" / "src", *sorted((REPO / "services").glob("*/src"))]
COMPOSE = REPO / "deploy" / "compose.yaml"
# Set in the services' environment by the deployment but read by no settings class: the image's
# HEALTHCHECK port. Documented in its own section of docs/configuration.md.
DEPLOYMENT_ONLY = {"PORT"}
UNSET_WORDS = ("unset", "none", "empty")


def _packages() -> list[str]:
    return sorted(path.parent.name for root in SOURCE_ROOTS for path in root.glob("*/__init__.py"))


@cache
def _settings_classes() -> tuple[list[type[BaseSettings]], dict[str, str]]:
    """Every BaseSettings subclass defined in the repository, and modules that failed to import."""
    found: list[type[BaseSettings]] = []
    failures: dict[str, str] = {}
    for package_name in _packages():
        package = importlib.import_module(package_name)
        names = [package_name] + [
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{package_name}.")
            if not info.name.endswith("__main__")
        ]
        for name in names:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - reported by the test below
                failures[name] = f"{type(exc).__name__}: {exc}"
                continue
            found.extend(
                obj
                for obj in vars(module).values()
                if inspect.isclass(obj)
                and issubclass(obj, BaseSettings)
                and obj is not BaseSettings
                and obj.__module__ == name
            )
    return found, failures


def _env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variable(s) a field is read from (pydantic-settings' rules)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    if field.alias:
        return [field.alias.upper()]
    return [(str(cls.model_config.get("env_prefix", "")) + name).upper()]


def _all_settings() -> list[tuple[str, str, Any]]:
    """(class name, env name, default) of every field of every settings class."""
    classes, _ = _settings_classes()
    rows = []
    for cls in classes:
        for name, field in cls.model_fields.items():
            for env in _env_names(cls, name, field):
                rows.append((cls.__qualname__, env, field.get_default(call_default_factory=True)))
    return rows


def _doc_rows() -> dict[str, str]:
    """Env name -> the default cell of its row in the tables of docs/configuration.md."""
    rows: dict[str, str] = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3:
            for env in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
                rows.setdefault(env, cells[1])
    return rows


def _documented_default_matches(default: Any, cell: str) -> bool:
    text = cell.replace("`", "").strip()
    if default is None or (isinstance(default, SecretStr) and not default.get_secret_value()):
        return any(word in text.lower() for word in UNSET_WORDS)
    if isinstance(default, bool):
        return text.lower().startswith(str(default).lower())
    if isinstance(default, int | float):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]
        return float(default) in numbers
    if isinstance(default, str):
        return default in text if default else any(w in text.lower() for w in UNSET_WORDS)
    return True  # paths, lists and the like: the prose describes them


def test_settings_modules_import() -> None:
    classes, failures = _settings_classes()
    assert not failures, f"modules that do not import: {failures}"
    names = {cls.__qualname__ for cls in classes}
    assert {"DatabaseSettings", "AppSettings", "CalendarSettings"} <= names


def test_every_setting_is_documented() -> None:
    doc = DOC.read_text()
    missing = sorted(
        f"{env} ({cls})"
        for cls, env, _ in _all_settings()
        if not re.search(rf"(?<![A-Z0-9_]){env}(?![A-Z0-9_])", doc)
    )
    assert not missing, f"add these settings to docs/configuration.md: {missing}"


def test_documented_defaults_match_the_code() -> None:
    rows = _doc_rows()
    wrong = sorted(
        f"{env}: code says {default!r}, docs say {rows[env]!r}"
        for _, env, default in _all_settings()
        if env in rows and not _documented_default_matches(default, rows[env])
    )
    assert not wrong, f"docs/configuration.md has stale defaults: {wrong}"


def _deployment_variables() -> dict[str, set[str]]:
    """Variable names set by compose `environment` blocks and the Kubernetes ConfigMap/Secret."""
    found: dict[str, set[str]] = {}
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        if name in ("postgres", "redis"):
            continue
        for env in service.get("environment", {}):
            found.setdefault(env, set()).add(f"compose:{name}")
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in ("ConfigMap", "Secret"):
                for env in {**doc.get("data", {}), **doc.get("stringData", {})}:
                    found.setdefault(env, set()).add(f"k8s:{path.name}")
    return found


def test_deployment_sets_only_variables_the_code_reads() -> None:
    known = {env for _, env, _ in _all_settings()} | DEPLOYMENT_ONLY
    unknown = {env: sorted(where) for env, where in _deployment_variables().items()}
    unknown = {env: where for env, where in unknown.items() if env not in known}
    assert not unknown, f"set by the deployment but read by no settings class: {unknown}"


def _compose_interpolations() -> list[str]:
    return sorted(set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text())))


@pytest.mark.parametrize("env", [*sorted(DEPLOYMENT_ONLY), *_compose_interpolations()])
def test_deployment_variables_are_documented(env: str) -> None:
    assert f"`{env}`" in DOC.read_text(), f"describe {env} in docs/configuration.md"


def test_a_deployment_variable_no_setting_reads_fails_rather_than_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = _deployment_variables()
    monkeypatch.setattr(
        __import__(__name__, fromlist=["_deployment_variables"]),
        "_deployment_variables",
        lambda: {**found, "NOBODY_READS_THIS": {"compose:order"}},
    )
    with pytest.raises(AssertionError, match="NOBODY_READS_THIS"):
        test_deployment_sets_only_variables_the_code_reads()
