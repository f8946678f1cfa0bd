"""Building instructions: step renders, booklets (PDF, HTML, step images).

The package object is also the public function :func:`voxforge.instructions`
(:func:`voxforge.api.instructions`); :mod:`voxforge` makes it callable when it loads, so that
``voxforge.instructions(model, "book/")`` works whether or not this package was imported first.
"""
