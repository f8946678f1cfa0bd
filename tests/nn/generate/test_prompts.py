import pytest

from voxforge.core.errors import PromptError
from voxforge.nn.generate.prompts import check_prompt, find_class, read_prompt


@pytest.mark.parametrize("bad", ["", "   ", "x" * 10_000, "一把很高的椅子", "!!! ???"])
def test_unusable_prompts_name_the_classes(bad):
    with pytest.raises(PromptError, match="chair, desk, dresser"):
        check_prompt(bad)


def test_class_words_longest_match_wins():
    assert find_class("a comfy couch") == "sofa"
    assert find_class("a small bedside table") == "night_stand"
    assert find_class("two wide Tables") == "table"
    assert find_class("a TV screen") == "monitor"
    assert find_class("a spaceship") is None
    assert find_class("chairman") is None


def test_unknown_object_uses_nearest_class_and_says_so(hash_encoder):
    r = read_prompt("a spaceship", hash_encoder)
    assert not r.named and r.cls in find_class.__globals__["CLASS_WORDS"]
    assert "names no object" in r.note and r.cls.replace("_", " ") in r.note
    assert r.condition.startswith("a spaceship, a ")
    named = read_prompt("  a tall   chair ", hash_encoder)
    assert named.named and named.cls == "chair" and named.note == "" and named.prompt == "a tall chair"
