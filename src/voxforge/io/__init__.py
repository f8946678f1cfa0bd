"""voxforge.io: read every input a user has into core types, and write the ones worth writing.

Entry points (all accept a path, or bytes with a ``filename`` hint, and return z-up metres):

* :func:`load_points` -> :class:`~voxforge.core.PointCloud` (PLY, PCD, LAS/LAZ, XYZ/TXT/CSV)
* phone captures (3D Scanner App, Stray Scanner and Record3D folders, zips and ``.r3d`` files):
  :mod:`voxforge.io.captures` recognises them and opens their frames; io never fuses them, so
  the loaders take them only with a ``capture_reader`` (:mod:`voxforge.scan.capture` passes its
  fusion; ``voxforge.load`` reads captures that way)
* :func:`load_mesh` -> :class:`~voxforge.core.Mesh` (OBJ+MTL, STL, OFF, PLY, GLB/glTF, 3MF,
  USD/USDZ)
* :func:`load_voxels` -> :class:`~voxforge.core.VoxelGrid` (voxforge npz, npy, binvox, vox)
* :func:`load_any` -> whichever the file holds; :func:`sniff` -> the format name
* :func:`load_voxel_dataset` -> a labelled training set (``voxels``/``labels``/``classes`` npz)
* :func:`save_points`, :func:`save_voxels`: atomic writers chosen by extension
* :func:`available_formats`: the table of formats (README, ``voxforge info``)

Formats are recognised by content first (an extension that lies does not fool the reader) and
by extension second. Errors are the ``voxforge.core.errors`` family with one line naming the
input and the problem.
"""

from voxforge.io.formats import FORMATS, available_formats
from voxforge.io.loaders import (
    load_any,
    load_mesh,
    load_points,
    load_voxels,
    save_points,
    save_voxels,
    sniff,
)
from voxforge.io.voxels import VoxelDataset, load_voxel_dataset

__all__ = [
    "FORMATS",
    "VoxelDataset",
    "available_formats",
    "load_any",
    "load_mesh",
    "load_points",
    "load_voxel_dataset",
    "load_voxels",
    "save_points",
    "save_voxels",
    "sniff",
]
