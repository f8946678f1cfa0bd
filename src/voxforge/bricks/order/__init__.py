"""The build order: ``plan`` (the :class:`~voxforge.bricks.order.plan.BuildPlan` data shared with
the LDraw writer and the instructions), ``planner`` (:func:`~voxforge.bricks.order.planner.plan_build`:
bottom-up steps in which every prefix stands), ``graph`` (which part must go on before which),
``checks`` (every prefix connected, pressed on from above, standing).
"""
