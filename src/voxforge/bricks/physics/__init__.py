"""Physical stability of brick models: ``contacts`` (where parts press on and hold each other),
``compression`` (the greedy load-path pass: compression first, stud friction where a load reaches
past its supports), ``lp`` (the equilibrium program, Clarabel then HiGHS), ``decompose`` (programs
only where the pass fails), ``stability`` (:func:`~voxforge.bricks.physics.stability.analyze_stability`)
and ``report`` (the :class:`~voxforge.bricks.physics.report.StabilityReport` it returns).
"""
