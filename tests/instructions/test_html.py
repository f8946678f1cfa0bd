from pathlib import Path

import pytest

from voxforge.core.outputs import OutputDir
from voxforge.instructions.booklet import InstructionsConfig, layer_plan, write_instructions

from .models import random_stack

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
def test_html_navigates_with_buttons_and_keys_offline(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    model = random_stack(side=4, layers=2, seed=2)
    plan = layer_plan(model, 4)
    cfg = InstructionsConfig(formats=["html"], image_size=128)
    with OutputDir(tmp_path / "o") as od:
        write_instructions(model, plan, od, "Nav", cfg)
    pages = 2 + len(plan.steps) + 1  # cover, parts, steps, finished
    requests = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto((tmp_path / "o" / "instructions.html").as_uri())
        assert page.inner_text("#where") == f"Cover (1 / {pages})"
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert page.inner_text("#where") == f"Step 1 (3 / {pages})"
        assert page.evaluate("location.hash") == "#s1"
        # the step picture comes from steps/ beside the page, loaded when its page is shown
        img = page.locator("section.current img")
        img.evaluate("img => img.decode()")
        assert img.evaluate("img => img.naturalWidth") > 0
        assert img.get_attribute("loading") == "lazy"
        page.click("#prev")
        assert page.inner_text("#where").startswith("Parts")
        page.keyboard.press("End")
        assert page.inner_text("#where") == f"Finished ({pages} / {pages})"
        assert page.is_disabled("#next")
        browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests)
