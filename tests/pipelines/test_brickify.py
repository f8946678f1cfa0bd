import csv
import json

import numpy as np
import pytest

from voxforge.bricks.ldraw import read_ldraw
from voxforge.core.errors import GeometryError, SizeLimitError, VoxforgeError
from voxforge.pipelines.brickify import BrickifyConfig, run_brickify
from voxforge.pipelines.voxelize import VoxelizeJobConfig, run_voxelize

EXPECTED = {
    "model.mpd",
    "bom.csv",
    "bricklink.xml",
    "rebrickable.csv",
    "summary.json",
    "preview.png",
    "model.glb",
    "model.obj",
    "model.stl",
    "grid.npz",
    "config.yaml",
    "manifest.json",
    "instructions.pdf",
    "instructions.html",
    "instructions.json",
    "steps",
}


def test_brickify_house_writes_consistent_outputs(house_obj, tmp_path):
    out = tmp_path / "out"
    stages = []
    cfg = BrickifyConfig.model_validate(
        {
            "voxel": {"width_studs": 12},
            "preview_size": 256,
            "classify": True,
            "meshes": "glb,obj,stl",
        }
    )
    result = run_brickify(house_obj, out, cfg, progress=lambda s, f: stages.append((s, f)))
    assert {p.name for p in out.iterdir()} == EXPECTED
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {o["name"]: o for o in manifest["outputs"]}
    assert {name.split("/")[0] for name in listed} == EXPECTED - {"manifest.json"}
    for name, entry in listed.items():
        assert (out / name).stat().st_size == entry["size"]
    # one step image per build step, each listed; the summary counts the same steps
    steps = json.loads((out / "instructions.json").read_text())["steps"]
    assert len(steps) == result.summary["instructions"]["steps"] >= 1
    assert sorted(p.name for p in (out / "steps").iterdir()) == sorted(
        name.split("/")[1] for name in listed if name.startswith("steps/")
    )

    s = result.summary
    n = len(result.model)
    assert s["parts"]["total"] == n == sum(s["parts"]["by_part"].values())
    assert s["size"]["studs"] == [12, 8]
    assert s["connectivity"]["connected"] and s["connectivity"]["grounded"]
    assert s["stability"]["verdict"] == "STABLE"
    # the LDraw file holds exactly the placed parts, and they cover exactly the grid's cells
    back = read_ldraw(out / "model.mpd")
    assert len(back) == n
    grid = np.load(out / "grid.npz")
    assert back.occupancy().sum() == result.model.occupancy().sum() == grid["occupancy"].sum()
    # the three meshes (glTF/OBJ y-up, STL in mm) read back as the same upright model
    from voxforge.io import load_mesh

    bounds = [load_mesh(out / f"model.{ext}").bounds for ext in ("glb", "obj", "stl")]
    np.testing.assert_allclose(bounds[0], bounds[1], atol=1e-6)
    np.testing.assert_allclose(bounds[0], bounds[2], atol=1e-6)
    assert bounds[0][0, 2] == pytest.approx(0.0, abs=1e-6)  # standing on z = 0
    assert bounds[0][1, 2] == pytest.approx(s["size"]["plates"] * 0.0032 + 0.0017, abs=1e-4)
    # parts lists agree with the model
    with open(out / "bom.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["quantity"]) for r in rows) == n
    with open(out / "rebrickable.csv") as f:
        assert sum(int(r["Quantity"]) for r in csv.DictReader(f)) == n
    # two colours in, red and blue LEGO colours out
    names = {c["name"] for c in s["colors"]}
    assert any("Red" in x for x in names) and any("Blue" in x for x in names)
    # the shipped classifier names the object (probabilities of the top three classes)
    top = s["classification"]["top"]
    assert len(top) == 3 and all(0 <= t["probability"] <= 1 for t in top)
    assert sum(t["probability"] for t in top) <= 1 + 1e-6
    # progress is monotone and ends at 1
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_no_instructions_means_no_build_order_no_classifier_one_mesh(tmp_path):
    # a voxel file without booklets: no build-order search, no classifier, only model.glb
    occ = np.zeros((8, 8, 8), bool)
    occ[1:7, 1:7, 0:6] = True
    np.save(tmp_path / "box.npy", occ.astype(np.uint8))
    cfg = BrickifyConfig.model_validate(
        {"voxel": {"width_studs": 6}, "instructions": {"formats": "none"}}
    )
    assert not cfg.plans and cfg.meshes == ["glb"]
    result = run_brickify(tmp_path / "box.npy", tmp_path / "o", cfg)
    s = result.summary
    assert "plan" not in s["timings_s"] and "classification" not in s and "instructions" not in s
    names = {p.name for p in (tmp_path / "o").iterdir()}
    assert "model.glb" in names and not names & {"model.obj", "model.stl", "steps", "instructions.pdf"}
    assert len(read_ldraw(tmp_path / "o" / "model.mpd")) == s["parts"]["total"]
    # a stepped model.mpd can still be asked for without booklets; meshes by name, or none
    cfg = BrickifyConfig.model_validate(
        {
            "voxel": {"width_studs": 6},
            "instructions": {"formats": []},
            "build_order": True,
            "meshes": "stl, obj, usdz, 3mf",
        }
    )
    assert cfg.plans and cfg.meshes == ["obj", "stl", "3mf", "usdz"]
    result = run_brickify(tmp_path / "box.npy", tmp_path / "p", cfg)
    assert result.summary["instructions"]["steps"] >= 1
    assert {"model.obj", "model.stl", "model.3mf", "model.usdz"} <= {
        p.name for p in (tmp_path / "p").iterdir()
    }
    assert BrickifyConfig.model_validate({"meshes": "none"}).meshes == []
    with pytest.raises(ValueError):
        BrickifyConfig.model_validate({"meshes": "dwg"})


def test_brickify_single_colour_and_plates(house_obj, tmp_path):
    cfg = BrickifyConfig.model_validate(
        {"voxel": {"width_studs": 8}, "colors": {"mode": "single:15"}, "layout": {"parts": "plates"}}
    )
    result = run_brickify(house_obj, tmp_path / "o", cfg)
    assert {p.color for p in result.model.placements} == {15}
    assert {p.h for p in result.model.placements} == {1}


def test_one_layer_object_is_a_mosaic(tmp_path):
    from voxforge.core import VoxelGrid
    from voxforge.io import save_voxels

    occ = np.zeros((10, 6, 1), bool)
    occ[1:9, 1:5, 0] = True
    save_voxels(VoxelGrid(occ), tmp_path / "flat.npz")
    result = run_brickify(tmp_path / "flat.npz", tmp_path / "o", BrickifyConfig())
    assert result.model.occupancy().sum() == 32
    assert {p.h for p in result.model.placements} == {1}


def test_absurd_size_is_refused_without_output(house_obj, tmp_path):
    cfg = BrickifyConfig.model_validate({"voxel": {"width_studs": 5000}})
    with pytest.raises(SizeLimitError, match="width-studs"):
        run_brickify(house_obj, tmp_path / "o", cfg)
    assert not (tmp_path / "o").exists()
    assert list(tmp_path.iterdir()) == [house_obj]


def test_filled_cell_cap(house_obj, tmp_path):
    cfg = BrickifyConfig.model_validate({"voxel": {"width_studs": 12}, "max_filled_cells": 100})
    with pytest.raises(SizeLimitError, match="cap"):
        run_brickify(house_obj, tmp_path / "o", cfg)


def test_empty_grid_is_refused(tmp_path):
    from voxforge.core import VoxelGrid
    from voxforge.io import save_voxels

    save_voxels(VoxelGrid(np.zeros((3, 3, 3), bool)), tmp_path / "e.npz")
    with pytest.raises(VoxforgeError):
        run_brickify(tmp_path / "e.npz", tmp_path / "o", BrickifyConfig())
    assert not (tmp_path / "o").exists()


def test_voxelize_job(house_obj, tmp_path):
    cfg = VoxelizeJobConfig.model_validate({"voxel": {"width_studs": 10}, "preview_size": 128})
    res = run_voxelize(house_obj, tmp_path / "v", cfg)
    assert res.summary["grid"]["studs"] == [10, 7]
    assert {p.name for p in (tmp_path / "v").iterdir()} == {
        "grid.npz",
        "preview.png",
        "summary.json",
        "config.yaml",
        "manifest.json",
    }
    from PIL import Image

    assert Image.open(tmp_path / "v" / "preview.png").size == (128, 128)


def test_too_small_for_one_cell_real_scale(tmp_path):
    import trimesh

    tiny = trimesh.creation.box(extents=[0.001, 0.001, 0.001])
    tiny.export(tmp_path / "tiny.stl")
    cfg = VoxelizeJobConfig.model_validate({"voxel": {"scale": "real"}, "input": {"units": "m"}})
    with pytest.raises(GeometryError):
        run_voxelize(tmp_path / "tiny.stl", tmp_path / "v", cfg)
    assert not (tmp_path / "v").exists()


def test_cubic_voxel_input_is_resampled_not_squashed(tmp_path):
    # a ModelNet-like cubic grid: a 10 x 10 x 10 cube of cells must stay a cube in bricks
    occ = np.zeros((12, 12, 12), bool)
    occ[1:11, 1:11, 1:11] = True
    np.save(tmp_path / "cube.npy", occ.astype(np.uint8))
    cfg = BrickifyConfig.model_validate({"voxel": {"width_studs": 10}})
    result = run_brickify(tmp_path / "cube.npy", tmp_path / "o", cfg)
    assert result.summary["size"]["studs"] == [10, 10]
    assert result.summary["size"]["plates"] == 25  # 10 studs * 8 mm / 3.2 mm


def test_units_are_set_once():
    from voxforge.core.config import build_config
    from voxforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"set input\.units"):
        build_config(BrickifyConfig, {"clean": {"units": "mm"}})
    with pytest.raises(ConfigError, match=r"set input\.units"):
        build_config(VoxelizeJobConfig, {"clean": {"units": "cm"}})
    assert build_config(BrickifyConfig, {"input": {"units": "mm"}}).input.units == "mm"


