"""voxforge.scan stage."""
