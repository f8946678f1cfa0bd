"""Captions for voxel shapes: attributes measured on the grid, turned into many sentences.

Every training shape of the shared ModelNet10 set gets sentences that name its class (or a synonym:
"couch", "tub", "screen") and a few of the attributes measured on its voxels. Attributes that depend
on the class (a tall bed is still lower than a short dresser) are judged against the other shapes of
the same class by tercile: the top third of a class on a measure gets one word, the bottom third the
opposite word, the middle third neither. Geometry words mean:

- ``tall`` / ``low``: height over the longer horizontal side;
- ``wide`` / ``narrow``: shorter horizontal side over height (a broad base or a slim body);
- ``long`` / ``square``: longer over shorter horizontal side (the footprint's aspect);
- ``thick`` / ``thin``: filled share of the bounding box (bulky parts or slender ones);
- ``open`` / ``solid`` underneath: share of the footprint's columns filled in the lowest third of
  the height (absolute thresholds, not terciles);
- ``legs``: separate blobs in the two lowest layers of an object that is open underneath.

Templates and attribute words come in two disjoint sets: ``train`` phrasings feed training, ``eval``
phrasings (other sentence frames and other synonyms) only the evaluation, so held-back prompts test
whether the text encoder carries the meaning over and not whether a sentence was memorised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage

Split = Literal["train", "eval"]

CLASS_WORDS: dict[str, tuple[str, ...]] = {
    "bathtub": ("bathtub", "tub", "bath", "bathing tub"),
    "bed": ("bed", "bedframe", "double bed", "single bed"),
    "chair": ("chair", "seat", "dining chair", "office chair"),
    "desk": ("desk", "writing desk", "work desk", "office desk"),
    "dresser": ("dresser", "chest of drawers", "bureau", "drawer cabinet"),
    "monitor": ("monitor", "screen", "display", "computer monitor", "computer screen"),
    "night_stand": ("nightstand", "night stand", "bedside table", "bedside cabinet"),
    "sofa": ("sofa", "couch", "settee", "loveseat"),
    "table": ("table", "dining table", "coffee table", "kitchen table"),
    "toilet": ("toilet", "toilet bowl", "lavatory", "wc"),
}
"""Words a prompt may use for each ModelNet10 class (longest match wins when reading prompts)."""

ATTRIBUTES: dict[str, tuple[str, str]] = {
    "height": ("tall", "low"),
    "width": ("wide", "narrow"),
    "length": ("long", "square"),
    "thickness": ("thick", "thin"),
    "base": ("open", "solid"),
}
"""Measure name -> (word for a high value, word for a low value)."""

WORDS: dict[Split, dict[str, tuple[str, ...]]] = {
    "train": {
        "tall": ("tall", "high", "tall and upright"),
        "low": ("low", "short", "low-slung", "flat"),
        "wide": ("wide", "broad", "wide-based"),
        "narrow": ("narrow", "slim", "skinny"),
        "long": ("long", "elongated", "stretched"),
        "square": ("square", "compact", "boxy"),
        "thick": (
            "thick",
            "chunky",
            "bulky",
            "heavy",
            "stout",
            "sturdy",
            "heavyset",
            "thickset",
            "beefy",
            "weighty",
            "solidly built",
            "heavy-duty",
        ),
        "thin": (
            "thin",
            "slender",
            "delicate",
            "light",
            "wiry",
            "lightweight",
            "airy",
            "dainty",
            "thin-framed",
            "lean",
            "frail",
            "skeletal",
        ),
    },
    "eval": {
        "tall": ("towering", "very tall", "lofty"),
        "low": ("squat", "very low", "low-profile"),
        "wide": ("broad-bodied", "very wide"),
        "narrow": ("slender-bodied", "very narrow"),
        "long": ("lengthy", "very long"),
        "square": ("squarish", "stubby"),
        "thick": ("massive", "hefty"),
        "thin": ("spindly", "fine"),
    },
}
"""Adjectives for each attribute word, disjoint between training and evaluation (no training
phrase contains a held-back word: see :func:`held_back_leaks`)."""

PHRASES: dict[Split, dict[str, tuple[str, ...]]] = {
    "train": {
        "open": (
            "on legs",
            "open underneath",
            "raised off the floor",
            "open beneath",
            "elevated on legs",
            "with a gap beneath it",
            "with room underneath",
            "standing on feet",
            "with an open underside",
            "hollow underneath",
        ),
        "solid": (
            "with a solid base",
            "solid underneath",
            "closed at the bottom",
            "with a boxy base",
            "planted on the floor",
            "with a filled-in base",
            "enclosed at the bottom",
            "solid all the way down",
            "with a plinth",
            "boxed in down to the floor",
        ),
        "legs": ("with {n} legs", "on {n} legs", "standing on {n} legs"),
    },
    "eval": {
        "open": ("with empty space below it", "lifted up on supports"),
        "solid": ("sitting flat on a solid bottom", "with a closed base"),
        "legs": ("that has {n} legs", "supported by {n} legs"),
    },
}
"""Phrases for the base (open/solid underneath) and leg count, disjoint between the splits."""

TEMPLATES: dict[Split, tuple[str, ...]] = {
    "train": (
        "a {adj} {cls}{ph}",
        "{adj} {cls}{ph}",
        "the {adj} {cls}{ph}",
        "a 3d model of a {adj} {cls}{ph}",
        "make a {adj} {cls}{ph}",
        "generate a {adj} {cls}{ph}",
        "i want a {adj} {cls}{ph}",
        "a {cls}{ph}, {adjc}",
        "a {cls} that is {adjc}{ph}",
        "{cls}, {adjc}{ph}",
        "an object: {adj} {cls}{ph}",
        "create a {cls} which is {adjc}{ph}",
        "a {adj} kind of {cls}{ph}",
        "lego {adj} {cls}{ph}",
    ),
    "eval": (
        "build me a {adj} {cls}{ph} please",
        "could you make a {cls} that looks {adjc}{ph}",
        "show me a {adj} {cls}{ph}",
        "i would like a {cls}{ph}; it should be {adjc}",
        "design a {adj} {cls}{ph}",
    ),
}
"""Sentence frames: ``{adj}`` adjectives before the noun, ``{adjc}`` the same joined by "and",
``{cls}`` the class word, ``{ph}`` an optional trailing phrase (base, legs)."""


def held_back_leaks() -> list[str]:
    """Training phrasings that contain a held-back word or phrase (the evaluation needs none).

    A held-back entry of one word ("massive", "spindly") must not appear as a word of any training
    adjective, phrase or template; a longer one ("very tall", "with a closed base") not as a part
    of one.
    """
    train = [a for ws in WORDS["train"].values() for a in ws]
    train += [p for ps in PHRASES["train"].values() for p in ps] + list(TEMPLATES["train"])
    held = [a for ws in WORDS["eval"].values() for a in ws]
    held += [p for ps in PHRASES["eval"].values() for p in ps]
    leaks = []
    for h in held:
        words = re.findall(r"[a-z{}]+", h)
        for t in train:
            if (len(words) == 1 and words[0] in re.findall(r"[a-z{}]+", t)) or (
                len(words) > 1 and re.search(rf"\b{re.escape(h)}\b", t)
            ):
                leaks.append(f"{t!r} holds the held-back {h!r}")
    return leaks


NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


@dataclass
class ShapeMeasures:
    """Geometry measured on one occupancy grid (cells, z up)."""

    height_ratio: float
    width_ratio: float
    aspect: float
    fill: float
    base_cover: float
    legs: int

    def value(self, measure: str) -> float:
        """The number behind an attribute name of :data:`ATTRIBUTES`."""
        return {
            "height": self.height_ratio,
            "width": self.width_ratio,
            "length": self.aspect,
            "thickness": self.fill,
            "base": 1.0 - self.base_cover,
        }[measure]


@dataclass
class ShapeAttributes:
    """The words one shape earns: class name and attribute words ("tall", "open", ...)."""

    cls: str
    words: list[str] = field(default_factory=list)
    legs: int = 0


OPEN_BELOW = 0.45
"""Base cover under which an object counts as open underneath (on legs)."""
SOLID_BELOW = 0.75
"""Base cover above which an object counts as solid underneath."""


def measure_shape(grid: np.ndarray) -> ShapeMeasures:
    """Measure one (X, Y, Z) occupancy grid (z up); raises ValueError on an empty grid."""
    occ = np.asarray(grid) > 0
    if not occ.any():
        raise ValueError("empty grid")
    idx = np.argwhere(occ)
    lo, hi = idx.min(0), idx.max(0)
    ext = (hi - lo + 1).astype(np.float64)
    long_side, short_side, height = max(ext[0], ext[1]), min(ext[0], ext[1]), ext[2]
    box = occ[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
    footprint = box.any(axis=2)
    third = max(1, round(box.shape[2] / 3))
    below = box[:, :, :third].any(axis=2)
    base_cover = float(below.sum() / max(footprint.sum(), 1))
    legs = 0
    if base_cover < OPEN_BELOW:
        bottom = box[:, :, : min(2, box.shape[2])].any(axis=2)
        _, legs = ndimage.label(bottom, structure=np.ones((3, 3), bool))
    return ShapeMeasures(
        height_ratio=float(height / long_side),
        width_ratio=float(short_side / height),
        aspect=float(long_side / short_side),
        fill=float(box.mean()),
        base_cover=base_cover,
        legs=int(legs),
    )


def class_terciles(
    measures: list[ShapeMeasures], labels: np.ndarray
) -> dict[int, dict[str, tuple[float, float]]]:
    """Per class and measure the (1/3, 2/3) quantiles that split low, middle and high values."""
    out: dict[int, dict[str, tuple[float, float]]] = {}
    for c in np.unique(labels):
        rows = [m for m, lab in zip(measures, labels, strict=True) if lab == c]
        out[int(c)] = {}
        for name in ("height", "width", "length", "thickness"):
            v = np.array([m.value(name) for m in rows])
            out[int(c)][name] = (float(np.quantile(v, 1 / 3)), float(np.quantile(v, 2 / 3)))
    return out


def shape_attributes(
    m: ShapeMeasures, cls: str, terciles: dict[str, tuple[float, float]]
) -> ShapeAttributes:
    """The attribute words of one measured shape, judged against its class's terciles."""
    words: list[str] = []
    for name in ("height", "width", "length", "thickness"):
        lo, hi = terciles[name]
        v = m.value(name)
        if v > hi:
            words.append(ATTRIBUTES[name][0])
        elif v < lo:
            words.append(ATTRIBUTES[name][1])
    if m.base_cover < OPEN_BELOW:
        words.append("open")
    elif m.base_cover > SOLID_BELOW:
        words.append("solid")
    legs = m.legs if m.legs in NUMBER_WORDS and "open" in words else 0
    return ShapeAttributes(cls, words, legs)


