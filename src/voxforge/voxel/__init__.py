"""voxforge.voxel stage."""
