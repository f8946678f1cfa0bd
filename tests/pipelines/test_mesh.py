"""The mesh job (the service's ``mesh`` pipeline) on a small point cloud."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

from voxforge.core.pointcloud import PointCloud
from voxforge.io import save_points
from voxforge.service.pipelines import default_pipelines


def test_mesh_job_writes_mesh_lods_and_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(size=(3000, 3))
    cloud = PointCloud(d / np.linalg.norm(d, axis=1, keepdims=True) * 0.05 + [0, 0, 0.05])
    src = save_points(cloud, tmp_path / "ball.ply")
    spec = default_pipelines()["mesh"]
    config = spec.build_options(
        {
            "input": {"clean": False},
            "make": {"resolution": 32},
            "faces": [400, 100],
            "formats": ["glb", "ply"],
        }
    )
    stages: list[str] = []
    spec.run(Path(src), tmp_path / "out", config, lambda s, f: stages.append(s))
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert report["check"]["watertight"] and report["check"]["outward"]
    faces = [lv["faces"] for lv in report["lod"]]
    assert len(faces) == 3 and abs(faces[1] - 400) <= 4 and abs(faces[2] - 100) <= 4
    assert trimesh.load(out / "mesh.ply").is_watertight
    assert len(trimesh.load(out / "lod_chain.glb").geometry) == 3
    assert stages[0] == "read" and stages[-1] == "write"