def caption(attrs: ShapeAttributes, rng: np.random.Generator, split: Split = "train") -> str:
    """One random sentence for a shape: a class word, 0-3 of its attributes, a template."""
    return caption_with_words(attrs, rng, split)[0]


def caption_with_words(
    attrs: ShapeAttributes, rng: np.random.Generator, split: Split = "train"
) -> tuple[str, list[str]]:
    """:func:`caption` and the attribute words ("tall", "open", ...) the sentence asks for."""
    cls_word = str(rng.choice(CLASS_WORDS[attrs.cls]))
    adjectives = [w for w in attrs.words if w in WORDS[split]]
    phrases = [w for w in attrs.words if w in ("open", "solid")]
    if attrs.legs:
        phrases.append("legs")
    k = int(rng.integers(0, min(len(adjectives), 2) + 1)) if adjectives else 0
    chosen = [adjectives[i] for i in sorted(rng.choice(len(adjectives), k, replace=False))] if k else []
    rng.shuffle(chosen)
    adj_words = [str(rng.choice(WORDS[split][w])) for w in chosen]
    ph = ""
    said = list(chosen)
    if phrases and rng.random() < 0.5:
        p = str(rng.choice(phrases))
        ph = " " + str(rng.choice(PHRASES[split][p])).format(n=NUMBER_WORDS.get(attrs.legs, ""))
        said.append("open" if p == "legs" else p)
    return render_template(str(rng.choice(TEMPLATES[split])), cls_word, adj_words, ph), said


