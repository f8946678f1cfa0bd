"""voxforge.nn stage."""
