"""The Blender add-on in Debian's Blender, headless: install the zip ``make blender-addon`` makes,
import a brickify output folder and a mesh job from the real service, brickify a cube.

Slow (Blender starts, voxforge runs as its subprocess); skips when ``blender`` is not installed
(``apt-get install blender``; ``.ci/run`` installs it and runs ``make test-blender``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trimesh

REPO = Path(__file__).resolve().parents[2]
BLENDER = shutil.which("blender")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BLENDER is None, reason="blender not installed (apt-get install blender)"),
]


def build_addon_zip(dest: Path) -> Path:
    """The zip ``make blender-addon`` writes (same command), into ``dest``."""
    out = dest / "voxforge_blender.zip"
    subprocess.run(
        [sys.executable, "-m", "zipfile", "-c", str(out), "voxforge_blender"],
        cwd=REPO / "blender_addon",
        check=True,
    )
    return out


def voxforge_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["VOXFORGE_COMMAND"] = f"{sys.executable} -m voxforge"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The real app on a free port (uvicorn in a thread); its URL and a user's key."""
    import uvicorn

    from voxforge.service.app import create_app
    from voxforge.service.auth import create_user
    from voxforge.service.settings import ServiceSettings

    settings = ServiceSettings(
        data_dir=tmp_path_factory.mktemp("blender-data"),
        runner="thread",
        workers=1,
        poll_interval_s=0.05,
    )
    app = create_app(settings)
    _, key = create_user(app.state.voxforge.db, "blender-test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def mesh_job(url: str, key: str, tmp: Path) -> str:
    """A finished mesh job of a small box on the service; its id."""
    box = tmp / "box.stl"
    trimesh.creation.box(extents=(40.0, 30.0, 20.0)).export(box)  # millimetres
    params = {"pipeline": "mesh", "make": {"method": "remesh", "resolution": 24}, "levels": 2}
    headers = {"Authorization": f"Bearer {key}"}
    with box.open("rb") as f:
        r = httpx.post(
            f"{url}/v1/jobs",
            headers=headers,
            files={"file": ("box.stl", f)},
            data={"params": json.dumps(params)},
        )
    assert r.status_code in (200, 201, 202), r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 120
    while (job := httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers).json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job["status"] == "succeeded", job.get("error")
    return job_id


def test_addon_imports_jobs_and_brickifies(tmp_path: Path, service: tuple[str, str]) -> None:
    url, key = service
    env = voxforge_env()
    box = tmp_path / "cube.stl"
    trimesh.creation.box(extents=(32.0, 32.0, 19.2)).export(box)
    folder = tmp_path / "bricks"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "voxforge",
            "brickify",
            str(box),
            "-o",
            str(folder),
            "--width-studs",
            "4",
            "--instructions",
            "none",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    addon = build_addon_zip(tmp_path)
    assert "voxforge_blender/__init__.py" in zipfile.ZipFile(addon).namelist()
    result = tmp_path / "result.json"
    env.update(
        VOXFORGE_ADDON_ZIP=str(addon),
        VOXFORGE_FOLDER=str(folder),
        VOXFORGE_API_URL=url,
        VOXFORGE_API_KEY=key,
        VOXFORGE_JOB=mesh_job(url, key, tmp_path),
        BLENDER_USER_CONFIG=str(tmp_path / "blender-config"),
        BLENDER_USER_SCRIPTS=str(tmp_path / "blender-scripts"),
    )
    script = Path(__file__).with_name("blender_script.py")
    done = subprocess.run(
        [
            BLENDER,
            "-b",
            "--factory-startup",
            "--python-exit-code",
            "1",
            "--python",
            str(script),
            "--",
            str(result),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and result.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(result.read_text())
    assert report["enabled"]
    # The brickify folder: one object per part, LEGO colours as materials.
    parts = sum(1 for line in (folder / "model.mpd").read_text().splitlines() if line.startswith("1 "))
    assert report["folder"]["status"] == ["FINISHED"] and report["folder"]["objects"] == parts
    assert report["folder"]["materials"] and all(
        m.startswith("LEGO ") for m in report["folder"]["materials"]
    )
    # The mesh job from the service, level 1 of its LOD chain (a 40 x 30 x 20 mm box).
    assert report["api"]["status"] == ["FINISHED"] and report["api"]["objects"] == 1
    assert sorted(report["api"]["dimensions"]) == pytest.approx([0.02, 0.03, 0.04], abs=0.004)
    assert "401" in report["bad_key"] or "403" in report["bad_key"]
    # Brickify selected: a 4 x 4 stud, 2-brick cube comes back part by part.
    assert report["brickify"]["status"] == ["FINISHED"] and report["brickify"]["objects"] >= 2
    assert all(m.startswith("LEGO ") for m in report["brickify"]["materials"])
