"""voxforge.render stage."""
