"""What the README and the product's docs state about themselves is true of the repository:
the number of checks and of images, sources that exist, examples that do not expire, and no
build artefacts committed."""

from __future__ import annotations

import re
import subprocess

import yaml

from quality_service.runs import thresholds_in_force
from quality_service.settings import QualitySettings
from tests.deploy.test_make_run import readme_first_session
from tests.support.processes import REPO_ROOT

WORDS = {4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
# The product: what is shipped or read by its users (tests may cite the handbook's data).
PRODUCT = ("README.md", "docs", "shared", "services", "clients", "examples", "deploy", "bench",
           "scripts", "Makefile", "pyproject.toml")  # fmt: skip
# A trading symbol with its expiry, e.g. NIFTY08DEC2626000CE.
DATED_SYMBOL = re.compile(r"\b(?:NIFTY|BANKNIFTY|FINNIFTY)\d{2}[A-Z]{3}\d{2}\d+(?:CE|PE)\b")


def _tracked(*paths: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", *paths], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True)  # fmt: skip
    return listed.stdout.split()


def test_the_readme_counts_the_checks_a_run_makes() -> None:
    # The thresholds of a run: one per check, beside settings that are not checks.
    settings = {"warn_margin", "feature_drift_warn_psi"}
    checks = set(thresholds_in_force(QualitySettings())) - settings
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"the {WORDS[len(checks)]} completeness checks" in readme
    for wrong in set(WORDS.values()) - {WORDS[len(checks)]}:
        assert f"{wrong} completeness checks" not in readme


def test_the_readme_counts_the_container_images_deploy_builds() -> None:
    compose = yaml.safe_load((REPO_ROOT / "deploy" / "compose.yaml").read_text())
    images = {
        service["image"].split("optrade-", 1)[1].split(":")[0]
        for service in compose["services"].values()
        if "optrade-" in service.get("image", "")
    }
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"{WORDS[len(images)]} container images" in readme, sorted(images)
    assert "one container image" not in readme
    for image in images:
        assert f"`optrade-{image}`" in readme


def test_the_product_cites_no_file_the_repository_lacks() -> None:
    citing = [
        f"{path}:{number}"
        for path in _tracked(*PRODUCT)
        if path.endswith((".py", ".md", ".yaml", ".toml", ".html", ".txt", ".j2"))
        for number, line in enumerate((REPO_ROOT / path).read_text().splitlines(), 1)
        if "DESIGN" in line or "../shared" in line
    ]
    assert citing == [], "cites the handbook, which is not in the repository"


def test_no_wheel_or_archive_is_committed() -> None:
    assert _tracked("*.whl", "*.tar.gz", "*.egg") == []


def test_readme_and_client_examples_pick_symbols_instead_of_naming_dated_ones() -> None:
    examples = [readme_first_session()]
    for doc in ("README.md", "clients/python/README.md", "examples/README.md"):
        text = (REPO_ROOT / doc).read_text()
        examples += re.findall(r"```(?:bash|python)\n(.*?)```", text, re.S)
    for path in ("examples/signal_engine.py", "examples/fit_model.py"):
        examples.append((REPO_ROOT / path).read_text())
    dated = [symbol for block in examples for symbol in DATED_SYMBOL.findall(block)]
    assert dated == [], "an example that will expire"
    assert all("uv run" not in block for block in examples), "uv is not on a new shell's PATH"