def test_part_budget_refuses_with_a_width_that_fits_and_force_builds(tmp_path):
    occ = np.zeros((40, 30, 12), np.uint8)
    occ[:, :, :] = 1
    np.save(tmp_path / "slab.npy", occ)
    base = {"voxel": {"width_studs": 40}, "instructions": {"formats": "none"}, "classify": False}
    # 40 x 30 studs x 30 plates = 36,000 cells: about 1,500 parts estimated
    cfg = BrickifyConfig.model_validate({**base, "max_parts": 1000})
    with pytest.raises(
        SizeLimitError, match=r"about 1,500 parts .* part budget of 1,000.*--force"
    ) as info:
        run_brickify(tmp_path / "slab.npy", tmp_path / "o", cfg)
    assert "--width-studs 32 or less" in str(info.value)
    assert not (tmp_path / "o").exists()
    # under the estimate but over the count of the laid model: refused after the layout
    # (10 x 8 studs x 8 plates = 640 cells: 26 estimated, 38 laid)
    counted = BrickifyConfig.model_validate({**base, "voxel": {"width_studs": 10}, "max_parts": 30})
    with pytest.raises(
        SizeLimitError, match=r"^the model would take \d+ parts, over the part budget of 30"
    ):
        run_brickify(tmp_path / "slab.npy", tmp_path / "o", counted)
    forced = BrickifyConfig.model_validate({**base, "voxel": {"width_studs": 10}, "max_parts": None})
    assert len(run_brickify(tmp_path / "slab.npy", tmp_path / "o", forced).model) > 30


