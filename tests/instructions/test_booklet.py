import json
import re

import numpy as np
import pypdfium2 as pdfium
import pytest

from voxforge.bricks.order.plan import BuildPlan, BuildStep, SubAssembly
from voxforge.core.config import build_config
from voxforge.core.errors import ConfigError
from voxforge.core.outputs import OutputDir
from voxforge.instructions.booklet import (
    InstructionsConfig,
    build_minutes,
    content_box,
    layer_plan,
    make_booklet,
    write_instructions,
)
from voxforge.instructions.pdf import plan_pages

from .models import random_stack


def _plan_with_sub(model):
    """Layer steps of four parts; the last layer's last four parts built as sub-assembly "cap"."""
    base = layer_plan(model, 4)
    cap = base.steps[-1].parts
    sub = SubAssembly("cap", cap, (BuildStep(cap[:2]), BuildStep(cap[2:])))
    return BuildPlan((*base.steps[:-1], BuildStep(cap, submodel=0)), (sub,))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    model = random_stack(side=4, layers=2, seed=5)
    plan = _plan_with_sub(model)
    out = tmp_path_factory.mktemp("book") / "out"
    cfg = InstructionsConfig(image_size=192, steps_per_page=1)
    with OutputDir(out) as od:
        figures = write_instructions(model, plan, od, "Tiny stack", cfg)
    return model, plan, out, figures


def test_config_accepts_format_lists_and_strings():
    assert InstructionsConfig().formats == ["pdf", "html", "steps"]
    assert InstructionsConfig(formats="html, pdf").formats == ["pdf", "html"]
    assert InstructionsConfig(formats="none").formats == []
    assert InstructionsConfig(formats=[]).formats == []
    with pytest.raises(ConfigError, match="formats"):
        build_config(InstructionsConfig, {"formats": "pdf,epub"})
    with pytest.raises(ConfigError, match="steps_per_page"):
        build_config(InstructionsConfig, {"steps_per_page": 3})


def test_layer_plan_goes_bottom_up_in_small_steps():
    model = random_stack(seed=1)
    plan = layer_plan(model, 5)
    plan.validate(len(model))
    z = [max(model.placements[i].z for i in s.parts) for s in plan.steps]
    assert z == sorted(z) and max(len(s.parts) for s in plan.steps) == 5
    with pytest.raises(ConfigError):
        layer_plan(model, 0)


