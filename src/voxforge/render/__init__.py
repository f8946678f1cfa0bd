"""voxforge.render stage: headless CPU previews and instruction images.

* :mod:`voxforge.render.camera` -- cameras (look-at, orthographic, perspective, framing).
* :mod:`voxforge.render.raster` -- the numba z-buffer rasterizer, shading, outlines, PNG saving.
* :mod:`voxforge.render.voxels` -- voxel grid previews (``render_voxels``).
* :mod:`voxforge.render.bricks` -- brick model images (``render_bricks``), dim/highlight styles.

Nothing here needs a display or a GPU. The numba kernels compile on first use and are cached on
disk (``cache=True``), so only the first run on a machine pays the compile time.
"""
