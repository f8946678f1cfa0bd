"""voxforge.pipelines stage."""
