"""Resample a voxel grid onto another lattice (a cubic ModelNet grid onto LEGO cells, say).

Bricks need LEGO cells (8 x 8 x 3.2 mm); a binvox or ModelNet grid has cubic cells, so using its
cells as they are would squash the shape to 40 % of its height. The grid is treated as solid
boxes in space and resampled with the same sizing rules as :func:`~voxforge.voxel.voxelize`.
"""

from __future__ import annotations

import numpy as np

from voxforge.core.errors import GeometryError
from voxforge.core.voxelgrid import VoxelGrid
from voxforge.voxel.config import VoxelizeConfig
from voxforge.voxel.hollow import hollow
from voxforge.voxel.lattice import GridFrame, fit_scale


def resample_grid(grid: VoxelGrid, config: VoxelizeConfig | None = None) -> VoxelGrid:
    """The occupied cells of ``grid`` re-expressed on the lattice ``config`` describes.

    A target cell is filled when its centre falls in a filled source cell (no holes when
    enlarging) or when a filled source cell's centre falls in it (thin parts survive shrinking).
    Colours come from the source cell under the target centre, else the mean of the source
    cells binned into it. Hollowing (``config.hollow``) is applied afterwards.

    Raises:
        GeometryError: the grid has no filled cells.
        SizeLimitError: the target grid would exceed ``config.max_cells``.
    """
    config = config or VoxelizeConfig()
    if grid.count == 0:
        raise GeometryError(f"voxel grid {grid.meta.get('source', '')} has no filled cells".strip())
    idx = np.argwhere(grid.occupancy)
    first = idx.min(axis=0)
    # Everything is measured from the filled box's min corner in whole source cells, so padding
    # and the grid's origin change nothing (not even which side of a tie a centre falls on).
    span = (idx.max(axis=0) + 1 - first) * grid.pitch
    rel = fit_scale(np.stack([np.zeros(3), span]), config)
    lo = grid.origin + first * grid.pitch
    frame = GridFrame(rel.shape, rel.pitch, rel.origin + lo * rel.scale, rel.scale)
    shape = np.asarray(frame.shape)
    src_shape = np.asarray(grid.shape)

    # (a) target centres sampled in the source; a centre outside the source (the target box
    # rounds up to whole cells) samples nothing: the per-axis masks broadcast to the 3-D grid.
    src_idx = [
        first[a]
        + np.floor(
            (rel.origin[a] + (np.arange(shape[a]) + 0.5) * rel.pitch[a]) / rel.scale / grid.pitch[a]
        ).astype(np.int64)
        for a in range(3)
    ]
    valid = [(i >= 0) & (i < src_shape[a]) for a, i in enumerate(src_idx)]
    clipped = [np.clip(i, 0, src_shape[a] - 1) for a, i in enumerate(src_idx)]
    ix, iy, iz = np.ix_(*clipped)
    inside = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]
    sampled = grid.occupancy[ix, iy, iz] & inside

    # (b) source centres binned into the target
    centres = (idx - first + 0.5) * grid.pitch * rel.scale
    cells = np.clip(np.floor((centres - rel.origin) / rel.pitch).astype(np.int64), 0, shape - 1)
    binned = np.zeros(frame.shape, dtype=bool)
    binned[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    occupancy = sampled | binned

    colors = None
    if grid.colors is not None:
        colors = grid.colors[ix, iy, iz].astype(np.float32)
        only_binned = binned & ~sampled
        if only_binned.any():
            flat = np.ravel_multi_index(cells.T, frame.shape)
            n = np.bincount(flat, minlength=occupancy.size).astype(np.float32)
            src_rgb = grid.colors[idx[:, 0], idx[:, 1], idx[:, 2]]
            mean = (
                np.stack(
                    [np.bincount(flat, src_rgb[:, c], minlength=occupancy.size) for c in range(3)], 1
                )
                / np.maximum(n, 1)[:, None]
            )
            colors.reshape(-1, 3)[only_binned.ravel()] = mean[only_binned.ravel()]
        colors[~occupancy] = 0.0
    out = VoxelGrid(
        occupancy=occupancy,
        pitch=frame.pitch,
        origin=frame.origin,
        colors=colors,
        meta={
            **{k: v for k, v in grid.meta.items() if k in ("source", "format")},
            "lattice": config.lattice,
            "scale_mode": config.scale,
            "scale": frame.scale,
            "width_studs": max(frame.shape[0], frame.shape[1]) if config.lattice == "lego" else None,
            "source_kind": "voxels",
            "resampled_from": {"shape": list(grid.shape), "pitch": [float(p) for p in grid.pitch]},
        },
    ).cropped()
    if config.hollow is not None:
        out = hollow(out, config.hollow)
    out.meta["size"] = out.size_report()
    return out