def test_a_default_width_over_the_part_budget_builds_narrower_and_says_so(tmp_path):
    # a tall post: at the default 32 studs wide it stands 4 x 32 studs high, far over 300 parts
    np.save(tmp_path / "post.npy", np.ones((4, 4, 16), np.uint8))
    base = {"instructions": {"formats": "none"}, "classify": False, "max_parts": 300}
    res = run_brickify(tmp_path / "post.npy", tmp_path / "o", BrickifyConfig.model_validate(base))
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    width = s["size"]["studs"][0]
    assert len(res.model) <= 300 and width < 32
    assert s["input"]["width_note"].startswith(f"built {width} studs wide: at the default width")
    assert f"width_studs: {width}" in (tmp_path / "o" / "config.yaml").read_text()
    # a width the user chose is kept: refused, as before
    chosen = BrickifyConfig.model_validate({**base, "voxel": {"width_studs": 32}})
    with pytest.raises(SizeLimitError, match="over the part budget of 300"):
        run_brickify(tmp_path / "post.npy", tmp_path / "p", chosen)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("safety", [0.2, 0.0])
def test_the_verdict_holds_a_weak_arm_to_the_safety_margin_and_outlines_its_weak_spot(tmp_path, safety):
    """A 36-stud arm on a 2x2 post stands with 13% of its most loaded stud's clutch to spare:
    buildable at a safety margin of 0, not at 0.2 (the repair's budget is cut to nothing), and
    then the preview outlines the weak spot in red."""
    from PIL import Image

    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.io import save_voxels

    occ = np.zeros((36, 2, 6), bool)
    occ[0:2, :, 0:3] = True
    occ[:, :, 3:6] = True
    save_voxels(VoxelGrid(occ), tmp_path / "arm.npz")
    cfg = BrickifyConfig.model_validate(
        {
            "classify": False,
            "instructions": {"formats": []},
            "layout": {"stability_budget": 0.001},
            "preview_size": 256,
            "physics": {"safety_margin": safety},
        }
    )
    out = tmp_path / "out"
    v = run_brickify(tmp_path / "arm.npz", out, cfg).summary["verdict"]
    assert 0.05 < v["margin"] < 0.2 and v["pieces"] == 1 and v["safety_margin"] == safety
    assert v["weak_spot"] and v["weak_joints"][0]["stress"] == pytest.approx(1 - v["margin"], abs=1e-3)
    img = np.asarray(Image.open(out / "preview.png"))
    red = int(((img[..., 0] > 200) & (img[..., 1] < 40) & (img[..., 2] < 40)).sum())
    if safety:
        assert v["buildable"] is False and "safety margin of 20%" in v["headline"]
        assert red > 100
    else:
        assert v["buildable"] is True and v["headline"].startswith("buildable: yes")
        assert red == 0
