"""Neural networks: shape classification (data, models, training, evaluation, export).

Heavy dependencies (torch) are imported by the submodules, never by ``import voxforge``.
"""
