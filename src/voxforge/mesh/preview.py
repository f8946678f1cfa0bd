"""Shaded renders of a mesh with the project's rasterizer (previews and LOD image comparisons)."""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh

GREY = (0.72, 0.72, 0.72)


def mesh_face_rgb(tm: trimesh.Trimesh) -> np.ndarray:
    """(m, 3) sRGB floats: the mean vertex colour per face, the face colour, or grey."""
    visual = tm.visual
    kind = getattr(visual, "kind", None)
    m = len(tm.faces)
    if kind == "vertex":
        vc = np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
        return vc[np.asarray(tm.faces)].mean(axis=1)
    if kind == "face":
        return np.asarray(visual.face_colors, dtype=np.float32)[:, :3] / 255.0
    if kind == "texture":
        from voxforge.core.mesh import Mesh
        from voxforge.mesh.sample import surface_colors

        bary = np.full((m, 3), 1.0 / 3.0)
        rgb = surface_colors(Mesh(tm=tm), np.arange(m), bary)
        if rgb is not None:
            return np.asarray(rgb, dtype=np.float32)
    return np.tile(np.asarray(GREY, dtype=np.float32), (m, 1))


def render_view(
    tm: trimesh.Trimesh,
    camera: Any,
    face_rgb: np.ndarray | None = None,
    *,
    edges: bool = False,
) -> np.ndarray:
    """(H, W, 3) uint8: ``tm`` flat-shaded from ``camera`` on a white background."""
    from voxforge.render.raster import RenderOptions, render_mesh

    rgb = mesh_face_rgb(tm) if face_rgb is None else face_rgb
    opts = RenderOptions(edges=edges, ssaa=1)
    return render_mesh(np.asarray(tm.vertices), np.asarray(tm.faces), rgb, camera, options=opts)


def preview_png(tm: trimesh.Trimesh, size: int = 640) -> bytes:
    """A PNG of ``tm`` from the front-right, 30 degrees above."""
    import io

    from PIL import Image

    from voxforge.render.camera import framing_camera

    image = render_view(tm, framing_camera(np.asarray(tm.vertices), size, 45.0, 30.0))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