def test_steps_folder_and_json_follow_the_plan(written):
    model, plan, out, figures = written
    doc = json.loads((out / "instructions.json").read_text())
    assert doc["title"] == "Tiny stack"
    assert [s["number"] for s in doc["steps"]] == list(range(1, len(plan.steps) + 1))
    assert doc["steps"][-1]["submodel"] == "cap" and doc["steps"][0]["submodel"] is None
    assert [s["image"] for s in doc["submodels"][0]["steps"]] == [
        "steps/cap_step_001.jpg",
        "steps/cap_step_002.jpg",
    ]
    for entry, step in zip(doc["steps"], plan.steps, strict=True):
        assert entry["image"] == f"steps/step_{entry['number']:03d}.jpg"
        assert (out / entry["image"]).is_file()
        assert sum(p["count"] for p in entry["parts"]) == len(step.parts)
        assert entry["rotation"] is None or len(entry["rotation"]) == 3
        assert set(entry["parts"][0]) == {"part", "name", "color", "color_name", "rgb", "count"}
    assert sum(p["count"] for p in doc["inventory"]) == len(model)
    manifest = {o["name"] for o in json.loads((out / "manifest.json").read_text())["outputs"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert manifest == on_disk - {"manifest.json"}
    assert figures["images"] == len(plan.steps) + 2 == len(list((out / "steps").iterdir()))
    assert figures["build_minutes"] == build_minutes(len(model), len(plan.steps) + 2)


def test_pdf_has_a_page_per_step_and_numbered_pages(written):
    model, plan, out, figures = written
    pdf = pdfium.PdfDocument(out / "instructions.pdf")
    total = len(plan.steps) + 2  # main steps and the sub-assembly's two
    assert len(pdf) == figures["pages"] == 1 + 1 + total + 1  # cover, parts, steps, finished
    texts = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    for i, text in enumerate(texts):
        assert f"{i + 1} / {len(pdf)}" in text
    assert "Tiny stack" in texts[0] and f"{len(model)} parts" in texts[0]
    assert "Parts" in texts[1]
    assert "Sub-assembly cap: step 1 of 2" in texts[-4]
    assert "Finished!" in texts[-1]


def test_several_steps_share_a_page_when_they_fit():
    model = random_stack(side=4, layers=2, seed=5)
    booklet = make_booklet(model, layer_plan(model, 3), "t", InstructionsConfig(image_size=128))
    pages = plan_pages(booklet, InstructionsConfig(steps_per_page=4))
    step_pages = [arg for kind, arg in pages if kind == "steps"]
    assert [len(steps) for _, steps in step_pages][:-1] == [4] * (len(step_pages) - 1)
    assert sum(len(steps) for _, steps in step_pages) == len(booklet.steps)


def test_html_is_self_contained_with_a_section_per_step(written):
    _, plan, out, _ = written
    html = (out / "instructions.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    assert html.count('<section class="step') == len(plan.steps) + 2
    assert html.count('<section class="step sub"') == 2
    assert 'addEventListener("keydown"' in html and 'id="next"' in html and 'id="prev"' in html
    # step pictures are the files in steps/, loaded lazily; each exists and is sized for the page
    sources = re.findall(r'<img src="(steps/[^"]+)" alt="[^"]*" loading="lazy" width="(\d+)"', html)
    assert len(sources) == len(plan.steps) + 2
    for src, width in sources:
        assert (out / src).is_file() and 0 < int(width) <= InstructionsConfig().image_px


def test_no_formats_writes_nothing(tmp_path):
    model = random_stack(side=4, layers=1)
    with OutputDir(tmp_path / "o") as od:
        figures = write_instructions(model, layer_plan(model), od, "t", InstructionsConfig(formats=[]))
    assert figures == {"formats": []}
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["manifest.json"]


def test_step_crop_zooms_in_at_most_to_the_focus_share():
    from voxforge.instructions.booklet import _focus

    whole = (100, 100, 900, 500)
    # a small early step at the bottom: grown to 60 % of the whole crop, kept inside it
    assert _focus((150, 450, 250, 500), whole) == (100, 260, 580, 500)
    # a step as large as the whole crop keeps it
    assert _focus(whole, whole) == whole


def test_turn_note_marks_each_change_of_view_once():
    # a sub-assembly built turned over for two steps, then turned back (order._table_phases);
    # main steps seen: default, turned, turned, default, ...
    model = random_stack(side=4, layers=2, seed=5)
    singles = layer_plan(model, 1).steps
    cap = tuple(i for s in singles[-3:] for i in s.parts)
    over, side = (210.0, 45.0, 0.0), (30.0, 135.0, 0.0)
    sub = SubAssembly(
        "cap",
        cap,
        (
            BuildStep(cap[:1], rotation=over),
            BuildStep(cap[1:2], rotation=over),
            BuildStep(cap[2:]),
        ),
    )
    main = [BuildStep(s.parts) for s in singles[:-3]] + [BuildStep(cap, submodel=0)]
    main[1] = BuildStep(main[1].parts, rotation=side)
    main[2] = BuildStep(main[2].parts, rotation=side)
    plan = BuildPlan(tuple(main), (sub,))
    cfg = InstructionsConfig(image_size=128, turn_hidden=False)
    book = make_booklet(model, plan, "turns", cfg)
    got = {(p.within, p.number): p.turned for p in book.steps}
    assert [got[("cap", k)] for k in (1, 2, 3)] == [True, False, True]
    assert [got[(None, k)] for k in range(1, len(main) + 1)] == [False, True, False, True] + [False] * (
        len(main) - 4
    )


def test_plan_problems_are_printed_on_their_step_pages(tmp_path):
    model = random_stack(side=4, layers=2, seed=5)
    base = _plan_with_sub(model)
    problems = [
        {"step": 1, "reason": "the build so far is UNSTABLE"},
        {
            "step": len(base.steps),
            "submodel": "cap",
            "submodel_step": 2,
            "reason": "sub-assembly cap step 2 is not held together on the table",
        },
    ]
    plan = BuildPlan(base.steps, base.submodels, info={"problems": problems})
    cfg = InstructionsConfig(image_size=128, turn_hidden=False, formats=["pdf", "html"])
    with OutputDir(tmp_path / "out") as od:
        write_instructions(model, plan, od, "notes", cfg)
    book = make_booklet(model, plan, "notes", cfg)
    noted = {(p.within, p.number): p.notes for p in book.steps if p.notes}
    assert noted == {
        (None, 1): ("the build so far is UNSTABLE",),
        ("cap", 2): ("sub-assembly cap step 2 is not held together on the table",),
    }
    html = (tmp_path / "out" / "instructions.html").read_text()
    assert html.count('class="note"') == 2 and "not held together on the table" in html
    pdf = pdfium.PdfDocument(tmp_path / "out" / "instructions.pdf")
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "! the build so far is UNSTABLE" in text and "not held together" in text


def test_content_box_frames_the_ink_and_ignores_white_and_transparent_pixels():
    img = np.full((200, 300, 4), 255, np.uint8)
    img[50:60, 100:180, 2] = 10  # a yellow stroke: only its blue channel is dark
    img[5:10, 5:10, :3] = 0
    img[5:10, 5:10, 3] = 0  # black but transparent: background
    assert content_box(img, pad=2) == (98, 48, 182, 62)
    assert content_box(img[..., :3], pad=0) == (5, 5, 180, 60)  # opaque: the black counts
    assert content_box(np.full((20, 30, 3), 255, np.uint8)) == (0, 0, 30, 20)


def test_step_pictures_are_cut_sized_and_encoded_as_asked():
    model = random_stack(side=4, layers=2, seed=5)
    plan = layer_plan(model, 4)
    for fmt, magic, ext in (("jpeg", b"\xff\xd8\xff", "jpg"), ("png", b"\x89PNG", "png")):
        cfg = InstructionsConfig(image_size=256, image_px=120, image_format=fmt, turn_hidden=False)
        booklet = make_booklet(model, plan, "t", cfg)
        for step in booklet.steps:
            assert step.picture.startswith(magic) and step.image.endswith("." + ext)
            assert max(step.size) <= 120 and min(step.size) > 0


def test_the_builders_verdict_is_printed_on_the_cover(tmp_path):
    model = random_stack(side=4, layers=2, seed=5)
    line = "Not buildable as planned: 2 separate pieces (see summary.json)."
    base = layer_plan(model, 4)
    plan = BuildPlan(base.steps, base.submodels, info={"verdict": line})
    cfg = InstructionsConfig(image_size=128, formats=["pdf", "html"])
    with OutputDir(tmp_path / "out") as od:
        write_instructions(model, plan, od, "verdict", cfg)
    html = (tmp_path / "out" / "instructions.html").read_text()
    cover = html[html.index('id="cover"') : html.index("</section>")]
    assert f'<span class="verdict">{line}</span>' in cover
    pdf = pdfium.PdfDocument(tmp_path / "out" / "instructions.pdf")
    assert line in pdf[0].get_textpage().get_text_range()
