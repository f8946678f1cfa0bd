"""Neural networks: shape classification (``classify``), image and sketch to 3D
(``reconstruct``), scan completion (``completion``) and pretrained frozen encoders (``encoders``),
over a shared core: ``training`` (torch set-up, schedule, run checkpoints), ``weights``
(architectures and shipped safetensors), ``datasets`` (the shared voxel sets and splits) and
``metrics`` (occupancy-grid IoU, Dice, Chamfer, F-score).

Heavy dependencies (torch) are imported by the submodules, never by ``import voxforge``.
"""