def attribute_token(words: list[str]) -> np.ndarray:
    """(len(ATTRIBUTES),) float32: +1 for a high word ("tall"), -1 for a low one ("low"), else 0."""
    out = np.zeros(len(ATTRIBUTES), np.float32)
    for k, (hi, lo) in enumerate(ATTRIBUTES.values()):
        out[k] = (hi in words) - (lo in words)
    return out


def render_template(template: str, cls_word: str, adj_words: list[str], phrase: str = "") -> str:
    """Fill a template; a template without adjectives drops its adjective slot cleanly."""
    adj = " ".join(adj_words)
    adjc = " and ".join(adj_words)
    if not adj_words:
        template = template.replace(", {adjc}", "").replace("; it should be {adjc}", "")
        template = template.replace(" that looks {adjc}", "").replace(" that is {adjc}", "")
        template = template.replace(" which is {adjc}", "").replace(" {adj}", "")
        template = template.replace("{adj} ", "")
    text = template.format(adj=adj, adjc=adjc, cls=cls_word, ph=phrase)
    text = " ".join(text.split())
    return re.sub(r"\ba (?=[aeio])", "an ", text)


def attribute_prompt(cls: str, word: str, rng: np.random.Generator, split: Split = "eval") -> str:
    """A prompt that asks for one attribute word of a class (for adherence checks)."""
    cls_word = CLASS_WORDS[cls][0]
    if word in WORDS[split]:
        return render_template(
            str(rng.choice(TEMPLATES[split])), cls_word, [str(rng.choice(WORDS[split][word]))]
        )
    return render_template(
        str(rng.choice(TEMPLATES[split])), cls_word, [], " " + str(rng.choice(PHRASES[split][word]))
    )
