"""The booklet as an offline web page: one section per page-worth of content (cover, parts,
each step, the finished model), previous/next buttons and keyboard navigation (arrows, Page
Up/Down, Home/End). No network: the step pictures are the files in ``steps/`` beside the page,
loaded lazily (a page's picture when it is shown), the rest is embedded; prints as a whole.

Part pictures repeat from step to step, so each is embedded once as a CSS background class and
referenced by name.
"""

from __future__ import annotations

import base64
from html import escape

from voxforge.instructions.booklet import Booklet, StepPage, duration_text
from voxforge.instructions.callouts import PartEntry

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 color:#222;background:#eef1f4}
main{max-width:1100px;margin:0 auto;padding:16px 16px 84px}
section{display:none;background:#fff;border-radius:10px;padding:20px 24px;
 box-shadow:0 1px 3px rgba(0,0,0,.12)}
section.current{display:block}
section.sub{background:#fbf4e2}
h1{font-size:30px;margin:0 0 4px}
h2{font-size:24px;margin:0 0 12px}
.sub-label{color:#80601a;font-weight:600;font-size:14px}
.facts{font-size:16px;text-align:center;margin:8px 0 0}
.subtitle{color:#666;margin:0 0 10px}
figure{margin:0;text-align:center}
figure img{max-width:100%;max-height:68vh;height:auto}
.callout{display:flex;flex-wrap:wrap;gap:10px;background:#dcebf7;border:1px solid #8cadcc;
 border-radius:8px;padding:8px 10px;margin:0 0 10px;width:fit-content;max-width:100%}
.item{display:flex;flex-direction:column;align-items:center;min-width:48px}
.thumb{display:block;background-size:contain;background-repeat:no-repeat;background-position:center}
.count{font-weight:700}
.colour{font-size:11px;color:#666}
.turn{color:#e01a8c;font-weight:700;margin:0 0 6px}
.note{color:#b3261e;font-weight:700;margin:0 0 6px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.cell{border:1px solid #ddd;border-radius:6px;padding:8px;text-align:center}
.cell .thumb{margin:0 auto 4px}
.name{font-size:12px}
nav{position:fixed;left:0;right:0;bottom:0;display:flex;gap:12px;align-items:center;
 justify-content:center;padding:10px;background:#223;color:#fff}
nav button{font:inherit;padding:6px 18px;border-radius:6px;border:0;background:#e01a8c;color:#fff;
 cursor:pointer}
nav button:disabled{background:#667;cursor:default}
#where{min-width:150px;text-align:center}
@media print{nav{display:none}section{display:block;box-shadow:none;break-after:page}
 main{padding:0}body{background:#fff}}
"""

_SCRIPT = """
(function () {
  var pages = Array.prototype.slice.call(document.querySelectorAll("main > section"));
  var where = document.getElementById("where");
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var current = 0;
  function show(i, push) {
    i = Math.max(0, Math.min(pages.length - 1, i));
    pages[current].classList.remove("current");
    pages[i].classList.add("current");
    current = i;
    var label = pages[i].getAttribute("data-label");
    where.textContent = label + " (" + (i + 1) + " / " + pages.length + ")";
    prev.disabled = i === 0;
    next.disabled = i === pages.length - 1;
    if (push) { history.replaceState(null, "", "#" + pages[i].id); }
    window.scrollTo(0, 0);
  }
  prev.addEventListener("click", function () { show(current - 1, true); });
  next.addEventListener("click", function () { show(current + 1, true); });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var k = e.key;
    var forward = ["ArrowRight", "PageDown", " ", "n"], back = ["ArrowLeft", "PageUp", "p"];
    if (forward.indexOf(k) >= 0) { show(current + 1, true); }
    else if (back.indexOf(k) >= 0) { show(current - 1, true); }
    else if (k === "Home") { show(0, true); }
    else if (k === "End") { show(pages.length - 1, true); }
    else { return; }
    e.preventDefault();
  });
  var start = pages.findIndex(function (p) { return "#" + p.id === location.hash; });
  show(start < 0 ? 0 : start, false);
})();
"""

THUMB_SCALE = 0.75
"""CSS pixels per thumbnail pixel."""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _thumb_class(p: PartEntry) -> str:
    return f"t-{p.part}-{p.color}"


def _thumb(booklet: Booklet, p: PartEntry, scale: float = THUMB_SCALE) -> str:
    w, h = booklet.thumbs.size(p.part, p.color)
    return (
        f'<span class="thumb {_thumb_class(p)}" role="img" aria-label="{escape(p.name)}, '
        f'{escape(p.color_name)}" style="width:{w * scale:.0f}px;height:{h * scale:.0f}px"></span>'
    )


def _callout(booklet: Booklet, step: StepPage) -> str:
    if step.attaches is not None and step.attach_png is not None:
        return (
            '<div class="callout"><div class="item">'
            f'<img src="{_data_uri(step.attach_png)}" alt="sub-assembly {escape(step.attaches)}" '
            'style="max-width:160px;max-height:160px">'
            f'<span class="count">1x</span><span class="colour">{escape(step.attaches)}</span>'
            "</div></div>"
        )
    items = "".join(
        f'<div class="item">{_thumb(booklet, p)}<span class="count">{p.count}x</span>'
        f'<span class="colour">{escape(p.color_name)}</span></div>'
        for p in step.parts
    )
    return f'<div class="callout">{items}</div>'


def _step_section(booklet: Booklet, step: StepPage, index: int) -> str:
    if step.within is None:
        label = f"Step {step.number}"
        head = f"<h2>Step {step.number} <small>of {step.total}</small></h2>"
        cls = "step"
    else:
        label = f"{step.within} {step.number}"
        head = (
            f'<div class="sub-label">Sub-assembly {escape(step.within)}</div>'
            f"<h2>Step {step.number} <small>of {step.total}</small></h2>"
        )
        cls = "step sub"
    turn = '<p class="turn">&#8635; turn the model</p>' if step.turned else ""
    turn += "".join(f'<p class="note">&#9888; {escape(n)}</p>' for n in step.notes)
    return (
        f'<section class="{cls}" id="s{index}" data-label="{escape(label)}">{head}'
        f"{_callout(booklet, step)}{turn}"
        f'<figure><img src="{escape(step.image)}" alt="{escape(label)}" loading="lazy" '
        f'width="{step.size[0]}" height="{step.size[1]}"></figure>'
        "</section>"
    )


def html_text(booklet: Booklet) -> str:
    """The whole page (UTF-8 text)."""
    f = booklet.facts
    thumbs = {(p.part, p.color): p for p in booklet.inventory}
    styles = "".join(
        f".{_thumb_class(p)}{{background-image:url({_data_uri(booklet.thumbs.png(p.part, p.color))})}}\n"
        for p in thumbs.values()
    )
    title = escape(booklet.title or "voxforge model")
    subs = f" + {f['submodel_steps']} sub-assembly steps" if f["submodel_steps"] else ""
    cover = (
        f'<section class="cover" id="cover" data-label="Cover"><h1>{title}</h1>'
        '<p class="subtitle">Building instructions</p>'
        f'<figure><img src="{_data_uri(booklet.cover_png)}" alt="the finished model"></figure>'
        f'<p class="facts">{f["parts"]:,} parts ({f["distinct"]} kinds) &middot; '
        f"{f['studs'][0]} &times; {f['studs'][1]} studs, {f['plates']} plates high "
        f"({f['cm'][0]} &times; {f['cm'][1]} &times; {f['cm'][2]} cm)<br>"
        f"{f['steps']} steps{subs} &middot; about {duration_text(f['build_minutes'])} to build"
        + (f'<br><span class="verdict">{escape(f["verdict"])}</span>' if f.get("verdict") else "")
        + "</p></section>"
    )
    cells = "".join(
        f'<div class="cell">{_thumb(booklet, p)}<div class="count">{p.count}x</div>'
        f'<div class="name">{escape(p.name)}</div>'
        f'<div class="colour">{escape(p.color_name)} ({p.color})</div></div>'
        for p in booklet.inventory
    )
    total = sum(p.count for p in booklet.inventory)
    inventory = (
        '<section class="inventory" id="parts" data-label="Parts">'
        f"<h2>Parts <small>{total:,} parts, {len(booklet.inventory)} kinds</small></h2>"
        f'<div class="grid">{cells}</div></section>'
    )
    steps = "\n".join(_step_section(booklet, s, i + 1) for i, s in enumerate(booklet.steps))
    final = (
        '<section class="final" id="finished" data-label="Finished"><h2>Finished!</h2>'
        f'<figure><img src="{_data_uri(booklet.cover_png)}" alt="the finished model, front"></figure>'
        f'<figure><img src="{_data_uri(booklet.back_png)}" alt="the finished model, back"></figure>'
        "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="voxforge"><title>{title} - instructions</title>'
        f"<style>{_CSS}{styles}</style></head><body><main>\n{cover}\n{inventory}\n{steps}\n{final}\n"
        '</main><nav><button id="prev" type="button" aria-label="previous page">&larr; Back</button>'
        '<span id="where" aria-live="polite"></span>'
        '<button id="next" type="button" aria-label="next page">Next &rarr;</button></nav>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
