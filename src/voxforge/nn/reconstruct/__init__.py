"""Image and sketch to 3D: render sets, sketches, photo preparation, networks, losses, training,
evaluation against baselines and the shipped
:class:`~voxforge.nn.reconstruct.inference.Reconstructor`."""
