"""API tests for every route: jobs end to end, events, artifacts, auth isolation, limits, bad input."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import yaml
from PIL import Image

from voxforge.service.app import WEB_DIR

from .conftest import add_key, read_events, running_app, submit, wait_for

BRICKIFY_OUTPUTS = {
    "model.mpd",
    "bom.csv",
    "bricklink.xml",
    "rebrickable.csv",
    "summary.json",
    "preview.png",
    "model.glb",
    "grid.npz",
    "config.yaml",
}


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_brickify_job_runs_and_serves_every_artifact(client, alice, box_stl):
    params = {
        "pipeline": "brickify",
        "width_studs": 8,
        "colors": 2,
        "hollow": 0,
        "preview_size": 128,
        "classify": False,
    }
    r = submit(client, alice, params, box_stl)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["progress"] == 0.0 and job["artifacts"] == []
    assert job["pipeline"] == "brickify" and job["finished_at"] is None and job["error"] is None
    assert set(job) == {
        "id",
        "pipeline",
        "status",
        "stage",
        "progress",
        "created_at",
        "finished_at",
        "error",
        "artifacts",
        "input_name",
    }
    assert job["input_name"] == "box.stl"

    done = wait_for(client, alice, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1.0 and done["stage"] == "write"
    assert done["finished_at"] >= done["created_at"]
    arts = {a["name"]: a for a in done["artifacts"]}
    manifest = client.app.state.voxforge.storage.read_manifest(job["id"])
    assert list(arts) == [o["name"] for o in manifest]  # every output the pipeline listed
    assert BRICKIFY_OUTPUTS <= set(arts)
    for name, a in arts.items():
        assert a["url"] == f"/v1/jobs/{job['id']}/artifacts/{name}"
        got = client.get(a["url"], headers=alice)
        assert got.status_code == 200
        assert len(got.content) == a["size"]
        assert got.headers["content-type"].split(";")[0] == a["media_type"]
    assert arts["preview.png"]["media_type"] == "image/png"
    summary = client.get(arts["summary.json"]["url"], headers=alice).json()
    assert summary["size"]["studs"][0] == 8
    # the web page's shortcuts landed on the config fields docs/api.md names
    config = yaml.safe_load(client.get(arts["config.yaml"]["url"], headers=alice).text)
    assert config["voxel"]["width_studs"] == 8
    assert config["colors"]["mode"] == 2
    assert config["voxel"]["hollow"] is None
    assert len(summary["colors"]) <= 2

    listed = client.get("/v1/jobs", headers=alice).json()
    assert [j["id"] for j in listed] == [job["id"]]
    assert listed[0] == done


def test_events_arrive_in_order_and_end_with_the_terminal_event(client, alice, box_stl):
    job = submit(client, alice, {"pipeline": "echo", "steps": 5, "delay_s": 0.02}, box_stl).json()
    events = read_events(client, alice, job["id"])  # returns only when the server ends the stream
    names = [e["event"] for e in events]
    assert names[:2] == ["queued", "running"]
    assert names[-1] == "succeeded"
    assert set(names[2:-1]) == {"progress"} and len(names) >= 7
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["data"]["id"] for e in events] == ids
    progress = [e["data"]["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert all(e["data"]["job_id"] == job["id"] for e in events)
    assert [e["data"]["status"] for e in events][-1] == "succeeded"
    # resuming after the second event replays exactly the rest
    resumed = read_events(client, {**alice, "Last-Event-ID": str(ids[1])}, job["id"])
    assert [int(e["id"]) for e in resumed] == ids[2:]


def test_failed_job_says_why(client, alice, box_stl):
    job = submit(client, alice, {"pipeline": "echo", "fail": True}, box_stl).json()
    done = wait_for(client, alice, job["id"])
    assert done["status"] == "failed"
    assert done["error"] == "echo: asked to fail"
    assert done["artifacts"] == [] and done["finished_at"] is not None
    events = read_events(client, alice, job["id"])
    assert events[-1]["event"] == "failed"
    assert events[-1]["data"]["message"] == "echo: asked to fail"


def test_keys_are_required_and_checked(client, alice, box_stl):
    job = submit(client, alice, {"pipeline": "echo"}, box_stl).json()
    for headers in ({}, {"Authorization": "Bearer vf_wrong"}, {"Authorization": "Basic abc"}):
        r = client.get(f"/v1/jobs/{job['id']}", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "detail" in r.json()
    assert client.get("/v1/jobs").status_code == 401
    assert submit(client, {}, {"pipeline": "echo"}, box_stl).status_code == 401


def test_revoked_key_is_refused(client, box_stl):
    from voxforge.service.auth import revoke_user

    carol = add_key(client, "carol")
    assert client.get("/v1/jobs", headers=carol).status_code == 200
    revoke_user(client.app.state.voxforge.db, "carol")
    r = client.get("/v1/jobs", headers=carol)
    assert r.status_code == 401 and r.json() == {"detail": "unknown or revoked API key"}


def test_another_key_sees_nothing_of_a_job(client, alice, bob, box_stl):
    job = submit(client, alice, {"pipeline": "echo"}, box_stl).json()
    done = wait_for(client, alice, job["id"])
    url = done["artifacts"][0]["url"]
    unknown = client.get("/v1/jobs/0123456789abcdef0123456789abcdef", headers=bob)
    assert unknown.status_code == 404
    for method, path in [
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/events"),
        ("GET", url),
        ("DELETE", f"/v1/jobs/{job['id']}"),
    ]:
        r = client.request(method, path, headers=bob)
        assert r.status_code == 404, (method, path)
        assert r.json() == {"detail": f"no job {job['id']}"}
    assert client.get("/v1/jobs", headers=bob).json() == []
    assert client.get(f"/v1/jobs/{job['id']}", headers=alice).json()["status"] == "succeeded"


def test_artifact_names_with_one_slash_and_no_traversal(client, alice, box_stl):
    job = submit(client, alice, {"pipeline": "echo"}, box_stl).json()
    done = wait_for(client, alice, job["id"])
    assert [a["name"] for a in done["artifacts"]] == ["echo.json", "steps/step_001.png"]
    base = f"/v1/jobs/{job['id']}/artifacts/"
    r = client.get(base + "steps/step_001.png", headers=alice)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (4, 4)
    echo = client.get(base + "echo.json", headers=alice).json()
    assert echo["size"] == len(box_stl)
    for bad in [
        "..%2F..%2Fvoxforge.db",
        "steps%2F..%2F..%2Finput%2Fbox.stl",
        "%2Fetc%2Fpasswd",
        "steps/step_001.png/x",
        "manifest.json",
        "nope.png",
    ]:
        r = client.get(base + bad, headers=alice)
        assert r.status_code == 404, bad
        assert "no artifact" in r.json()["detail"]


def test_delete_removes_a_finished_job_and_its_files(client, alice, box_stl):
    job = submit(client, alice, {"pipeline": "echo"}, box_stl).json()
    wait_for(client, alice, job["id"])
    job_dir = client.app.state.voxforge.storage.job_dir(job["id"])
    assert (job_dir / "output" / "manifest.json").is_file()
    r = client.delete(f"/v1/jobs/{job['id']}", headers=alice)
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"/v1/jobs/{job['id']}", headers=alice).status_code == 404
    assert not job_dir.exists()
    assert client.delete(f"/v1/jobs/{job['id']}", headers=alice).status_code == 404


def test_delete_stops_a_running_job(client, alice, box_stl):
    job = submit(client, alice, {"pipeline": "echo", "steps": 100, "delay_s": 0.05}, box_stl).json()
    end = time.monotonic() + 10
    while client.get(f"/v1/jobs/{job['id']}", headers=alice).json()["status"] != "running":
        assert time.monotonic() < end
        time.sleep(0.02)
    assert client.delete(f"/v1/jobs/{job['id']}", headers=alice).status_code == 204
    time.sleep(0.2)  # the job notices at its next progress report
    assert not client.app.state.voxforge.storage.job_dir(job["id"]).exists()
    assert client.get("/v1/jobs", headers=alice).json() == []


def test_upload_over_the_limit_is_413_and_leaves_nothing(tmp_path, box_stl):
    with running_app(tmp_path / "d", max_upload_bytes=400) as c:
        key = add_key(c, "alice")
        r = submit(c, key, {"pipeline": "echo"}, box_stl + b"\0" * 2000)
        assert r.status_code == 413
        assert r.json() == {"detail": "upload is over the limit of 400 bytes"}
        # a Content-Length far past the limit is refused before the body is read
        r = submit(c, key, {"pipeline": "echo"}, b"\0" * 400_000)
        assert r.status_code == 413
        assert r.json()["detail"].endswith("bytes is over the limit of 400 bytes")
        assert r.json()["detail"].startswith("upload of 400,")
        # chunked (no Content-Length): refused while streaming
        boundary = "xyzzy"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="params"\r\n\r\n'
            '{"pipeline": "echo"}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.stl"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

        def body():
            yield head
            for _ in range(10):
                yield b"\0" * 100
            yield f"\r\n--{boundary}--\r\n".encode()

        r = c.post(
            "/v1/jobs",
            headers={**key, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=body(),
        )
        assert r.status_code == 413
        assert r.json() == {"detail": "upload is over the limit of 400 bytes"}
        assert list((tmp_path / "d" / "jobs").iterdir()) == []
        assert c.get("/v1/jobs", headers=key).json() == []
        # at the limit is fine
        assert submit(c, key, {"pipeline": "echo"}, box_stl[:400]).status_code != 413


@pytest.mark.parametrize(
    ("filename", "content", "pipeline", "expect"),
    [
        ("photo.png", "png", "brickify", "photo.png: a PNG image; the brickify pipeline takes scans"),
        ("box.stl", b"\x89PNG\r\n\x1a\n not really", "brickify", "content is not a scan"),
        ("box.stl", b"\x00\x01\x02junk" * 10, "classify", "content is not a scan"),
        ("empty.ply", b"", "brickify", "empty.ply: file is empty"),
    ],
)
def test_unsupported_content_is_415(client, alice, filename, content, pipeline, expect):
    content = png_bytes() if content == "png" else content
    r = submit(client, alice, {"pipeline": pipeline}, content, filename)
    assert r.status_code == 415
    assert expect in r.json()["detail"]
    assert client.get("/v1/jobs", headers=alice).json() == []


def test_wrong_content_type_is_415(client, alice):
    r = client.post("/v1/jobs", headers={**alice, "Content-Type": "text/plain"}, content=b"hi")
    assert r.status_code == 415
    assert "multipart/form-data" in r.json()["detail"]


def test_an_image_reaches_a_pipeline_that_takes_images(client, alice):
    r = submit(client, alice, {"pipeline": "echo"}, png_bytes(), "sketch.png")
    assert r.status_code == 202
    assert wait_for(client, alice, r.json()["id"])["status"] == "succeeded"


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"pipeline": "brickify", "width_studs": -1}, "width_studs: Input should be greater than"),
        ({"pipeline": "brickify", "voxel": {"hollow": 0}}, "voxel.hollow: Input should be greater"),
        ({"pipeline": "brickify", "bogus": 1}, "bogus: Extra inputs are not permitted"),
        (
            {"pipeline": "brickify", "width_studs": 8, "voxel": {"width_studs": 9}},
            "width_studs and voxel.width_studs both given",
        ),
        ({"pipeline": "brickfy"}, "unknown pipeline 'brickfy'; did you mean brickify"),
        ({"width_studs": 8}, "pipeline: missing"),
        ({"pipeline": "classify", "model": "../../etc/passwd"}, "model: String should match"),
    ],
)
def test_invalid_options_are_422_naming_the_field(client, alice, box_stl, params, expect):
    r = submit(client, alice, params, box_stl)
    assert r.status_code == 422
    assert expect in r.json()["detail"]
    assert list((client.app.state.voxforge.settings.data_dir / "jobs").iterdir()) == []


def test_malformed_params_and_missing_parts(client, alice, box_stl):
    r = client.post(
        "/v1/jobs", headers=alice, files={"file": ("b.stl", box_stl)}, data={"params": "{not json"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("params: not valid JSON")
    r = client.post("/v1/jobs", headers=alice, files={"file": ("b.stl", box_stl)})
    assert r.status_code == 422 and r.json()["detail"].startswith("params: missing")
    r = client.post(
        "/v1/jobs",
        headers=alice,
        files={"other": ("b.stl", box_stl)},
        data={"params": '{"pipeline": "echo"}'},
    )
    assert r.status_code == 400 and "unexpected file field 'other'" in r.json()["detail"]
    r = client.post(
        "/v1/jobs", headers=alice, data={"params": '{"pipeline": "echo"}'}, files={"x": ("", b"")}
    )
    assert r.status_code in (400, 422)


def test_json_body_runs_a_text_pipeline_and_is_refused_by_file_pipelines(client, alice):
    r = client.post("/v1/jobs", headers=alice, json={"pipeline": "echotext", "prompt": "a red car"})
    assert r.status_code == 202
    done = wait_for(client, alice, r.json()["id"])
    assert [a["name"] for a in done["artifacts"]] == ["prompt.txt"]
    assert client.get(done["artifacts"][0]["url"], headers=alice).text == "a red car"
    r = client.post("/v1/jobs", headers=alice, json={"pipeline": "echotext", "prompt": ""})
    assert r.status_code == 422 and "prompt: String should have at least 1 character" in r.text
    r = client.post("/v1/jobs", headers=alice, json={"pipeline": "brickify"})
    assert r.status_code == 422 and r.json()["detail"].startswith("file: missing")
    r = client.post("/v1/jobs", headers={**alice, "Content-Type": "application/json"}, content=b"{")
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/v1/jobs", headers=alice, json=[1, 2])
    assert r.status_code == 422 and "expected a JSON object, found list" in r.json()["detail"]


def test_rate_limits_answer_429_with_retry_after(tmp_path, box_stl):
    with running_app(tmp_path / "d", jobs_per_minute=2, requests_per_minute=6) as c:
        key, other = add_key(c, "alice"), add_key(c, "bob")
        assert [submit(c, key, {"pipeline": "echo"}, box_stl).status_code for _ in range(3)] == [
            202,
            202,
            429,
        ]
        r = submit(c, key, {"pipeline": "echo"}, box_stl)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "too many" in r.json()["detail"]
        # the request bucket (6 a minute) is spent by the 4 posts and 2 gets
        codes = [c.get("/v1/jobs", headers=key).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert c.get("/v1/jobs", headers=other).status_code == 200  # per key


def test_healthz_pipelines_docs_and_web_page(client):
    assert client.get("/healthz").json() == {
        "status": "ok",
        "version": "0.1.0",
        "pipelines": client.app.state.voxforge.pipelines.names(),
    }
    pipes = {p["name"]: p for p in client.get("/v1/pipelines").json()}
    assert {"brickify", "classify", "echo"} <= set(pipes)
    assert pipes["brickify"]["shortcuts"] == {
        "width_studs": "voxel.width_studs",
        "colors": "colors.mode",
        "hollow": "voxel.hollow",
    }
    assert pipes["brickify"]["inputs"] == ["model"]
    assert "voxel" in pipes["brickify"]["options_schema"]["properties"]
    assert client.get("/docs").status_code == 404  # CDN JavaScript: off unless api_docs
    assert client.get("/redoc").status_code == 404
    spec = client.get("/openapi.json").json()
    assert {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/events",
        "/v1/jobs/{job_id}/artifacts/{name}",
        "/healthz",
    } <= set(spec["paths"])
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    page = client.get("/")
    if (WEB_DIR / "index.html").is_file():
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    else:
        assert page.status_code == 404 and "/docs" in page.json()["detail"]
    assert client.get("/static/does-not-exist.js").status_code == 404
    if (WEB_DIR / "static" / "app.js").is_file():  # the bundle goes out compressed
        js = client.get("/static/app.js", headers={"Accept-Encoding": "gzip"})
        assert js.headers["content-encoding"] == "gzip"
        assert js.content == (WEB_DIR / "static" / "app.js").read_bytes()
        assert js.num_bytes_downloaded < len(js.content) / 2


def test_list_filters_by_status_and_limits(client, alice, box_stl):
    ids = [
        submit(client, alice, {"pipeline": "echo", "fail": i == 1}, box_stl).json()["id"]
        for i in range(3)
    ]
    for i in ids:
        wait_for(client, alice, i)
    listed = client.get("/v1/jobs", headers=alice).json()
    assert [j["id"] for j in listed] == ids[::-1]
    failed = client.get("/v1/jobs?status=failed", headers=alice).json()
    assert [j["id"] for j in failed] == [ids[1]]
    assert len(client.get("/v1/jobs?limit=2", headers=alice).json()) == 2
    assert client.get("/v1/jobs?status=bogus", headers=alice).status_code == 422


@pytest.mark.slow  # loads torch and the shipped classifier (~10 s on 2 busy cores)
def test_classify_job_through_the_api(client, alice, box_stl):
    r = submit(client, alice, {"pipeline": "classify", "top": 2, "preview_size": 96}, box_stl)
    done = wait_for(client, alice, r.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    names = [a["name"] for a in done["artifacts"]]
    assert names == ["classification.json", "preview.png", "config.yaml"]
    data = client.get(done["artifacts"][0]["url"], headers=alice).json()
    assert len(data["top"]) == 2 and data["source"] == "box.stl"
    assert json.dumps(data)  # JSON-safe


def test_mesh_job_through_the_api(client, alice, box_stl):
    params = {
        "pipeline": "mesh",
        "input": {"units": "m"},  # STL means millimetres unless told
        "make": {"method": "remesh", "resolution": 24},
        "levels": 3,
    }
    r = submit(client, alice, params, box_stl)
    assert r.status_code in (200, 201, 202), r.text
    done = wait_for(client, alice, r.json()["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    names = {a["name"] for a in done["artifacts"]}
    assert {"mesh.glb", "mesh.stl", "lod0.glb", "lod2.glb", "lod_chain.glb", "report.json"} <= names
    url = next(a["url"] for a in done["artifacts"] if a["name"] == "report.json")
    report = client.get(url, headers=alice).json()
    assert report["check"]["watertight"] and report["print"]["printable"], report["print"]
    assert [lv["level"] for lv in report["lod"]] == [0, 1, 2]
    bad = submit(client, alice, {"pipeline": "mesh", "levels": 0}, box_stl)
    assert bad.status_code == 422 and "levels" in bad.text
