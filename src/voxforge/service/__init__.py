"""voxforge.service stage."""
