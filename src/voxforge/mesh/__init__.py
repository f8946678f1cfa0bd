"""voxforge.mesh stage."""
