"""The deployment files (environment.yml, Dockerfile, docker-compose.yml) agree with pyproject.toml.

No Docker daemon or conda here: the files are parsed and their dependency lists, torch pin,
build targets, services and settings compared with the project's own.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
DEPLOY_EXTRAS = {"postgres", "scaleout", "ray"}
"""The optional groups a deployment installs (``dev`` is for working on voxforge)."""
CONDA_NAMES = {"redis-py": "redis"}
"""conda-forge packages whose PyPI name differs."""


def _key(req: Requirement) -> tuple[str, str, str, str]:
    name = re.sub(r"[-_.]+", "-", req.name).lower()
    return name, ",".join(sorted(req.extras)), str(req.specifier), str(req.marker or "")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _torch_pin() -> str:
    pins = set(re.findall(r"torch==([\d.]+)", (REPO / "Makefile").read_text()))
    assert len(pins) == 1, pins
    return pins.pop()


def _expected() -> set[tuple[str, str, str, str]]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for group in sorted(DEPLOY_EXTRAS):
        reqs += project["optional-dependencies"][group]
    # the deployments install the CPU build of torch the Makefile pins, which meets the
    # package's own torch requirement
    torch = [Requirement(r) for r in reqs if Requirement(r).name == "torch"]
    assert all(t.specifier.contains(_torch_pin()) for t in torch), torch
    reqs = [r for r in reqs if Requirement(r).name != "torch"] + [f"torch=={_torch_pin()}"]
    return {_key(Requirement(r)) for r in reqs}


def test_deployments_install_every_optional_group_but_dev() -> None:
    assert set(_pyproject()["project"]["optional-dependencies"]) == DEPLOY_EXTRAS | {"dev"}


def test_environment_yml_lists_the_pyproject_dependencies() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = next(d for d in conda if d.startswith("python="))
    assert python == "python=" + _pyproject()["project"]["requires-python"].removeprefix(">=")
    found = []
    for spec in conda:
        if spec.startswith(("python=", "pip")) and not re.match(r"pip[<>=]", spec):
            continue
        name, rest = re.match(r"([A-Za-z0-9_.-]+)(.*)", spec).groups()  # type: ignore[union-attr]
        found.append(_key(Requirement(CONDA_NAMES.get(name, name) + rest)))
    found += [_key(Requirement(p)) for p in pip if not p.startswith("-")]
    assert len(found) == len(set(found)), "a package is listed twice"
    assert set(found) == _expected()
    assert "--editable ." in pip


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_dockerfile_has_a_server_and_a_worker_image_with_the_same_environment() -> None:
    text = _dockerfile()
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", text, re.M)
    assert [s for _, s in stages] == ["base", "server", "worker"]
    assert dict((s, b) for b, s in stages)["server"] == "base"
    assert dict((s, b) for b, s in stages)["worker"] == "base"
    version = re.search(r"ARG PYTHON_VERSION=([\d.]+)", text).group(1)  # type: ignore[union-attr]
    assert version == _pyproject()["project"]["requires-python"].removeprefix(">=")
    assert f"pip install torch=={_torch_pin()} --index-url https://download.pytorch.org/whl/cpu" in text
    extras = re.findall(r'pip install "\.\[([a-z,]+)\]"', text)
    assert len(extras) == 1 and set(extras[0].split(",")) == DEPLOY_EXTRAS
    assert re.search(r'CMD \["voxforge", "serve", "--host", "0.0.0.0"', text)
    assert "ray start --address" in text


def test_compose_runs_servers_workers_and_the_shared_services() -> None:
    from voxforge.service.settings import ENV, ServiceSettings

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"server", "worker", "ray-head", "redis", "postgres", "minio", "proxy"} <= set(services)
    assert services["server"]["build"]["target"] == "server"
    assert services["worker"]["build"]["target"] == "worker"
    env = services["server"]["environment"]
    known = {var for var, _ in ENV.values()}
    assert set(k for k in env if k.startswith("VOXFORGE_")) <= known
    ServiceSettings.from_env({k: v for k, v in env.items() if k.startswith("VOXFORGE_")})
    for var, host in [
        ("VOXFORGE_DATABASE_URL", "postgres"),
        ("VOXFORGE_REDIS_URL", "redis"),
        ("VOXFORGE_S3_ENDPOINT_URL", "minio"),
    ]:
        assert re.search(rf"(//|@|^){host}:", env[var]), (var, env[var])
    assert env["VOXFORGE_RAY_ADDRESS"] == "auto"  # the server container joins the cluster first
    assert "ray start --address=ray-head:6379" in services["server"]["command"][-1]
    assert "voxforge serve" in services["server"]["command"][-1]
    assert env["VOXFORGE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["postgres"]["environment"]["POSTGRES_DB"] in env["VOXFORGE_DATABASE_URL"]
    assert env["AWS_ACCESS_KEY_ID"] == services["minio"]["environment"]["MINIO_ROOT_USER"]
    # every node that runs jobs sees the job folders at the server's data dir
    for name in ("server", "worker", "ray-head"):
        mounts = [v.split(":") for v in services[name]["volumes"]]
        assert [m[1] for m in mounts if m[0] == "jobs"] == [env["VOXFORGE_DATA_DIR"]], name
    assert (REPO / services["proxy"]["volumes"][0].split(":")[0]).is_file()


@pytest.mark.parametrize("name", ["environment.yml", "docker-compose.yml"])
def test_deploy_docs_name_the_files(name: str) -> None:
    assert name in (REPO / "docs" / "deploy.md").read_text()
