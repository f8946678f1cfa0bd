"""Fixtures of the service tests: a tiny mesh, apps on a temporary data dir, API keys."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trimesh
from fastapi.testclient import TestClient

from voxforge.service.app import create_app
from voxforge.service.auth import create_user
from voxforge.service.settings import ServiceSettings

from .helpers import test_pipelines


@pytest.fixture(scope="session")
def box_stl() -> bytes:
    """A 6 x 4 x 4 cm box as binary STL (12 triangles): 8 studs wide -> a ~1 s brickify job."""
    buf = io.BytesIO()
    trimesh.creation.box(extents=[0.06, 0.04, 0.04]).export(buf, file_type="stl")
    return buf.getvalue()


@contextmanager
def running_app(data_dir: Path, runner: Any = None, **settings: Any) -> Iterator[TestClient]:
    """A started app (thread runner unless ``runner`` is given) on ``data_dir``."""
    options = {"runner": "thread", "workers": 2, "poll_interval_s": 0.02, **settings}
    app = create_app(
        ServiceSettings(data_dir=data_dir, **options), pipelines=test_pipelines(), runner=runner
    )
    with TestClient(app) as client:
        yield client


def add_key(client: TestClient, name: str) -> dict[str, str]:
    """Create a user in the app's database; the Authorization header of its key."""
    _, key = create_user(client.app.state.voxforge.db, name)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with running_app(tmp_path / "data") as c:
        yield c


@pytest.fixture
def alice(client: TestClient) -> dict[str, str]:
    return add_key(client, "alice")


@pytest.fixture
def bob(client: TestClient) -> dict[str, str]:
    return add_key(client, "bob")


def submit(
    client: TestClient,
    headers: dict[str, str],
    params: dict[str, Any],
    content: bytes,
    filename: str = "box.stl",
) -> Any:
    """POST /v1/jobs with a multipart upload; returns the response."""
    import json

    return client.post(
        "/v1/jobs",
        headers=headers,
        files={"file": (filename, content)},
        data={"params": json.dumps(params)},
    )


def wait_for(client: TestClient, headers: dict[str, str], job_id: str, timeout: float = 60) -> dict:
    """Poll until the job is terminal; the job JSON."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def read_events(client: TestClient, headers: dict[str, str], job_id: str) -> list[dict]:
    """The whole SSE stream of a job: [{'id', 'event', 'data'}] in arrival order."""
    import json

    events: list[dict] = []
    current: dict[str, Any] = {}
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if current:
                    events.append(current)
                current = {}
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(": ")
                current[key] = json.loads(value) if key == "data" else value
    if current:
        events.append(current)
    return events


Submit = Callable[..., Any]
