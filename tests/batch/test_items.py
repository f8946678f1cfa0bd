"""Batch items: inputs of every kind, manifests, options validated before anything runs."""

from __future__ import annotations

import json

import pytest

from voxforge.batch.items import expand_items, option_overrides, parse_set, parse_text_value
from voxforge.batch.pipelines import get_pipeline
from voxforge.core.errors import ConfigError, UnsupportedInputError
from voxforge.pipelines import options as po


@pytest.fixture(scope="module")
def brickify():
    return get_pipeline("brickify")


def test_files_folders_and_globs_expand_to_named_items(brickify, boxes, tmp_path):
    (tmp_path / "in" / "notes.md").write_text("not an input")
    by_folder = expand_items(brickify, [tmp_path / "in"])
    assert [i.name for i in by_folder] == ["box0", "box1", "box2"]
    by_glob = expand_items(brickify, [str(tmp_path / "in" / "box[01].npy")])
    assert [i.input for i in by_glob] == boxes[:2]
    # the same stem twice gets a distinct folder
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "box0.npy").write_bytes(boxes[0].read_bytes())
    twice = expand_items(brickify, [boxes[0], tmp_path / "other" / "box0.npy"])
    assert [i.name for i in twice] == ["box0", "box0-2"]


def test_batch_options_reach_every_item_and_manifest_columns_win(brickify, boxes, tmp_path):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(
        "input,name,width_studs,hollow,layout.strategy,classify\n"
        "in/box0.npy,first,,,,\n"
        "in/box1.npy,second,12,3,highs,true\n"
    )
    base = option_overrides(brickify, parse_set(["width_studs=6", "parts=plates"]), text=True)
    first, second = expand_items(brickify, [manifest], base)
    assert first.name == "first" and first.input == boxes[0]
    assert first.config.voxel.width_studs == 6 and first.config.voxel.hollow is None
    assert first.config.layout.parts == "plates" and first.config.classify is False
    assert second.config.voxel.width_studs == 12 and second.config.voxel.hollow == 3
    assert second.config.layout.strategy == "highs" and second.config.classify is True
    assert second.config.layout.parts == "plates"
    assert second.options == {
        "width_studs": "12",
        "hollow": "3",
        "layout.strategy": "highs",
        "classify": "true",
    }
    assert second.source == f"{manifest}:3"


def test_jsonl_manifest_takes_typed_and_nested_options(brickify, boxes, tmp_path):
    manifest = tmp_path / "jobs.jsonl"
    lines = [
        {"input": str(boxes[0]), "width_studs": 5, "colors": {"mode": "single:4"}},
        {"input": "in/box2.npy", "options": {"seed": 7, "hollow": True}},
    ]
    manifest.write_text("# two jobs\n" + "\n".join(json.dumps(x) for x in lines) + "\n\n")
    a, b = expand_items(brickify, [manifest])
    assert a.config.voxel.width_studs == 5 and a.config.colors.mode == "single:4"
    assert b.input == boxes[2] and b.config.layout.seed == 7
    assert b.config.voxel.hollow == po.DEFAULT_SHELL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input,width_studs\nin/box0.npy,6\nin/box1.npy,wide\n", r"jobs\.csv:3: width_studs: "),
        ("input,strategy\nin/box0.npy,fastest\n", r"jobs\.csv:2: --strategy must be .*'greedy'"),
        ("input,voxel.widht_studs\nin/box0.npy,6\n", r"jobs\.csv:2: voxel\.widht_studs: Extra"),
        ("input,width_studs\nin/box0.npy,0\n", r"jobs\.csv:2: voxel\.width_studs: Input should be"),
        ("input,name\nin/box0.npy,a\nin/box1.npy,a\n", r"jobs\.csv:3: name 'a' is used twice"),
        ("input,width_studs\nin/box0.npy,6,7\n", r"jobs\.csv:2: more cells than the header"),
        ("file,width_studs\nin/box0.npy,6\n", r"jobs\.csv:1: .*'input' or 'prompt' column"),
        ("input\nin/nothere.npy\n", r"jobs\.csv:2: .*nothere\.npy: no such file"),
    ],
)
def test_a_bad_manifest_line_is_one_error_naming_file_and_line(brickify, boxes, tmp_path, text, message):
    manifest = tmp_path / "jobs.csv"
    manifest.write_text(text)
    with pytest.raises((ConfigError, UnsupportedInputError), match=message) as info:
        expand_items(brickify, [manifest])
    assert "\n" not in str(info.value)


def test_bad_jsonl_lines_and_missing_inputs(brickify, boxes, tmp_path):
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "in/box0.npy"}\n{"input": "in/box1.npy",\n')
    with pytest.raises(ConfigError, match=r"jobs\.jsonl:2: not a JSON object"):
        expand_items(brickify, [manifest])
    manifest.write_text('["in/box0.npy"]\n')
    with pytest.raises(ConfigError, match=r"jobs\.jsonl:1: expected a JSON object, found list"):
        expand_items(brickify, [manifest])
    with pytest.raises(UnsupportedInputError, match="no such file or folder"):
        expand_items(brickify, [tmp_path / "missing.npy"])
    with pytest.raises(UnsupportedInputError, match="the pattern matches no file"):
        expand_items(brickify, [str(tmp_path / "*.ply")])
    with pytest.raises(ConfigError, match="--set needs KEY=VALUE"):
        parse_set(["width_studs"])


def test_generate_items_take_prompts_from_the_manifest_or_text_files(tmp_path):
    generate = get_pipeline("generate")
    (tmp_path / "sofa.txt").write_text("a low wide sofa\n")
    manifest = tmp_path / "prompts.csv"
    manifest.write_text("prompt,variations\na tall narrow chair,2\n")
    items = expand_items(generate, [tmp_path / "sofa.txt", manifest])
    assert [i.config.prompt for i in items] == ["a low wide sofa", "a tall narrow chair"]
    assert items[1].name == "a_tall_narrow_chair" and items[1].config.variations == 2
    assert items[1].input is None


def test_text_values_follow_the_option_type():
    assert parse_text_value(po.CLASSIFY, "yes") is True
    assert parse_text_value(po.WIDTH_STUDS, "24") == 24
    assert parse_text_value(po.HOLLOW, "true") is True
    assert parse_text_value(None, "0.5") == 0.5 and parse_text_value(None, "pdf,html") == "pdf,html"
    with pytest.raises(ConfigError, match=r"classify: expected true or false"):
        parse_text_value(po.CLASSIFY, "maybe")
    with pytest.raises(ConfigError, match=r"unknown|must be one of"):
        get_pipeline("sculpt")
