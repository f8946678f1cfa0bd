"""voxforge.io stage."""
