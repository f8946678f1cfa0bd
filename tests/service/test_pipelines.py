"""The service's pipeline registry: shortcuts, option errors, accepted inputs, image zips."""

import importlib.util
import io
import zipfile

import pytest

from voxforge.core.errors import ConfigError, SizeLimitError, UnsupportedInputError
from voxforge.pipelines.brickify import BrickifyConfig
from voxforge.service.pipelines import (
    BRICKIFY_SHORTCUTS,
    check_params,
    default_pipelines,
    expand_shortcuts,
    parse_params,
    unpack_images,
)


def test_shortcuts_map_onto_nested_config_fields():
    data, spelled = expand_shortcuts(
        {"width_studs": 24, "colors": 8, "hollow": 2, "layout": {"strategy": "greedy"}},
        BRICKIFY_SHORTCUTS,
    )
    assert data == {
        "layout": {"strategy": "greedy"},
        "voxel": {"width_studs": 24, "hollow": 2},
        "colors": {"mode": 8},
    }
    assert spelled == {
        "voxel.width_studs": "width_studs",
        "colors.mode": "colors",
        "voxel.hollow": "hollow",
    }
    assert expand_shortcuts({"hollow": 0}, BRICKIFY_SHORTCUTS)[0] == {"voxel": {"hollow": None}}


def test_build_options_gives_the_config_and_names_bad_fields():
    spec = default_pipelines()["brickify"]
    cfg = spec.build_options({"width_studs": 12, "colors": "auto", "hollow": 0})
    assert isinstance(cfg, BrickifyConfig)
    assert (cfg.voxel.width_studs, cfg.colors.mode, cfg.voxel.hollow) == (12, "auto", None)
    with pytest.raises(ConfigError) as err:
        spec.build_options({"width_studs": 0, "voxel": {"fill": "wobbly"}, "extra": 1})
    msg = str(err.value)
    assert msg.startswith("brickify options: ")
    assert "width_studs: Input should be greater than or equal to 1" in msg
    assert "voxel.fill: Input should be 'auto', 'solid' or 'surface'" in msg
    assert "extra: Extra inputs are not permitted" in msg
    with pytest.raises(ConfigError, match="voxel: expected an object of options, found int"):
        spec.build_options({"width_studs": 8, "voxel": 3})


def test_inputs_are_checked_against_the_pipeline():
    spec = default_pipelines()["brickify"]
    spec.check_input("ply", "scan.ply")
    spec.check_input("capture", "cap.zip")
    with pytest.raises(UnsupportedInputError) as err:
        spec.check_input("image:jpeg", "me.jpg")
    assert str(err.value) == (
        "me.jpg: a JPEG image; the brickify pipeline takes scans, meshes, voxel grids and "
        "capture folders"
    )


def test_default_pipelines_offer_reconstruct_only_when_it_imports():
    names = default_pipelines().names()
    assert {"brickify", "classify"} <= set(names)
    has_reconstruct = importlib.util.find_spec("voxforge.pipelines.reconstruct") is not None
    assert ("reconstruct" in names) == has_reconstruct


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        (None, "params: missing"),
        ("[1]", "params: expected a JSON object, found list"),
        ('{"pipeline": 3}', "pipeline: missing"),
        ("{", "params: not valid JSON"),
    ],
)
def test_params_must_be_an_object_naming_a_pipeline(raw, expect):
    with pytest.raises(ConfigError, match=expect):
        parse_params(raw)
    assert check_params({"pipeline": "x", "a": 1}) == {"pipeline": "x", "a": 1}


def test_unpack_images_flattens_names_and_skips_other_files(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../evil.png", b"a")
        z.writestr("shots/b.JPG", b"b")
        z.writestr("notes.txt", b"c")
    archive = tmp_path / "in.zip"
    archive.write_bytes(buf.getvalue())
    out = unpack_images(archive, tmp_path / "images")
    assert [p.name for p in out] == ["0000_evil.png", "0002_b.JPG"]
    assert [p.read_bytes() for p in out] == [b"a", b"b"]
    assert all(p.parent == tmp_path / "images" for p in out)
    with pytest.raises(SizeLimitError, match="3 files; the limit is 2 files"):
        unpack_images(archive, tmp_path / "x", max_files=2)


def test_unpack_images_counts_the_bytes_it_writes(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", bytes(3 << 20))
        z.writestr("b.png", bytes(3 << 20))
    with pytest.raises(SizeLimitError):  # declared 6 MiB against 4 MiB
        unpack_images(archive, tmp_path / "x", max_bytes=4 << 20)
    from voxforge.service.pipelines import _copy_capped

    with zipfile.ZipFile(archive) as z, pytest.raises(SizeLimitError, match="4,194,304"):
        info = z.getinfo("a.png")
        _copy_capped(z, info, tmp_path / "one.png", 1 << 20, "big.zip", 4 << 20)
    assert (tmp_path / "one.png").stat().st_size <= 1 << 20


def test_generate_pipeline_takes_a_prompt_and_refuses_bad_ones():
    from voxforge.core.errors import PromptError

    spec = default_pipelines()["generate"]
    assert spec.inputs == frozenset({"text"})
    cfg = spec.build_options({"prompt": "a low wide sofa", "variations": 2})
    assert cfg.prompt == "a low wide sofa" and cfg.variations == 2
    with pytest.raises(PromptError, match="it makes: bathtub"):
        spec.build_options({"prompt": "x" * 10_000})
    with pytest.raises(ConfigError, match="variations"):
        spec.build_options({"prompt": "a bed", "variations": 99})
