"""Tests of the reconstruct job: outputs load back, sizes, the manifest, atomicity, bricks."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
from PIL import Image

from voxforge.core.config import load_config
from voxforge.core.errors import ConfigError, GeometryError, UnsupportedInputError
from voxforge.io import load_mesh, load_voxels
from voxforge.pipelines.reconstruct import (
    GRID,
    ReconstructConfig,
    occupancy_surface,
    run_reconstruct,
)


def box_occupancy(lo: tuple[int, int, int], hi: tuple[int, int, int]) -> np.ndarray:
    """(32, 32, 32) float32 probabilities: 0.95 inside the cell box [lo, hi), 0.02 elsewhere."""
    p = np.full((GRID, GRID, GRID), 0.02, np.float32)
    p[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = 0.95
    return p


@dataclass
class FakeReconstruction:
    occupancy: np.ndarray
    points: np.ndarray | None
    mesh_vertices: np.ndarray | None
    mesh_faces: np.ndarray | None
    kind: str = "image"
    azimuths: tuple[float, ...] = (0.0,)
    familiarity: dict[str, Any] | None = None


@dataclass
class BoxReconstructor:
    """A test double: always predicts a box 8 x 12 x 16 cells, standing at z = 4..20."""

    kind: str = "image"
    info: dict[str, Any] = field(default_factory=lambda: {"name": "box-double"})
    seen: list[np.ndarray] = field(default_factory=list)

    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any:
        self.seen = list(images)
        occ = box_occupancy((12, 10, 4), (20, 22, 20))
        rng = np.random.default_rng(0)
        pts = rng.uniform([12, 10, 4], [20, 22, 20], size=(1024, 3)) / GRID - 0.5
        ico = trimesh.creation.icosphere(2, radius=0.25)
        return FakeReconstruction(
            occ, pts.astype(np.float32), ico.vertices.astype(np.float32), ico.faces, self.kind,
            tuple(azimuths or [0.0] * len(images)),
        )  # fmt: skip


def photo_png(tmp_path: Path, name: str = "chair.png") -> Path:
    """A red block on white (the plain-background path), as a PNG file."""
    img = np.full((240, 320, 3), 255, np.uint8)
    img[60:200, 100:220] = (190, 50, 40)
    path = tmp_path / name
    Image.fromarray(img).save(path)
    return path


def test_outputs_load_back_at_the_asked_height(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = ReconstructConfig(height_cm=32.0)
    double = BoxReconstructor()
    result = run_reconstruct([photo_png(tmp_path)], out, cfg, reconstructor=double)
    assert len(double.seen) == 1 and double.seen[0].shape == (128, 128, 3)

    manifest = json.loads((out / "manifest.json").read_text())
    names = {a["name"] for a in manifest["outputs"]}
    assert names == {
        "model.obj", "model.stl", "model.ply", "model.glb", "voxels.npz", "preview.png",
        "inputs.png", "summary.json", "config.yaml",
    }  # fmt: skip
    for ext in ("obj", "stl", "ply", "glb"):
        # each file in its format's conventions (OBJ/glTF y-up, STL millimetres) reads back z-up metres
        tm = load_mesh(out / f"model.{ext}").tm
        assert len(tm.faces) == len(result.mesh.faces), ext
        # 16 cells tall scaled to 32 cm: 2 cm cells; the smoothed box keeps its height within a cell
        assert tm.extents[2] == pytest.approx(0.32, abs=0.02), ext
        assert tm.bounds[0][2] == pytest.approx(0.0, abs=0.02), ext
    assert trimesh.load(out / "model.glb", force="mesh").extents[1] == pytest.approx(0.32, abs=0.02)
    assert trimesh.load(out / "model.stl").extents[2] == pytest.approx(320, abs=20)  # mm
    stl = trimesh.load(out / "model.stl")
    assert stl.is_watertight

    grid = load_voxels(out / "voxels.npz")
    assert grid.count == 8 * 12 * 16
    assert np.allclose(grid.pitch, 0.02)
    assert grid.size_report()["size_cm"] == [16.0, 24.0, 32.0]
    with np.load(out / "voxels.npz") as z:
        assert z["probability"].shape == (32, 32, 32) and z["probability"].dtype == np.float16

    s = json.loads((out / "summary.json").read_text())
    assert s["scale"]["height_cm"] == 32.0 and "no scale" in s["scale"]["note"]
    assert s["inputs"][0]["cut_out"] == "plain" and s["inputs"][0]["bbox"] == [100, 60, 220, 200]
    assert s["grid"]["cells"] == [8, 12, 16]
    assert s["mesh"]["watertight"] is True
    assert s["model"]["name"] == "box-double"
    assert load_config(ReconstructConfig, out / "config.yaml") == cfg

    preview = np.asarray(Image.open(out / "preview.png"))
    assert preview.shape == (512, 1024, 3)
    assert (preview != 255).any(axis=2).mean() > 0.05  # the model is drawn, not a blank page
    inputs = np.asarray(Image.open(out / "inputs.png"))
    assert inputs.shape == (512, 256, 3)


@dataclass
class VoxelOnlyReconstructor(BoxReconstructor):
    """The box double without point or mesh heads (like the featvox decoder)."""

    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any:
        out = super().predict(images, azimuths)
        return FakeReconstruction(out.occupancy, None, None, None, out.kind, out.azimuths)


def test_points_without_a_point_head_lie_on_the_voxel_surface(tmp_path: Path) -> None:
    res = run_reconstruct(
        [photo_png(tmp_path)],
        tmp_path / "p",
        ReconstructConfig(output="points"),
        reconstructor=VoxelOnlyReconstructor(),
    )
    cloud = trimesh.load(tmp_path / "p" / "model.ply")
    assert isinstance(cloud, trimesh.PointCloud) and len(cloud.vertices) == 1024
    assert res.points is not None
    dist = np.abs(trimesh.proximity.signed_distance(res.mesh.tm, res.points))
    assert dist.max() < 1e-6  # on the marching-cubes surface the mesh files carry
    assert np.ptp(res.points[:, 2]) == pytest.approx(0.20, abs=0.02)  # the 20 cm box's height
    source = json.loads((tmp_path / "p" / "summary.json").read_text())["mesh"]["source"]
    assert "sampled" in source and "no point head" in source
    with pytest.raises(ConfigError, match="no mesh head"):
        run_reconstruct(
            [photo_png(tmp_path)],
            tmp_path / "m",
            ReconstructConfig(output="mesh"),
            reconstructor=VoxelOnlyReconstructor(),
        )


@dataclass
class FloatingSeatReconstructor(BoxReconstructor):
    """A seat predicted over its stem with a gap of low (0.25) probability between them."""

    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any:
        p = np.full((GRID, GRID, GRID), 0.01, np.float32)
        p[8:24, 8:24, 18:22] = 0.9
        p[14:18, 14:18, 2:15] = 0.9
        p[14:18, 14:18, 15:18] = 0.25
        return FakeReconstruction(p, None, None, None, self.kind, (0.0,))


@pytest.mark.parametrize("one_piece", [True, False])
def test_a_floating_seat_is_joined_to_its_stem(tmp_path: Path, one_piece: bool) -> None:
    res = run_reconstruct(
        [photo_png(tmp_path)],
        tmp_path / "o",
        ReconstructConfig(one_piece=one_piece, colours=False),
        reconstructor=FloatingSeatReconstructor(),
    )
    bodies = len(res.mesh.tm.split(only_watertight=False))
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    if one_piece:
        assert bodies == 1 and summary["pieces"]["predicted"] == 2
        assert summary["pieces"]["joined"] == 1 and summary["pieces"]["path_cells"] >= 3
    else:
        assert bodies == 2 and "pieces" not in summary


def test_points_and_mesh_heads(tmp_path: Path) -> None:
    src = [photo_png(tmp_path)]
    pts = run_reconstruct(
        src, tmp_path / "p", ReconstructConfig(output="points"), reconstructor=BoxReconstructor()
    )
    cloud = trimesh.load(tmp_path / "p" / "model.ply")
    assert isinstance(cloud, trimesh.PointCloud) and len(cloud.vertices) == 1024
    assert pts.points is not None and pts.points[:, 2].min() >= -1e-9
    assert pts.points[:, 2].max() == pytest.approx(0.20, abs=0.002)  # 16 cells = 20 cm

    res = run_reconstruct(
        src, tmp_path / "m", ReconstructConfig(output="mesh"), reconstructor=BoxReconstructor()
    )
    ico = trimesh.creation.icosphere(2)
    assert len(res.mesh.faces) == len(ico.faces)
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["mesh"]["source"].startswith(
        "network mesh"
    )


def test_several_views_and_azimuths(tmp_path: Path) -> None:
    srcs = [photo_png(tmp_path, f"v{i}.png") for i in range(3)]
    double = BoxReconstructor()
    cfg = ReconstructConfig(azimuths=[0.0, 90.0, 180.0])
    res = run_reconstruct(srcs, tmp_path / "out", cfg, reconstructor=double)
    assert len(double.seen) == 3
    assert res.summary["azimuths_deg"] == [0.0, 90.0, 180.0]
    assert np.asarray(Image.open(tmp_path / "out" / "inputs.png")).shape == (512, 768, 3)
    with pytest.raises(ConfigError, match="3 images but 2 azimuths"):
        run_reconstruct(
            srcs, tmp_path / "bad", ReconstructConfig(azimuths=[0.0, 90.0]), reconstructor=double
        )


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    good = photo_png(tmp_path)
    bad = tmp_path / "notes.png"
    bad.write_text("shopping list\n")
    out = tmp_path / "out"
    with pytest.raises(UnsupportedInputError, match=r"notes\.png: not an image"):
        run_reconstruct([good, bad], out, reconstructor=BoxReconstructor())
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_empty_prediction_says_so(tmp_path: Path) -> None:
    @dataclass
    class Nothing(BoxReconstructor):
        def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any:
            return FakeReconstruction(np.full((32, 32, 32), 0.1, np.float32), None, None, None)

    with pytest.raises(GeometryError, match=r"no object \(highest occupancy 0.10"):
        run_reconstruct([photo_png(tmp_path)], tmp_path / "out", reconstructor=Nothing())
    assert not (tmp_path / "out").exists()


def test_config_defaults_build_bricks_to_a_stud_budget() -> None:
    default = ReconstructConfig()
    assert default.bricks_by_budget and default.stud_budget == 32
    assert default.bricks.voxel.scale == "fit"
    tall = ReconstructConfig(height_cm=12.0)  # a height given: real size
    assert not tall.bricks_by_budget and tall.bricks.voxel.scale == "real"
    told = ReconstructConfig.model_validate({"bricks": {"voxel": {"width_studs": 20}}})
    assert not told.bricks_by_budget
    assert told.bricks.voxel.scale == "fit" and told.bricks.voxel.width_studs == 20
    other = ReconstructConfig.model_validate({"bricks": {"classify": False}})
    assert other.bricks_by_budget and other.bricks.classify is False
    with pytest.raises(ValueError, match="extra"):
        ReconstructConfig.model_validate({"colour": "red"})


def test_budget_width_keeps_the_longest_side_within_the_budget() -> None:
    from voxforge.core.voxelgrid import VoxelGrid
    from voxforge.pipelines.reconstruct import budget_width_studs

    tall = VoxelGrid(np.ones((8, 12, 24), bool), pitch=0.01)
    assert budget_width_studs(tall, 32) == 16  # 12 wide, 24 tall: height at 32 studs
    flat = VoxelGrid(np.ones((30, 20, 5), bool), pitch=0.01)
    assert budget_width_studs(flat, 32) == 32
    assert budget_width_studs(VoxelGrid(np.ones((1, 1, 50), bool), pitch=0.01), 32) == 1


def test_brickify_by_stud_budget(tmp_path: Path) -> None:
    """No height given: the box (8 x 12 x 16 cells) gets 16 studs on its longest side, the height."""
    cfg = ReconstructConfig.model_validate(
        {
            "brickify": True,
            "stud_budget": 16,
            "bricks": {"instructions": {"formats": "none"}, "classify": False, "preview_size": 64},
        }
    )
    res = run_reconstruct([photo_png(tmp_path)], tmp_path / "out", cfg, reconstructor=BoxReconstructor())
    size = res.summary["bricks"]["size"]
    height_studs = size["plates"] * 3.2 / 8.0
    assert sorted(size["studs"]) == [8, 12]
    assert 15.0 <= height_studs <= 16.0
    assert res.summary["bricks"]["sizing"].startswith("stud budget: 16")


def test_occupancy_surface_is_closed_and_in_the_unit_cube() -> None:
    verts, faces = occupancy_surface(box_occupancy((0, 0, 0), (32, 32, 32)), 0.4)
    tm = trimesh.Trimesh(verts, faces)
    assert tm.is_watertight and tm.volume > 0  # outward faces
    # the 0.4 level lies 0.55/0.95 of a cell beyond the last cell centre (padding is empty)
    edge = 0.5 - 0.5 / GRID + (0.55 / 0.95) / GRID
    assert verts.min() == pytest.approx(-edge, abs=1e-6) and verts.max() == pytest.approx(edge, abs=1e-6)


@pytest.mark.slow
def test_brickify_continues_into_bricks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = ReconstructConfig(brickify=True, height_cm=8.0)
    res = run_reconstruct([photo_png(tmp_path)], out, cfg, reconstructor=BoxReconstructor())
    names = {a["name"] for a in json.loads((out / "manifest.json").read_text())["outputs"]}
    assert {"bricks/model.mpd", "bricks/manifest.json", "bricks/preview.png"} <= names
    assert (out / "bricks" / "model.mpd").is_file()
    assert res.summary["bricks"]["parts"] > 0
    assert res.summary["bricks"]["verdict"].startswith("buildable: ")
    # 8 cm tall at real size: 25 plates (3.2 mm each)
    assert res.summary["bricks"]["size"]["plates"] == pytest.approx(25, abs=1)


@pytest.mark.slow
def test_random_network_runs_end_to_end(tmp_path: Path) -> None:
    """The real Reconstructor with randomly initialised weights (seeded) goes through the job."""
    torch = pytest.importorskip("torch")
    from voxforge.nn.reconstruct.inference import Reconstructor
    from voxforge.nn.reconstruct.models import create_recon_model

    torch.manual_seed(0)
    rec = Reconstructor(create_recon_model("reconnet"), "image")
    buf = io.BytesIO()
    Image.open(photo_png(tmp_path)).save(buf, format="JPEG")
    from voxforge.nn.reconstruct.photo import prepare_image

    # an untrained network is unsure everywhere: threshold at its own 90th percentile
    occ = rec.predict([prepare_image(buf.getvalue()).image]).occupancy
    cfg = ReconstructConfig(threshold=float(np.quantile(occ, 0.9)))
    res = run_reconstruct([buf.getvalue()], tmp_path / "out", cfg, reconstructor=rec)
    assert np.array_equal(res.reconstruction.occupancy, occ)  # deterministic
    assert res.summary["inputs"][0]["path"] == "image 1"
    assert res.grid.count == pytest.approx(0.1 * 32**3, rel=0.01)
    assert trimesh.load(tmp_path / "out" / "model.stl").is_watertight


def two_colour_png(tmp_path: Path) -> Path:
    """A block on white, its left half red and its right half blue (as the camera sees it)."""
    img = np.full((240, 320, 3), 255, np.uint8)
    img[60:200, 100:160] = (200, 30, 30)
    img[60:200, 160:220] = (30, 40, 200)
    path = tmp_path / "two.png"
    Image.fromarray(img).save(path)
    return path


def test_photo_colours_reach_the_mesh_the_grid_and_the_bricks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = ReconstructConfig(brickify=True, height_cm=8.0)
    res = run_reconstruct([two_colour_png(tmp_path)], out, cfg, reconstructor=BoxReconstructor())
    tm = trimesh.load(out / "model.ply")
    vc = np.asarray(tm.visual.vertex_colors)[:, :3].astype(int)
    v = np.asarray(tm.vertices)
    cy = 0.5 * (v[:, 1].min() + v[:, 1].max())
    left, right = v[:, 1] < cy - 0.01, v[:, 1] > cy + 0.01  # screen right is +y
    assert (vc[left, 0] > vc[left, 2] + 80).mean() > 0.9  # red on the camera's left
    assert (vc[right, 2] > vc[right, 0] + 80).mean() > 0.9  # blue on its right
    grid = load_voxels(out / "voxels.npz")
    assert grid.colors is not None and grid.colors[grid.occupancy].max() > 0.5
    s = res.summary
    assert s["colours"]["seen_cells"] > 0 and "x" in s["colours"]["symmetry_planes"]
    bricks = json.loads((out / "bricks" / "summary.json").read_text())
    names = " ".join(c["name"].lower() for c in bricks["colors"])
    assert "red" in names and "blue" in names, names


def test_colours_off_and_sketches_stay_plain(tmp_path: Path) -> None:
    cfg = ReconstructConfig(colours=False)
    res = run_reconstruct(
        [two_colour_png(tmp_path)], tmp_path / "a", cfg, reconstructor=BoxReconstructor()
    )
    assert "colours" not in res.summary and res.grid.colors is None


@dataclass
class UnsureReconstructor(BoxReconstructor):
    """The box, from a model with a calibration that knows it does not know this input."""

    info: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "unsure",
            "calibration": {"temperature": 2.0, "line": [0.5, 0.1], "threshold": 0.4, "mae": 0.1,
                            "fitted_on": "test"},
        }
    )  # fmt: skip

    def predict(self, images: list[np.ndarray], azimuths: list[float] | None = None) -> Any:
        rec = super().predict(images, azimuths)
        rec.familiarity = {"familiar": False, "similarity": 0.3, "nearest": "toilet"}
        return rec


def test_calibrated_confidence_and_unfamiliar_warning(tmp_path: Path) -> None:
    res = run_reconstruct([photo_png(tmp_path)], tmp_path / "o", reconstructor=UnsureReconstructor())
    s = res.summary
    assert s["warning"] == (
        "this does not look like any of the shapes the model knows (nearest: toilet)"
    )
    assert "expected IoU" in s["confidence_meaning"]
    # the box double is 0.95 inside, 0.02 outside: raw certainty ~0.95; calibrated line 0.5 x + 0.1
    assert 0.1 <= s["confidence"] <= 0.6
    plain = run_reconstruct([photo_png(tmp_path)], tmp_path / "p", reconstructor=BoxReconstructor())
    assert "warning" not in plain.summary and plain.summary["confidence"] > 0.9
