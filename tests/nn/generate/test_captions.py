import numpy as np

from voxforge.nn.generate.captions import (
    CLASS_WORDS,
    PHRASES,
    TEMPLATES,
    WORDS,
    caption,
    class_terciles,
    held_back_leaks,
    measure_shape,
    shape_attributes,
)


def box(x: int, y: int, z: int) -> np.ndarray:
    g = np.zeros((32, 32, 32), np.uint8)
    g[4 : 4 + x, 4 : 4 + y, 0:z] = 1
    return g


def table(legs: int = 4) -> np.ndarray:
    g = np.zeros((32, 32, 32), np.uint8)
    g[2:22, 2:14, 10:12] = 1  # top
    corners = [(2, 2), (20, 2), (2, 12), (20, 12), (11, 7)][:legs]
    for x, y in corners:
        g[x : x + 2, y : y + 2, 0:10] = 1
    return g


def test_measures_order_shapes_and_count_legs():
    tall, low = measure_shape(box(6, 6, 24)), measure_shape(box(20, 20, 5))
    assert tall.height_ratio > 1.0 > low.height_ratio
    assert low.aspect == 1.0 and measure_shape(box(20, 5, 5)).aspect == 4.0
    t = measure_shape(table(4))
    assert t.base_cover < 0.45 and t.legs == 4
    assert measure_shape(table(3)).legs == 3
    solid = measure_shape(box(10, 10, 10))
    assert solid.base_cover == 1.0 and solid.legs == 0 and solid.fill == 1.0


def test_attributes_follow_class_terciles():
    grids = [box(8, 8, h) for h in (4, 8, 12, 16, 20, 24)]
    ms = [measure_shape(g) for g in grids]
    ter = class_terciles(ms, np.zeros(6, int))[0]
    words = [shape_attributes(m, "chair", ter).words for m in ms]
    assert "low" in words[0] and "tall" in words[-1]
    assert "tall" not in words[0] and "low" not in words[-1]
    t = shape_attributes(measure_shape(table(4)), "table", ter)
    assert "open" in t.words and t.legs == 4


def test_train_and_eval_phrasings_are_disjoint():
    assert not set(TEMPLATES["train"]) & set(TEMPLATES["eval"])
    for w in WORDS["train"]:
        assert not set(WORDS["train"][w]) & set(WORDS["eval"][w])
    for p in PHRASES["train"]:
        assert not set(PHRASES["train"][p]) & set(PHRASES["eval"][p])


def test_no_training_phrasing_holds_a_held_back_word(monkeypatch):
    assert held_back_leaks() == []
    thick = {**WORDS["train"], "thick": (*WORDS["train"]["thick"], "massive-looking")}
    monkeypatch.setitem(WORDS, "train", thick)
    assert held_back_leaks() == ["'massive-looking' holds the held-back 'massive'"]
    monkeypatch.setitem(WORDS, "train", {**thick, "thick": WORDS["train"]["thick"][:-1]})
    solid = (*PHRASES["train"]["solid"], "resting with a closed base")
    monkeypatch.setitem(PHRASES, "train", {**PHRASES["train"], "solid": solid})
    assert any("'with a closed base'" in leak for leak in held_back_leaks())


def test_captions_name_the_class_and_only_earned_words():
    rng = np.random.default_rng(0)
    ms = [measure_shape(table(4)), measure_shape(box(8, 8, 20))]
    ter = {"height": (0.5, 0.9), "width": (0.3, 0.5), "length": (1.2, 1.5), "thickness": (0.2, 0.4)}
    attrs = shape_attributes(ms[0], "table", ter)
    texts = [caption(attrs, rng) for _ in range(50)]
    assert all(any(w in t for w in CLASS_WORDS["table"]) for t in texts)
    earned = {a for w in attrs.words if w in WORDS["train"] for a in WORDS["train"][w]}
    others = {a for w, alts in WORDS["train"].items() if w not in attrs.words for a in alts} - earned
    assert not any(f" {o} " in f" {t} " for t in texts for o in others if " " not in o)
    assert len(set(texts)) > 20
