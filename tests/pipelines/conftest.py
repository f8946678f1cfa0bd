from __future__ import annotations

import numpy as np
import pytest
import trimesh


@pytest.fixture
def house_obj(tmp_path):
    """A small two-colour house (box body + roof block) as an OBJ with vertex colours, Y-up."""
    body = trimesh.creation.box(extents=[0.06, 0.04, 0.04])
    body.apply_translation([0, 0.02, 0])
    roof = trimesh.creation.box(extents=[0.04, 0.02, 0.03])
    roof.apply_translation([0, 0.05, 0])
    body.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(body.vertices), 1))
    roof.visual.vertex_colors = np.tile([30, 30, 200, 255], (len(roof.vertices), 1))
    mesh = trimesh.util.concatenate([body, roof])
    path = tmp_path / "house.obj"
    mesh.export(path)
    return path
