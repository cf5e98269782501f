"""The deployment documents, read as documents: no Docker engine or cluster is needed.

Compose, Kubernetes manifests and the Dockerfile are parsed and checked for what operations rely
on: every service present, health and readiness where they belong, exactly one beat, migrations
before the services, non-root, and commands that name modules which exist in the repository.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SOURCE_ROOTS = [REPO / "shared" / "src", *sorted((REPO / "services").glob("*/src"))]

# Service name -> (module serving it, port). The same names in compose and Kubernetes.
HTTP_SERVICES = {
    "market-data-primary": ("market_data_service.main", 8001),
    "market-data-fallback": ("market_data_service.main", 8002),
    "order": ("order_service.main", 8000),
    "quality-api": ("quality_service.main", 8003),
}
CELERY_SERVICES = ("quality-worker", "quality-beat")
APP_SERVICES = (*HTTP_SERVICES, *CELERY_SERVICES)
REQUIRED_COMPOSE = ("postgres", "redis", "migrate", *APP_SERVICES)


def _load_compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _load_k8s() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    return _load_k8s()


def _resource(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r} in deploy/k8s, found {len(found)}"
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container per pod"
    return containers[0]


def _port_flag(argv: list[str]) -> int:
    return int(argv[argv.index("--port") + 1])


# --- compose -------------------------------------------------------------------------------


def test_compose_has_every_service(services: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_COMPOSE if name not in services]
    assert not missing, f"compose.yaml lacks {missing}"


@pytest.mark.parametrize("name", HTTP_SERVICES)
def test_compose_http_service_is_checked_on_healthz_at_its_port(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    port = HTTP_SERVICES[name][1]
    assert _port_flag(service["command"]) == port
    check = service.get("healthcheck", {})
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    probe = " ".join(check["test"])
    assert f"127.0.0.1:{port}/healthz" in probe, f"{name}: healthcheck does not ask /healthz"
    assert service.get("restart") == "unless-stopped"


def test_compose_long_running_services_restart(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name == "migrate":
            continue
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"
    assert all("healthcheck" in services[name] for name in ("postgres", "redis"))


def test_compose_migrate_is_one_shot_and_everything_waits_for_it(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["python", "-m", "optrade.db.migrate", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", f"{name} starts before migrate"


def test_compose_has_exactly_one_beat_and_it_cannot_scale(services: dict[str, Any]) -> None:
    beats = [name for name, s in services.items() if "beat" in s.get("command", [])]
    assert beats == ["quality-beat"]
    beat = services["quality-beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1
    # A fixed container name makes `--scale quality-beat=2` an error instead of a second beat.
    assert beat.get("container_name")


def test_compose_worker_can_scale(services: dict[str, Any]) -> None:
    worker = services["quality-worker"]
    assert "worker" in worker["command"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("healthcheck", {}).get("test"), "worker needs its own health check"


def test_compose_production_wiring(services: dict[str, Any]) -> None:
    for name in ("migrate", *APP_SERVICES):
        env = services[name]["environment"]
        assert env["APP_ENV"] == "production", name
        assert env["API_KEY"].startswith("${API_KEY:?"), f"{name}: API_KEY must be required"
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0", name
        assert env["CELERY_RESULT_BACKEND"] == "redis://redis:6379/1", name
    order = services["order"]["environment"]
    assert order["MARKET_DATA_CLIENT_PRIMARY_URL"] == "http://market-data-primary:8001"
    assert order["MARKET_DATA_CLIENT_FALLBACK_URL"] == "http://market-data-fallback:8002"
    assert services["market-data-primary"]["environment"]["MARKET_DATA_INSTANCE"] == "primary"
    assert services["market-data-fallback"]["environment"]["MARKET_DATA_INSTANCE"] == "fallback"
    # The worker's daily backfill reaches the order service by its compose name.
    assert services["quality-worker"]["environment"]["ORDER_SERVICE_URL"] == "http://order:8000"


def test_compose_state_lives_in_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    volumes = set(compose["volumes"])
    for name in ("postgres", "redis", "quality-beat"):
        named = {m.split(":", 1)[0] for m in services[name]["volumes"]}
        assert named <= volumes, f"{name}: volume not declared at top level"


# --- Kubernetes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", HTTP_SERVICES)
def test_k8s_http_deployment_probes_and_service(k8s: list[dict[str, Any]], name: str) -> None:
    port = HTTP_SERVICES[name][1]
    container = _container(_resource(k8s, "Deployment", name))
    assert _port_flag(container["command"]) == port
    readiness = container["readinessProbe"]["httpGet"]
    liveness = container["livenessProbe"]["httpGet"]
    assert (readiness["path"], readiness["port"]) == ("/readyz", port)
    assert (liveness["path"], liveness["port"]) == ("/healthz", port)
    service = _resource(k8s, "Service", name)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}


def _pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def test_k8s_every_pod_is_non_root_with_resources(k8s: list[dict[str, Any]]) -> None:
    pods = dict(_pod_specs(k8s))
    assert set(APP_SERVICES) | {"optrade-migrate"} <= set(pods)
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"].get("runAsUser", 0) != 0, name
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            env_from = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
            assert env_from == {"optrade-config", "optrade-secrets"}, name


def test_k8s_deployments_scale_by_replicas(k8s: list[dict[str, Any]]) -> None:
    for name in (*HTTP_SERVICES, "quality-worker"):
        deployment = _resource(k8s, "Deployment", name)
        assert deployment["spec"]["replicas"] >= 1, name
        assert deployment["spec"].get("strategy", {}).get("type") != "Recreate", name


def test_k8s_exactly_one_beat_never_overlapping(k8s: list[dict[str, Any]]) -> None:
    beats = [
        d["metadata"]["name"]
        for d in k8s
        if d["kind"] == "Deployment" and "beat" in _container(d)["command"]
    ]
    assert beats == ["quality-beat"]
    beat = _resource(k8s, "Deployment", "quality-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"


def test_k8s_migrate_job(k8s: list[dict[str, Any]]) -> None:
    job = _resource(k8s, "Job", "optrade-migrate")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert pod["containers"][0]["command"] == ["python", "-m", "optrade.db.migrate", "upgrade"]


def test_k8s_secret_and_config_are_split(k8s: list[dict[str, Any]]) -> None:
    secret = _resource(k8s, "Secret", "optrade-secrets")
    assert {"API_KEY", "DATABASE_URL"} <= set(secret["stringData"])
    config = _resource(k8s, "ConfigMap", "optrade-config")["data"]
    assert config["APP_ENV"] == "production"
    assert not {"API_KEY", "DATABASE_URL"} & set(config), "secrets belong in the Secret"
    assert config["MARKET_DATA_CLIENT_PRIMARY_URL"] == "http://market-data-primary:8001"
    assert config["MARKET_DATA_CLIENT_FALLBACK_URL"] == "http://market-data-fallback:8002"
    assert config["ORDER_SERVICE_URL"] == "http://order:8000"
    assert all(d["metadata"]["namespace"] == "optrade" for d in k8s if d["kind"] != "Namespace")


def test_k8s_kustomization_leaves_out_secret_and_job() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert all((K8S / name).is_file() for name in resources)
    # Placeholders must never overwrite a real Secret; the Job runs before the rollout.
    assert "secret.yaml" not in resources and "migrate-job.yaml" not in resources
    listed = set(resources) | {"secret.yaml", "migrate-job.yaml", "kustomization.yaml"}
    assert {p.name for p in K8S.glob("*.yaml")} == listed


# --- Dockerfile ----------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    instructions = _dockerfile_instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) >= 2 and re.search(r"\bAS builder\b", stages[0], re.I)
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    users = [args for op, args in instructions[last_from:] if op == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    copies = [args for op, args in instructions[last_from:] if op == "COPY"]
    assert copies == ["--from=builder /app/.venv /app/.venv"], "runtime copies only the venv"
    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert "uv==0.13.8" in runs and "uv sync --frozen --no-dev" in runs
    healthcheck = " ".join(args for op, args in instructions if op == "HEALTHCHECK")
    assert "urllib" in healthcheck and "/healthz" in healthcheck


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    patterns = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    for needed in ("pyproject.toml", "uv.lock", "shared/src/", "services/*/src/"):
        assert f"!{needed}" in patterns
    assert "**/.env" in patterns


# --- commands name modules that exist ------------------------------------------------------


def _module_refs(argv: list[str]) -> Iterator[tuple[str, str | None]]:
    """(module, attribute) named by a uvicorn, celery or `python -m` command line."""
    for i, arg in enumerate(argv):
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if arg.endswith("uvicorn") and ":" in following:
            module, attr = following.split(":", 1)
            yield module, attr
        elif arg in ("-A", "--app"):
            yield following, None
        elif arg.startswith("--app="):
            yield arg.split("=", 1)[1], None
        elif arg == "-m" and argv[0].startswith("python"):
            yield following, None


def _commands() -> Iterator[list[str]]:
    for service in _load_compose()["services"].values():
        if isinstance(service.get("command"), list):
            yield service["command"]
        test = service.get("healthcheck", {}).get("test")
        if test and test[0] == "CMD-SHELL":
            yield shlex.split(test[1])
    for doc in _load_k8s():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            yield container["command"]
            probe = container.get("livenessProbe", {}).get("exec", {}).get("command")
            if probe:
                yield shlex.split(probe[-1]) if probe[0] == "sh" else probe


def _referenced_modules() -> list[tuple[str, str | None]]:
    return sorted({ref for argv in _commands() for ref in _module_refs(argv)}, key=str)


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    for root in SOURCE_ROOTS:
        path = root.joinpath(*parts)
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def test_commands_name_modules() -> None:
    modules = {module for module, _ in _referenced_modules()}
    assert {
        "market_data_service.main",
        "order_service.main",
        "quality_service.main",
        "quality_service.celery_app",
        "optrade.db.migrate",
    } <= modules


@pytest.mark.parametrize(
    ("module", "attr"),
    _referenced_modules(),
    ids=[f"{m}:{a}" if a else m for m, a in _referenced_modules()],
)
def test_command_module_exists(module: str, attr: str | None) -> None:
    package = module.split(".", 1)[0]
    assert _module_file(package) is not None, f"no package {package!r} in the repository"
    path = _module_file(module)
    assert path is not None, f"a deployment runs {module}, which package {package} lacks"
    source = path.read_text()
    if attr:
        assert re.search(rf"^(async\s+)?def {attr}\b|^{attr}\s*[:=]", source, re.M), (
            f"{path.relative_to(REPO)} defines no {attr}"
        )
    elif module.endswith("celery_app"):
        assert "Celery" in source, f"{path.relative_to(REPO)} creates no Celery app"


# --- one image per role --------------------------------------------------------------------

# Image (without registry or tag) -> the workspace package it is built from (build arg PACKAGE).
IMAGES = {
    "optrade-market-data": "market-data-service",
    "optrade-order": "order-service",
    "optrade-quality": "quality-service",
    "optrade-migrate": "optrade-shared",
}
# The Python package a workspace package provides, i.e. what its image can import.
PROVIDES = {
    "market-data-service": {"market_data_service", "optrade"},
    "order-service": {"order_service", "optrade"},
    "quality-service": {"quality_service", "optrade"},
    "optrade-shared": {"optrade"},
}
HEAVY = {"pyarrow", "scipy", "numpy", "pandas"}


def _image_name(image: str) -> str:
    image = image.removeprefix("${OPTRADE_REGISTRY:-}")
    return image.rsplit("/", 1)[-1].split(":", 1)[0]


def _lock_closure(package: str) -> set[str]:
    """Every package `package` needs at run time, per uv.lock (extras followed, dev left out)."""
    import tomllib

    lock = {p["name"]: p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    seen: set[str] = set()
    pending = [(package, ())]
    while pending:
        name, extras = pending.pop()
        entry = lock[name]
        wanted = list(entry.get("dependencies", []))
        for extra in extras:
            wanted += entry.get("optional-dependencies", {}).get(extra, [])
        for dep in wanted:
            key = (dep["name"], tuple(dep.get("extra", ())))
            if dep["name"] not in seen or key[1]:
                seen.add(dep["name"])
                pending.append(key)
    return seen


def test_the_migrate_image_carries_no_numeric_stack() -> None:
    closure = _lock_closure("optrade-shared")
    assert "sqlalchemy" in closure  # the walk itself works
    assert not closure & HEAVY, sorted(closure & HEAVY)


def test_the_quality_image_carries_only_the_export_writers_stack() -> None:
    """The certified export is written by the training export's writer (`optrade.export`:
    pyarrow, numpy) and models are scored with scipy; no pandas."""
    closure = _lock_closure("quality-service")
    assert closure & HEAVY == {"pyarrow", "numpy", "scipy"}, sorted(closure & HEAVY)


def test_the_quality_worker_and_beat_never_load_the_numeric_stack() -> None:
    """Only the export (the API's route, a training run's file) loads the writer's pyarrow: the
    worker and beat processes start without it."""
    probe = (
        "import sys, quality_service.celery_app, quality_service.worker, quality_service.beat; "
        "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == "[]"


def test_the_order_and_market_data_images_carry_what_they_import() -> None:
    assert {"pyarrow", "numpy"} <= _lock_closure("order-service")
    assert {"scipy", "numpy"} <= _lock_closure("market-data-service")


def _workloads() -> Iterator[tuple[str, str, list[str], str | None]]:
    """(where, image name, command, build PACKAGE) of every Optrade process in compose and k8s."""
    for name, service in _load_compose()["services"].items():
        if name in APP_SERVICES or name == "migrate":
            package = service["build"]["args"]["PACKAGE"]
            yield f"compose {name}", _image_name(service["image"]), service["command"], package
    for doc in _load_k8s():
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                image = _image_name(container["image"])
                yield f"k8s {doc['metadata']['name']}", image, container["command"], None


def test_every_process_runs_the_image_of_the_package_it_imports() -> None:
    seen = set()
    for where, image, command, package in _workloads():
        assert image in IMAGES, (where, image)
        if package is not None:
            assert package == IMAGES[image], (where, package)
        for module, _ in _module_refs(command):
            assert module.split(".")[0] in PROVIDES[IMAGES[image]], (where, image, module)
        seen.add(image)
    assert seen == set(IMAGES)


def test_the_dockerfile_installs_only_the_named_package() -> None:
    runs = [args for op, args in _dockerfile_instructions() if op == "RUN" and "uv sync" in args]
    assert len(runs) == 2 and all('--package "$PACKAGE"' in run for run in runs), runs


def test_a_command_naming_a_missing_module_fails_rather_than_skipping() -> None:
    with pytest.raises(AssertionError, match="order_service.not_there"):
        test_command_module_exists("order_service.not_there", None)
